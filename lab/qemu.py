# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The virtual datacenter: QEMU machines on a provisioning bridge in a network namespace,
an IPMI BMC per machine on loopback, and a runner for boot-server daemons.

Layout (all names configurable)::

    netns iaas-lab:  br-prov 198.18.0.1/24 + fd51:1a8:0:1::1/64, one tap per VM NIC on it,
                     the QEMU processes (-accel tcg -S -no-shutdown), dnsmasq, HTTP, receiver,
                     the lab switch's LLDP sender (lab.lldp: a frame per second on every tap)
    root netns:      one QemuBmc per VM on 127.88.0.N:623 (lab.qemubmc, a worker process),
                     driving its VM through QMP unix sockets

Machines come from ``lab/machines.yml`` (see ``load_machines``). Every VM starts
powered off (QEMU's ``prelaunch`` state) with the persistent boot order (disk, then
the PXE NIC); power and boot device go through the BMCs (pyghmi, ipmitool), or out of
band through ``lab.bmcs`` (a ``QemuBmcFarm``: ``state``, ``set_power``, ``set_boot``).
``Lab.qmp`` talks to QEMU directly: read-only queries are safe; power changes made
there bypass the BMC's one-shot bookkeeping. Nothing here touches the host's real
interfaces or routes.

Run dir: ``<name>/`` per VM (``disk<N>.qcow2``, ``OVMF_VARS.fd``, ``console.log`` =
ttyS0, ``firmware.log`` = SeaBIOS debug port 0x402, ``qemu.pid``, ``qemu.cmdline``,
``qemu.log``, QMP sockets ``bmc.qmp``, ``events.qmp``, ``lab.qmp``) and ``daemons/``
(``<daemon>.pid``, ``<daemon>.log``; dnsmasq's own log and leases beside them).

As a context manager::

    with Lab(load_machines()[:3], netns='iaas-lab-test', run_dir=tmp) as lab:
        conf = render_boot_server(root)          # the boot_server role's files under root
        lab.start_dnsmasq(conf)                  # any dnsmasq config; pid and log in the run dir
        lab.start_http('/srv/iaas/http')         # python http.server on 198.18.0.1:80
        lab.start_receiver(script, spool)        # --listen 198.18.0.1:8088 --spool --allow
        lab.bmc('lab-0001')                      # {'address': '127.88.0.1', 'port': 623, ...}
        lab.lldp_neighbours('lab-0001')          # {MAC: the LLDP neighbour the lab shows that NIC}
        lab.status('lab-0001')                   # QEMU run state via QMP: prelaunch, running, ...

CLI (state in ``.build/lab``; ``up`` leaves a keeper process that owns the lab)::

    python -m lab.qemu up [--count N | --only lab-0001,lab-0003]
    python -m lab.qemu boot-server-config --root DIR [--preflight]   # the boot_server role's files
    python -m lab.qemu serve --dnsmasq CONF --http DIR --receiver SCRIPT --spool DIR
    python -m lab.qemu status
    python -m lab.qemu down          # idempotent; also cleans up after a crash

The lab takes ``/tmp/iaas-heavy.lock`` (flock) for as long as it is up, unless a
parent process already holds it (``flock /tmp/iaas-heavy.lock pytest ...``).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import contextlib
import copy
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

from lab import wait_until
from lab import lldp
from lab.qmp import Qmp, QmpError, qmp_call
from lab.qemubmc import QemuBmcFarm
from lab.virtbmc import LAB_ROOT, UUID_NAMESPACE, probe_bmcs

MACHINES_FILE = os.path.join(LAB_ROOT, 'lab', 'machines.yml')
DEFAULT_RUN_DIR = os.path.join(LAB_ROOT, '.build', 'lab')
DEFAULT_NETNS = 'iaas-lab'
DEFAULT_BRIDGE = 'br-prov'
DEFAULT_ADDRESS = '198.18.0.1/24'
DEFAULT_IPV6 = 'fd51:1a8:0:1::1/64'
DEFAULT_BMC_NETWORK = '127.88.0.0/24'
HEAVY_LOCK = '/tmp/iaas-heavy.lock'
QEMU = 'qemu-system-x86_64'
QEMU_IMG = 'qemu-img'
OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'
LAB_NETWORK = ipaddress.ip_network('198.18.0.0/24')


class LabError(Exception):
    """The lab could not be built or a command inside it failed."""


# ---------------------------------------------------------------- machine definitions

def normalize_machine(machine):
    """A machine definition with every key filled in (see lab/machines.yml)."""
    out = copy.deepcopy(machine)
    for key in ('name', 'serial'):
        if not out.get(key):
            raise ValueError('a lab machine needs %s: %r' % (key, machine))
    out.setdefault('vendor', 'QEMU')
    out.setdefault('product', 'Standard PC')
    out['uuid'] = str(uuid.UUID(str(out.get('uuid') or uuid.uuid5(UUID_NAMESPACE, out['serial']))))
    out['cpus'] = int(out.get('cpus', 1))
    out['memory_mb'] = int(out.get('memory_mb', 512))
    out.setdefault('firmware', 'bios')
    if out['firmware'] not in ('bios', 'uefi'):
        raise ValueError('%s: firmware must be bios or uefi' % out['name'])
    out.setdefault('persistent_boot', 'disk')
    nics = out.get('nics') or []
    if not nics:
        raise ValueError('%s: a lab machine needs at least one NIC' % out['name'])
    out['nics'] = []
    for index, nic in enumerate(nics):
        nic = dict(nic)
        nic['mac'] = nic['mac'].lower()
        nic.setdefault('pxe', index == 0)
        out['nics'].append(nic)
    disks, out['disks'] = out.get('disks') or [], []
    for index, disk in enumerate(disks):
        disk = dict(disk)
        disk['size_gb'] = int(disk['size_gb'])
        disk.setdefault('serial', '%s-D%d' % (out['serial'], index))
        if len(disk['serial']) > 20:
            raise ValueError('%s: disk serial %r is longer than 20 characters' % (out['name'], disk['serial']))
        out['disks'].append(disk)
    if not out['disks']:
        raise ValueError('%s: a lab machine needs at least one disk' % out['name'])
    return out


def load_machines(path=MACHINES_FILE):
    """The lab's machine definitions, normalized, in file order."""
    with open(path) as handle:
        machines = [normalize_machine(m) for m in yaml.safe_load(handle)]
    for key in ('name', 'serial', 'uuid'):
        values = [m[key] for m in machines]
        if len(set(values)) != len(values):
            raise ValueError('lab machines: duplicate %s' % key)
    macs = [nic['mac'] for m in machines for nic in m['nics']]
    if len(set(macs)) != len(macs):
        raise ValueError('lab machines: duplicate MAC')
    return machines


# ---------------------------------------------------------------- the heavy-work lock

def _lock_holders(path):
    """PIDs holding an flock on ``path`` (from /proc/locks)."""
    st = os.stat(path)
    ident = '%02x:%02x:%d' % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    holders = set()
    with open('/proc/locks') as handle:
        for line in handle:
            fields = line.split()
            if '->' in fields:
                continue  # a waiter, not a holder
            if len(fields) >= 6 and fields[1] == 'FLOCK' and fields[5] == ident:
                holders.add(int(fields[4]))
    return holders


def _ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open('/proc/%d/stat' % pid) as handle:
                pid = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


@contextlib.contextmanager
def heavy_lock(path=HEAVY_LOCK, timeout=1800, log=None):
    """Hold the machine-wide flock for heavy work; pass through if an ancestor holds it already."""
    handle = open(path, 'a')
    try:
        deadline = time.monotonic() + timeout
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if _lock_holders(path) & _ancestors():
                    break  # e.g. `flock LOCK pytest ...`: the lock is ours already
                if time.monotonic() > deadline:
                    raise LabError('%s still held by another job after %d s' % (path, timeout))
                if log and not said:
                    log('waiting for %s (held by PIDs %s)' % (path, sorted(_lock_holders(path))))
                    said = True
                time.sleep(1)
        yield
    finally:
        handle.close()


# ---------------------------------------------------------------- processes and namespaces

def run(argv, check=True, **kwargs):
    """Run a command; raise LabError with its output on failure."""
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise LabError('%s failed (%d): %s' % (' '.join(argv), proc.returncode, proc.stdout.strip()))
    return proc


def netns_exists(name):
    return os.path.exists('/run/netns/%s' % name)


def _netns_id(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def netns_pids(name):
    """PIDs of the processes whose network namespace is ``name``."""
    try:
        target = _netns_id('/run/netns/%s' % name)
    except OSError:
        return []
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            if _netns_id('/proc/%s/ns/net' % entry) == target:
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def pid_alive(pid):
    """True if ``pid`` runs (zombies count as gone)."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def read_pidfile(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return ''


def terminate(pids, timeout=10.0):
    """SIGTERM, then SIGKILL what is left after ``timeout`` seconds; return the PIDs signalled."""
    pids = [pid for pid in set(pids) if pid and pid != os.getpid() and pid_alive(pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    if not wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout, 0.05):
        for pid in pids:
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        wait_until(lambda: not any(pid_alive(pid) for pid in pids), 5, 0.05)
    return pids


def _owned_pid(pid, netns, run_dir):
    """``pid`` is one of this lab's processes: inside its namespace, or naming its run dir."""
    if not pid or not pid_alive(pid):
        return False
    try:
        if _netns_id('/proc/%d/ns/net' % pid) == _netns_id('/run/netns/%s' % netns):
            return True
    except OSError:
        pass
    return bool(run_dir) and os.path.realpath(run_dir) in _cmdline(pid)


def teardown(netns=DEFAULT_NETNS, run_dir=None):
    """Stop everything a lab started and delete its namespace. Idempotent; works after a crash.

    Stops: processes named by pid files in ``run_dir`` (VMs, daemons) that are still
    this lab's, and every process left inside the namespace. Returns the PIDs signalled.
    """
    pids = set()
    if run_dir and os.path.isdir(run_dir):
        for root, dummy, files in os.walk(run_dir):
            for name in files:
                if name.endswith('.pid'):
                    pid = read_pidfile(os.path.join(root, name))
                    if _owned_pid(pid, netns, run_dir):
                        pids.add(pid)
    pids.update(netns_pids(netns))
    signalled = terminate(pids)
    if netns_exists(netns):
        leftovers = netns_pids(netns)
        if leftovers:
            terminate(leftovers, 2)
        run(['ip', 'netns', 'del', netns])
    return signalled


def listening(pid, port, proto='tcp'):
    """True if the namespace of ``pid`` has a socket bound to ``port`` (TCP: listening)."""
    names = ('%s' % proto, '%s6' % proto)
    for name in names:
        try:
            with open('/proc/%d/net/%s' % (pid, name)) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    if int(local.rsplit(':', 1)[1], 16) == port and (proto == 'udp' or state == '0A'):
                        return True
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return False


# ---------------------------------------------------------------- the lab

class Lab(object):
    """The virtual datacenter. ``up()`` builds it, ``down()`` removes every trace of it.

    ``machines``: normalized definitions (``load_machines()``, or a slice of it);
    ``netns``: namespace name; ``run_dir``: disks, logs, sockets, pid files (emptied
    by ``up``); ``address``: the boot server's address on the bridge; ``bmc_network``:
    loopback network whose host addresses the BMCs get, in machine order;
    ``lock``: hold the heavy-work flock while up; ``lldp``: run the lab switch's LLDP sender.
    """

    def __init__(self, machines=None, netns=DEFAULT_NETNS, run_dir=DEFAULT_RUN_DIR, bridge=DEFAULT_BRIDGE,
                 address=DEFAULT_ADDRESS, ipv6=DEFAULT_IPV6, bmc_network=DEFAULT_BMC_NETWORK, bmc_port=623,
                 username='admin', password='password', lock=True, lldp=True, log=None):
        self.machines = [normalize_machine(m) for m in (load_machines() if machines is None else machines)]
        if len(netns) > 30 or '/' in netns:
            raise ValueError('bad namespace name %r' % netns)
        self.netns = netns
        self.run_dir = os.path.abspath(run_dir)
        self.bridge = bridge
        self.interface = ipaddress.ip_interface(address)
        if not self.interface.network.subnet_of(LAB_NETWORK):
            raise ValueError('lab addresses come from %s' % LAB_NETWORK)
        self.address = str(self.interface.ip)
        self.ipv6 = ipv6
        bmc_net = ipaddress.ip_network(bmc_network)
        if not bmc_net.subnet_of(ipaddress.ip_network('127.0.0.0/8')):
            raise ValueError('BMC network must be on loopback (127.0.0.0/8)')
        hosts = bmc_net.hosts()
        self.bmc_addresses = dict((m['name'], str(next(hosts))) for m in self.machines)
        self.bmc_port = bmc_port
        self.username = username
        self.password = password
        self.lock = lock
        self.lldp = lldp
        self.log = log or (lambda message: None)
        self.bmcs = None          # QemuBmcFarm once up
        self.daemons = {}         # name -> Popen of the `ip netns exec` wrapper
        self._lock_cm = None
        self.timings = {}

    # --- paths

    def vm_dir(self, name):
        return os.path.join(self.run_dir, name)

    def qmp_socket(self, name, who='lab'):
        """QMP socket of a VM: ``who`` = 'lab' (tests and tools), 'bmc' or 'events' (its BMC's)."""
        return os.path.join(self.vm_dir(name), '%s.qmp' % who)

    def console_log(self, name):
        """The VM's serial port (ttyS0) output."""
        return os.path.join(self.vm_dir(name), 'console.log')

    def firmware_log(self, name):
        """SeaBIOS debug output (port 0x402): 'Booting from ...' lines."""
        return os.path.join(self.vm_dir(name), 'firmware.log')

    def machine(self, name):
        for machine in self.machines:
            if machine['name'] == name:
                return machine
        raise KeyError(name)

    def taps(self, name):
        index = [m['name'] for m in self.machines].index(name) + 1
        return ['tap%dn%d' % (index, n) for n in range(len(self.machine(name)['nics']))]

    def bmc(self, name):
        """Where the VM's BMC answers: {'address', 'port', 'username', 'password'}."""
        self.machine(name)
        return {'address': self.bmc_addresses[name], 'port': self.bmc_port,
                'username': self.username, 'password': self.password}

    # --- bring up

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    def up(self):
        started = time.monotonic()
        try:
            if self.lock:
                self._lock_cm = heavy_lock(log=self.log)
                self._lock_cm.__enter__()
            self.timings['lock_wait_s'] = round(time.monotonic() - started, 2)
            teardown(self.netns, self.run_dir)   # leftovers of a crashed run under the same names
            if os.path.isdir(self.run_dir):
                shutil.rmtree(self.run_dir)
            os.makedirs(os.path.join(self.run_dir, 'daemons'))
            self._network()
            if self.lldp:
                self._start_lldp()
            for machine in self.machines:
                self._start_vm(machine)
            self._start_bmcs()
        except BaseException:
            self.down()
            raise
        self.timings['up_s'] = round(time.monotonic() - started, 2)
        self.log('lab up in %.1f s: %d VMs in netns %s' % (self.timings['up_s'], len(self.machines), self.netns))
        return self

    def _network(self):
        ns = ['ip', '-n', self.netns]
        run(['ip', 'netns', 'add', self.netns])
        run(ns + ['link', 'set', 'lo', 'up'])
        run(ns + ['link', 'add', self.bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0'])
        run(ns + ['addr', 'add', str(self.interface), 'dev', self.bridge])
        if self.ipv6:
            run(ns + ['addr', 'add', self.ipv6, 'dev', self.bridge, 'nodad'])
        run(ns + ['link', 'set', self.bridge, 'up'])
        for machine in self.machines:
            for tap in self.taps(machine['name']):
                run(ns + ['tuntap', 'add', 'dev', tap, 'mode', 'tap'])
                run(ns + ['link', 'set', tap, 'master', self.bridge])
                run(ns + ['link', 'set', tap, 'up'])

    def qemu_argv(self, machine):
        """The QEMU command line of one machine (run inside the namespace)."""
        name, vdir = machine['name'], self.vm_dir(machine['name'])
        smbios = 'type=1,manufacturer=%s,product=%s,version=1.0,serial=%s,family=iaas-lab' % tuple(
            value.replace(',', ',,') for value in (machine['vendor'], machine['product'], machine['serial']))
        argv = [QEMU, '-name', name, '-machine', 'pc', '-accel', 'tcg',
                '-smp', str(machine['cpus']), '-m', str(machine['memory_mb']),
                '-uuid', machine['uuid'], '-smbios', smbios,
                '-S', '-no-shutdown', '-nodefaults', '-no-user-config', '-display', 'none',
                '-serial', 'file:%s' % self.console_log(name),
                '-chardev', 'file,id=fwlog,path=%s' % self.firmware_log(name),
                '-device', 'isa-debugcon,iobase=0x402,chardev=fwlog',
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_socket(name, 'bmc'),
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_socket(name, 'events'),
                '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_socket(name, 'lab'),
                '-pidfile', os.path.join(vdir, 'qemu.pid'), '-daemonize']
        if machine['firmware'] == 'uefi':
            argv += ['-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=%s' % OVMF_CODE,
                     '-drive', 'if=pflash,format=raw,unit=1,file=%s' % os.path.join(vdir, 'OVMF_VARS.fd')]
        order = self.boot_order(machine, machine['persistent_boot'])
        for index, (nic, tap) in enumerate(zip(machine['nics'], self.taps(name))):
            device = 'virtio-net-pci,id=nic%d,netdev=net%d,mac=%s' % (index, index, nic['mac'])
            if nic['pxe']:
                device += ',bootindex=%d' % (order.index('nic%d' % index) + 1)
            else:
                device += ',romfile='   # no option ROM: not a boot device
            argv += ['-netdev', 'tap,id=net%d,ifname=%s,script=no,downscript=no' % (index, tap), '-device', device]
        for index, disk in enumerate(machine['disks']):
            argv += ['-drive', 'file=%s,if=none,id=drive%d,format=qcow2' % (os.path.join(vdir, 'disk%d.qcow2' % index), index),
                     '-device', 'virtio-blk-pci,id=disk%d,drive=drive%d,serial=%s,bootindex=%d'
                     % (index, index, disk['serial'], order.index('disk%d' % index) + 1)]
        return argv

    @staticmethod
    def boot_devices(machine):
        """{'pxe': [QOM ids of PXE NICs], 'disk': [QOM ids of disks]}."""
        return {'pxe': ['nic%d' % i for i, nic in enumerate(machine['nics']) if nic['pxe']],
                'disk': ['disk%d' % i for i in range(len(machine['disks']))]}

    @classmethod
    def boot_order(cls, machine, first):
        devices = cls.boot_devices(machine)
        return devices[first] + [qid for kind in ('pxe', 'disk') if kind != first for qid in devices[kind]]

    def _start_vm(self, machine):
        name, vdir = machine['name'], self.vm_dir(machine['name'])
        os.makedirs(vdir)
        for index, disk in enumerate(machine['disks']):
            run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', os.path.join(vdir, 'disk%d.qcow2' % index),
                 '%dG' % disk['size_gb']])
        if machine['firmware'] == 'uefi':
            shutil.copyfile(OVMF_VARS, os.path.join(vdir, 'OVMF_VARS.fd'))
        argv = self.qemu_argv(machine)
        with open(os.path.join(vdir, 'qemu.cmdline'), 'w') as handle:
            handle.write(' '.join(argv) + '\n')
        with open(os.path.join(vdir, 'qemu.log'), 'w') as out:
            # -daemonize: returns once QEMU is set up (or failed); ip netns exec forks, so the
            # real PID comes from -pidfile.
            proc = subprocess.run(['ip', 'netns', 'exec', self.netns] + argv, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=subprocess.STDOUT, timeout=60, check=False)
        if proc.returncode != 0:
            with open(os.path.join(vdir, 'qemu.log')) as handle:
                raise LabError('QEMU for %s failed to start: %s' % (name, handle.read().strip()))
        if self.status(name) != 'prelaunch':
            raise LabError('QEMU for %s is not in prelaunch' % name)

    def _lldp_ports(self, name):
        """[(tap, port description, MAC of the VM NIC behind it)] of one machine."""
        nics = self.machine(name)['nics']
        return [(tap, lldp.port_description(name, index), nics[index]['mac'])
                for index, tap in enumerate(self.taps(name))]

    def lldp_neighbours(self, name):
        """{NIC MAC: the neighbour the lab's LLDP sender shows it} (chassis, system name, port id, description)."""
        if not self.lldp:
            return {}
        return dict((mac, lldp.neighbour(tap, description)) for tap, description, mac in self._lldp_ports(name))

    def _start_lldp(self):
        ports = ['%s=%s' % (tap, description) for machine in self.machines
                 for tap, description, _mac in self._lldp_ports(machine['name'])]
        self.start_daemon('lldp', [sys.executable, '-m', 'lab.lldp', '--interval', '1'] + ports, env=collection_env())

    def _start_bmcs(self):
        specs = []
        for machine in self.machines:
            specs.append({
                'name': machine['name'], 'address': self.bmc_addresses[machine['name']], 'port': self.bmc_port,
                'serial': machine['serial'], 'vendor': machine['vendor'], 'model': machine['product'],
                'uuid': machine['uuid'], 'netmask': '255.255.255.0',
                'qmp': self.qmp_socket(machine['name'], 'bmc'),
                'qmp_events': self.qmp_socket(machine['name'], 'events'),
                'boot_devices': self.boot_devices(machine), 'persistent_boot': machine['persistent_boot'],
                'firmware': machine['firmware'],
            })
        self.bmcs = QemuBmcFarm(specs, self.username, self.password).start()

    # --- tear down

    def down(self):
        """Stop BMCs, daemons and VMs, delete the namespace. Safe to call twice."""
        if self.bmcs is not None:
            try:
                self.bmcs.stop()
            finally:
                self.bmcs = None
        try:
            teardown(self.netns, self.run_dir)
            for proc in self.daemons.values():
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            self.daemons = {}
        finally:
            if self._lock_cm is not None:
                self._lock_cm.__exit__(None, None, None)
                self._lock_cm = None

    # --- VMs

    def pid(self, name):
        """The real PID of the VM's QEMU process (from -pidfile)."""
        return read_pidfile(os.path.join(self.vm_dir(name), 'qemu.pid'))

    def qmp(self, name, command, **arguments):
        """Run one QMP command on the VM through the lab's own QMP socket."""
        return qmp_call(self.qmp_socket(name, 'lab'), command, **arguments)

    def status(self, name):
        """QEMU's run state of the VM: prelaunch, running, paused, shutdown, ..."""
        return self.qmp(name, 'query-status')['status']

    def bootindexes(self, name):
        """{QOM id: bootindex} of the VM's boot devices, as QEMU holds them now."""
        devices = self.boot_devices(self.machine(name))
        with Qmp(self.qmp_socket(name, 'lab')) as qmp:
            return dict((qid, qmp.execute('qom-get', path='/machine/peripheral/%s' % qid, property='bootindex'))
                        for kind in ('pxe', 'disk') for qid in devices[kind])

    def power_off_all(self):
        """Hard power off every VM through its BMC's control channel (stop + system_reset)."""
        for machine in self.machines:
            self.bmcs.set_power(machine['name'], 'off')

    # --- daemons inside the namespace

    def start_daemon(self, name, argv, ports=(), timeout=15.0, env=None):
        """Start ``argv`` in the namespace (stays in the foreground); wait until ``ports`` are bound.

        ``ports``: [(port, 'tcp'|'udp')]; ``env``: extra environment. PID in
        <run>/daemons/<name>.pid, output in <name>.log.
        """
        pid = start_daemon(self.netns, self.run_dir, name, argv, ports, timeout, procs=self.daemons, env=env)
        self.log('started %s in %s (pid %d)' % (name, self.netns, pid))
        return pid

    def stop_daemon(self, name):
        stop_daemon(self.run_dir, self.netns, name)
        proc = self.daemons.pop(name, None)
        if proc is not None:
            proc.wait(10)

    def daemon_log(self, name):
        return os.path.join(self.run_dir, 'daemons', '%s.log' % name)

    def start_dnsmasq(self, config, name='dnsmasq'):
        """dnsmasq with ``config`` (which should set the interface, ranges, TFTP root...)."""
        return self.start_daemon(name, dnsmasq_argv(self.run_dir, config, name), [(67, 'udp')])

    def start_http(self, directory, port=80, name='http'):
        """A static HTTP server for ``directory`` on the boot server's address (python http.server)."""
        return self.start_daemon(name, [sys.executable, '-m', 'http.server', str(port), '--bind', self.address,
                                        '--directory', os.path.abspath(directory)], [(port, 'tcp')])

    def start_receiver(self, script, spool, port=8088, allow=None, name='receiver', extra=()):
        """The report receiver ``script`` (--listen ADDR:PORT --spool DIR --allow CIDR).

        Runs with the collection importable (``.build/collections`` on PYTHONPATH).
        """
        argv = [sys.executable, os.path.abspath(script), '--listen', '%s:%d' % (self.address, port),
                '--spool', os.path.abspath(spool), '--allow', allow or str(self.interface.network)] + list(extra)
        return self.start_daemon(name, argv, [(port, 'tcp')], env=collection_env())

    def netns_run(self, argv, **kwargs):
        """Run a command inside the namespace (e.g. a curl to the boot server)."""
        return run(['ip', 'netns', 'exec', self.netns] + list(argv), **kwargs)

    # --- state

    def describe(self):
        """JSON-able description: namespace, boot server address, machines with BMCs, logs, PIDs."""
        return {
            'netns': self.netns, 'bridge': self.bridge, 'address': self.address, 'run_dir': self.run_dir,
            'username': self.username, 'password': self.password,
            'machines': [dict(m, bmc=self.bmc(m['name']), pid=self.pid(m['name']), taps=self.taps(m['name']),
                              qmp=self.qmp_socket(m['name']), console_log=self.console_log(m['name']),
                              firmware_log=self.firmware_log(m['name']))
                         for m in self.machines],
        }


def dnsmasq_argv(run_dir, config, name='dnsmasq'):
    base = os.path.join(run_dir, 'daemons', name)
    return ['dnsmasq', '--keep-in-foreground', '--conf-file=%s' % os.path.abspath(config),
            '--pid-file=%s.pid' % base, '--log-facility=%s.dnsmasq.log' % base,
            '--dhcp-leasefile=%s.leases' % base, '--user=root', '--group=root']


def collection_env():
    """Environment in which ``ansible_collections.datacenter.iaas`` imports from this checkout."""
    paths = [os.path.join(LAB_ROOT, '.build', 'collections'), LAB_ROOT]
    paths += [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    return {'PYTHONPATH': os.pathsep.join(paths)}


def start_daemon(netns, run_dir, name, argv, ports=(), timeout=15.0, procs=None, env=None):
    """Start ``argv`` inside ``netns``; return its real PID (written to <run_dir>/daemons/<name>.pid)."""
    if not name.replace('-', '').replace('_', '').isalnum():
        raise ValueError('bad daemon name %r' % name)
    base = os.path.join(run_dir, 'daemons', name)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    old = read_pidfile(base + '.pid')
    if old and _owned_pid(old, netns, None):
        raise LabError('%s already runs (pid %d)' % (name, old))
    if os.path.exists(base + '.pid'):
        os.unlink(base + '.pid')
    # The shell writes its own PID and execs the daemon: the PID file names the daemon itself
    # (ip netns exec forks, so the child's PID is not the daemon's).
    wrapper = ['ip', 'netns', 'exec', netns, 'sh', '-c', 'echo $$ > "$0"; exec "$@"', base + '.pid'] + list(argv)
    with open(base + '.log', 'ab') as out:
        proc = subprocess.Popen(wrapper, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=run_dir, env=dict(os.environ, **(env or {})))
    if procs is not None:
        procs[name] = proc

    def ready():
        pid = read_pidfile(base + '.pid')
        if proc.poll() is not None:
            return 'exited'
        return pid if pid and all(listening(pid, port, proto) for port, proto in ports) else None

    result = wait_until(ready, timeout, 0.05)
    if result in (None, 'exited'):
        if proc.poll() is None:
            stop_daemon(run_dir, netns, name)
        proc.wait(10)
        with open(base + '.log', 'rb') as handle:
            tail = handle.read()[-2000:].decode('utf-8', 'replace')
        raise LabError('%s did not come up (%s): %s' % (name, 'exited' if result else 'timeout', tail))
    return result


def stop_daemon(run_dir, netns, name):
    pid = read_pidfile(os.path.join(run_dir, 'daemons', '%s.pid' % name))
    if _owned_pid(pid, netns, run_dir):
        terminate([pid])


# ---------------------------------------------------------------- CLI

def _state_path(run_dir):
    return os.path.join(run_dir, 'state.json')


def _keeper(args):
    """The process behind `up`: owns the Lab until SIGTERM, then tears it down."""
    flags = {'up': False, 'stop': False}

    def on_signal(*dummy):
        flags['stop'] = True
        if not flags['up']:
            raise SystemExit(1)   # still waiting for the lock or building: up() cleans up

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    machines = _select(args)
    lab = Lab(machines, netns=args.netns, run_dir=args.run_dir, bmc_network=args.bmc_network,
              username=args.username, password=args.password, lock=not args.no_lock,
              log=lambda message: print(message, flush=True))
    try:
        lab.up()
        flags['up'] = True
        state = lab.describe()
        state.update(keeper_pid=os.getpid(), ready=True, timings=lab.timings)
        tmp = _state_path(args.run_dir) + '.tmp'
        with open(tmp, 'w') as handle:
            json.dump(state, handle, indent=1)
        os.replace(tmp, _state_path(args.run_dir))
        while not flags['stop']:
            time.sleep(0.5)
    finally:
        lab.down()
        try:
            os.unlink(_state_path(args.run_dir))
        except OSError:
            pass
    return 0


def _select(args):
    machines = load_machines(args.machines)
    if args.only:
        wanted = args.only.split(',')
        machines = [m for m in machines if m['name'] in wanted]
        if len(machines) != len(wanted):
            raise SystemExit('unknown machine in --only %s' % args.only)
    if args.count:
        machines = machines[:args.count]
    return machines


def _keeper_pid(run_dir):
    pid = read_pidfile(run_dir + '.keeper.pid')   # beside the run dir, which up() empties
    return pid if pid and pid_alive(pid) and 'lab.qemu' in _cmdline(pid) else None


def _cmd_up(args):
    if _keeper_pid(args.run_dir):
        raise SystemExit('the lab in %s is up already (python -m lab.qemu down first)' % args.run_dir)
    os.makedirs(os.path.dirname(args.run_dir), exist_ok=True)
    if os.path.exists(_state_path(args.run_dir)):
        os.unlink(_state_path(args.run_dir))   # left by a keeper that died
    keeper_log = args.run_dir + '.keeper.log'
    argv = [sys.executable, '-m', 'lab.qemu', '--run-dir', args.run_dir, '--netns', args.netns, '_keeper',
            '--machines', args.machines, '--bmc-network', args.bmc_network, '--username', args.username,
            '--password', args.password] + (['--only', args.only] if args.only else []) + \
        (['--count', str(args.count)] if args.count else []) + (['--no-lock'] if args.no_lock else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([LAB_ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    with open(keeper_log, 'w') as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=LAB_ROOT, env=env)
    with open(args.run_dir + '.keeper.pid', 'w') as handle:
        handle.write('%d\n' % proc.pid)

    def ready():
        if proc.poll() is not None:
            return 'exited'
        try:
            with open(_state_path(args.run_dir)) as handle:
                state = json.load(handle)
        except (OSError, ValueError):
            return None
        return state if state.get('ready') and state.get('keeper_pid') == proc.pid else None

    state = wait_until(ready, args.timeout, 0.2)
    if not isinstance(state, dict):
        if proc.poll() is None:
            proc.terminate()
            proc.wait(60)
        teardown(args.netns, args.run_dir)
        with open(keeper_log) as handle:
            sys.stderr.write(handle.read())
        raise SystemExit('lab did not come up (%s)' % ('keeper exited' if state else 'timeout'))
    _print_state(state)
    return 0


def _print_state(state):
    print('netns %s, boot server %s on %s, run dir %s' % (state['netns'], state['address'], state['bridge'],
                                                          state['run_dir']))
    for machine in state['machines']:
        print('  %-9s BMC %s:%d  %s  %d CPU  %4d MB  %s  NICs %s  disks %s' % (
            machine['name'], machine['bmc']['address'], machine['bmc']['port'], machine['firmware'],
            machine['cpus'], machine['memory_mb'], machine['serial'],
            ','.join(n['mac'] for n in machine['nics']), ','.join('%dG' % d['size_gb'] for d in machine['disks'])))
    print('BMC credentials: %s / %s' % (state['username'], state['password']))


def _cmd_down(args):
    pid = _keeper_pid(args.run_dir)
    if pid:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not pid_alive(pid), 60, 0.2)
    signalled = teardown(args.netns, args.run_dir)
    # BMC workers of a keeper that died hard exit on their own (their stdin closes).
    for path in (args.run_dir + '.keeper.pid', _state_path(args.run_dir)):
        if os.path.exists(path):
            os.unlink(path)
    print('lab down (netns %s%s)' % (args.netns, ', stopped PIDs %s' % sorted(signalled) if signalled else ''))
    return 0


def _cmd_status(args):
    try:
        with open(_state_path(args.run_dir)) as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        print('lab is down (no state in %s); netns %s %s'
              % (args.run_dir, args.netns, 'exists' if netns_exists(args.netns) else 'absent'))
        return 3
    keeper = _keeper_pid(args.run_dir)
    _print_state(state)
    targets = [(m['bmc']['address'], m['bmc']['port']) for m in state['machines']]
    answering = probe_bmcs(targets, timeout=2)
    print('keeper: %s' % ('pid %d' % keeper if keeper else 'GONE (python -m lab.qemu down cleans up)'))
    for machine in state['machines']:
        try:
            status = qmp_call(machine['qmp'], 'query-status', timeout=2)['status']
        except QmpError as err:
            status = 'unreachable (%s)' % err
        bmc = (machine['bmc']['address'], machine['bmc']['port'])
        print('  %-9s qemu pid %s: %s; BMC %s'
              % (machine['name'], machine['pid'], status, 'answers' if bmc in answering else 'silent'))
    daemons = os.path.join(args.run_dir, 'daemons')
    for name in sorted(os.listdir(daemons)) if os.path.isdir(daemons) else []:
        if name.endswith('.pid'):
            pid = read_pidfile(os.path.join(daemons, name))
            print('  daemon %-10s pid %s %s' % (name[:-4], pid, 'running' if pid and pid_alive(pid) else 'gone'))
    return 0 if keeper else 1


def _cmd_serve(args):
    with open(_state_path(args.run_dir)) as handle:
        state = json.load(handle)
    netns, run_dir, address = state['netns'], state['run_dir'], state['address']
    if args.dnsmasq:
        pid = start_daemon(netns, run_dir, 'dnsmasq', dnsmasq_argv(run_dir, args.dnsmasq), [(67, 'udp')])
        print('dnsmasq pid %d' % pid)
    if args.http:
        pid = start_daemon(netns, run_dir, 'http', [sys.executable, '-m', 'http.server', str(args.http_port),
                                                    '--bind', address, '--directory', os.path.abspath(args.http)],
                           [(args.http_port, 'tcp')])
        print('http pid %d: http://%s:%d/ serves %s' % (pid, address, args.http_port, args.http))
    if args.receiver:
        pid = start_daemon(netns, run_dir, 'receiver', [
            sys.executable, os.path.abspath(args.receiver), '--listen', '%s:%d' % (address, args.receiver_port),
            '--spool', os.path.abspath(args.spool), '--allow', args.allow], [(args.receiver_port, 'tcp')],
            env=collection_env())
        print('receiver pid %d on %s:%d, spool %s' % (pid, address, args.receiver_port, args.spool))
    return 0


def boot_server_vars(root, preflight=False):
    """The boot_server role's variables for the lab: config-only mode, everything under ``root``.

    ``root``/tftp, http, dnsmasq/hosts, reports as the role lays them out, and ``root``/etc/dnsmasq.conf
    (plus nginx.conf and the receiver's unit, which the lab does not use: python's http.server serves
    ``root``/http and the lab starts the receiver itself). Router adverts on (iPXE saves ~16 s).
    """
    return {
        'boot_server_interface': DEFAULT_BRIDGE, 'boot_server_address': str(ipaddress.ip_interface(DEFAULT_ADDRESS).ip),
        'boot_server_dhcp_subnet': str(ipaddress.ip_interface(DEFAULT_ADDRESS).network),
        'boot_server_dhcp_range': {'start': '198.18.0.100', 'end': '198.18.0.199', 'lease': '10m'},
        'boot_server_ipv6_ra_prefix': str(ipaddress.ip_interface(DEFAULT_IPV6).network),
        'boot_server_log_dhcp': True, 'boot_server_root': os.path.abspath(root),
        'boot_server_config_dir': os.path.join(os.path.abspath(root), 'etc'),
        'boot_server_install_packages': False, 'boot_server_manage_services': False,
        'boot_server_preflight': preflight,
    }


def render_boot_server(root, netns=None, preflight=False):
    """Render the boot_server role for the lab into ``root`` with ansible-playbook; return the dnsmasq config.

    ``netns``: run the play inside the lab's namespace (needed for ``preflight``: the role's rogue-DHCP
    check then listens on the lab's br-prov). Writes nothing outside ``root``.
    """
    play = [{'name': "Render the boot server's configuration for the lab", 'hosts': 'localhost',
             'connection': 'local', 'gather_facts': False,
             'roles': [{'role': 'datacenter.iaas.boot_server', 'vars': boot_server_vars(root, preflight)}]}]
    os.makedirs(root, exist_ok=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(LAB_ROOT, '.build', 'collections'),
               ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR='1')
    with tempfile.NamedTemporaryFile('w', suffix='.yml', prefix='boot-server-') as handle:
        json.dump(play, handle)   # JSON is YAML
        handle.flush()
        argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', handle.name]
        if netns:
            argv = ['ip', 'netns', 'exec', netns] + argv
        proc = run(argv, check=False, env=env, timeout=600)
    if proc.returncode != 0:
        raise LabError('rendering the boot_server role failed (%d): %s' % (proc.returncode, proc.stdout[-4000:]))
    return os.path.join(os.path.abspath(root), 'etc', 'dnsmasq.conf')


def _cmd_boot_server_config(args):
    netns = None
    if args.preflight:   # the pre-flight listens on br-prov: run inside the running lab's namespace
        with open(_state_path(args.run_dir)) as handle:
            netns = json.load(handle)['netns']
    print(render_boot_server(args.root, netns=netns, preflight=args.preflight))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.qemu', description='The virtual lab: QEMU VMs, BMCs, boot network.')
    parser.add_argument('--run-dir', default=DEFAULT_RUN_DIR)
    parser.add_argument('--netns', default=DEFAULT_NETNS)
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('up', '_keeper'):
        cmd = sub.add_parser(name, help='start the lab and leave it running' if name == 'up' else argparse.SUPPRESS)
        cmd.add_argument('--machines', default=MACHINES_FILE)
        cmd.add_argument('--only', help='comma-separated machine names')
        cmd.add_argument('--count', type=int, help='the first N machines')
        cmd.add_argument('--bmc-network', default=DEFAULT_BMC_NETWORK)
        cmd.add_argument('--username', default='admin')
        cmd.add_argument('--password', default='password')
        cmd.add_argument('--no-lock', action='store_true', help='do not take %s' % HEAVY_LOCK)
        cmd.add_argument('--timeout', type=float, default=1800, help='seconds to wait for the lab (incl. the lock)')
    sub.add_parser('down', help='stop everything and delete the namespace (idempotent)')
    sub.add_parser('status', help='what runs')
    conf = sub.add_parser('boot-server-config', help="render the boot_server role's files for the lab into ROOT "
                          "(config-only mode); print the dnsmasq config's path")
    conf.add_argument('--root', required=True, help='the boot-server root (tftp/, http/, dnsmasq/, reports/, etc/)')
    conf.add_argument('--preflight', action='store_true',
                      help="run the role's rogue-DHCP pre-flight on br-prov inside the running lab")
    serve = sub.add_parser('serve', help='start boot-server daemons inside the running lab')
    serve.add_argument('--dnsmasq', help='dnsmasq config file')
    serve.add_argument('--http', help='directory to serve over HTTP')
    serve.add_argument('--http-port', type=int, default=80)
    serve.add_argument('--receiver', help='report receiver script')
    serve.add_argument('--receiver-port', type=int, default=8088)
    serve.add_argument('--spool', default=DEFAULT_RUN_DIR + '-spool')
    serve.add_argument('--allow', default=str(LAB_NETWORK))
    args = parser.parse_args(argv)
    args.run_dir = os.path.abspath(args.run_dir)
    if args.command == '_keeper':
        return _keeper(args)
    commands = {'up': _cmd_up, 'down': _cmd_down, 'status': _cmd_status, 'serve': _cmd_serve,
                'boot-server-config': _cmd_boot_server_config}
    return commands[args.command](args)


if __name__ == '__main__':
    sys.exit(main())
