# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU lab end to end: VMs on a bridge in a namespace, QMP-driven IPMI BMCs, a boot server.

Three machines of lab/machines.yml (two SeaBIOS, one OVMF) PXE-boot the ramdisk
(lab/ramdisk/build.sh) in discover mode after an IPMI "boot pxe" + "power on" from
pyghmi; their reports land in the receiver's spool and are compared with the machine
definitions and with the LLDP neighbours the lab's switch (lab/lldp.py) showed each NIC
(not with anything the collection computes). The boot server runs with the files the
boot_server role renders in its config-only mode (lab.qemu.render_boot_server). Then
ipmitool drives power and boot device of one VM, checked through QMP and the SeaBIOS
debug log.

Needs root (namespaces, taps, port 623), qemu-system-x86, dnsmasq, ipxe, ovmf and
ipmitool. Takes /tmp/iaas-heavy.lock while the lab is up (a parent ``flock`` on it
counts). Tests that boot VMs are marked ``slow``; ``-m 'not slow'`` keeps only the
layout checks. Addresses: netns iaas-labtest, BMCs on 127.88.1.0/24.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lab import wait_until  # noqa: E402
from lab.qemu import Lab, boot_server_vars, load_machines, netns_exists, netns_pids, render_boot_server  # noqa: E402

from ansible_runner import ansible_env  # noqa: E402

from pyghmi.ipmi import command as ipmi_command  # noqa: E402
from pyghmi.ipmi.private import session as ipmi_session  # noqa: E402

NETNS = 'iaas-labtest'
BMC_NETWORK = '127.88.1.0/24'
USER, PASSWORD = 'admin', 'lab-Secret-42'
RECEIVER_PORT = 8088
BOOT_SERVER = '198.18.0.1'
RAMDISK_SCRIPT = os.path.join(ROOT, 'lab', 'ramdisk', 'build.sh')
RAMDISK_OUT = os.path.join(ROOT, '.build', 'ramdisk')
RECEIVER = os.path.join(ROOT, 'roles', 'boot_server', 'files', 'iaas-report-receiver.py')
REPORT_TIMEOUT = 150

TOOLS = ('qemu-system-x86_64', 'qemu-img', 'dnsmasq', 'ipmitool', 'ip')
MISSING = [tool for tool in TOOLS if not shutil.which(tool)]
if os.geteuid() != 0:
    LAB_SKIP = 'the QEMU lab needs root (netns, taps, port 623)'
elif MISSING:
    LAB_SKIP = 'the QEMU lab needs %s' % ', '.join(MISSING)
else:
    LAB_SKIP = None


KERNEL_ARGS = ('initrd=initramfs.cpio.gz console=ttyS0 BOOTIF=01-${net0/mac:hexhyp} '
               'iaas.mode=discover iaas.report=http://198.18.0.1:%d/v1/reports' % RECEIVER_PORT)
DISCOVER_IPXE = '''#!ipxe
kernel http://198.18.0.1/ramdisk/vmlinuz %s
initrd http://198.18.0.1/ramdisk/initramfs.cpio.gz
boot
''' % KERNEL_ARGS

# Stand-in receiver, used only while roles/boot_server/files/iaas-report-receiver.py is missing.
STANDIN_RECEIVER = r'''
import argparse, hashlib, http.server, json, os
parser = argparse.ArgumentParser()
parser.add_argument('--listen'); parser.add_argument('--spool'); parser.add_argument('--allow', action='append')
args = parser.parse_args()
host, port = args.listen.rsplit(':', 1)
os.makedirs(args.spool, exist_ok=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        report = json.loads(body)
        data = json.dumps(report, sort_keys=True).encode()
        name = os.path.join(args.spool, hashlib.sha256(data).hexdigest() + '.json')
        with open(name + '.tmp', 'wb') as out:
            out.write(data)
        os.rename(name + '.tmp', name)
        self.send_response(201); self.end_headers()
http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
'''


def ipmitool(bmc, *args):
    cmd = ['ipmitool', '-I', 'lanplus', '-C', '3', '-H', bmc['address'], '-p', str(bmc['port']),
           '-U', bmc['username'], '-P', bmc['password']] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


_COMMANDS = {}


def pyghmi(bmc):
    """One pyghmi Command per BMC (pyghmi 1.6.19 hangs on a second Command to one BMC)."""
    key = (bmc['address'], bmc['username'], bmc['password'], bmc['port'], None)
    if key not in _COMMANDS:
        ipmi_session.Session.initting_sessions.pop(key, None)
        _COMMANDS[key] = ipmi_command.Command(bmc=bmc['address'], userid=bmc['username'],
                                              password=bmc['password'], port=bmc['port'])
    return _COMMANDS[key]


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    # `make deps` installs what the lab needs: a missing piece is a failure, never a skip.
    assert not LAB_SKIP, LAB_SKIP
    machines = load_machines()[:3]
    assert [m['firmware'] for m in machines] == ['bios', 'bios', 'uefi']
    run_dir = str(tmp_path_factory.mktemp('qemu-lab'))
    with Lab(machines, netns=NETNS, run_dir=os.path.join(run_dir, 'run'), bmc_network=BMC_NETWORK,
             username=USER, password=PASSWORD, log=print) as running:
        yield running
    assert not netns_exists(NETNS)


def _read_tail(path, since):
    with open(path, 'rb') as handle:
        handle.seek(since)
        return handle.read().decode('latin-1')


# ---------------------------------------------------------------- definitions (no lab)

def test_machine_definitions_are_consistent():
    machines = load_machines()
    assert len(machines) >= 3 and {m['firmware'] for m in machines} == {'bios', 'uefi'}
    assert sum(m['memory_mb'] for m in machines) <= 4096         # the lab shares 2 cores and the RAM
    assert {m['cpus'] for m in machines} == {1, 2}
    assert len({d['size_gb'] for m in machines for d in m['disks']}) == sum(len(m['disks']) for m in machines)
    for index, machine in enumerate(machines, 1):
        assert machine['serial'] == 'LAB-%04d' % index
        assert all(nic['mac'].startswith('52:54:00:') for nic in machine['nics'])
        assert [nic['pxe'] for nic in machine['nics']] == [True] + [False] * (len(machine['nics']) - 1)


def test_qemu_command_line():
    machines = load_machines()
    lab = Lab(machines, netns='iaas-labargv', run_dir='/nonexistent/run', lock=False)
    for machine in machines:
        argv = lab.qemu_argv(machine)
        text = ' '.join(argv)
        for flag in ('-S', '-no-shutdown', '-daemonize', '-nodefaults'):
            assert flag in argv
        assert argv[argv.index('-accel') + 1] == 'tcg'
        assert 'serial=%s' % machine['serial'] in argv[argv.index('-smbios') + 1]
        assert argv[argv.index('-uuid') + 1] == machine['uuid']
        assert ('if=pflash' in text) == (machine['firmware'] == 'uefi')
        devices = [argv[i + 1] for i, arg in enumerate(argv) if arg == '-device']
        nics = [d for d in devices if d.startswith('virtio-net-pci')]
        assert 'romfile' not in nics[0] and all(d.endswith(',romfile=') for d in nics[1:])
        indexes = sorted(int(d.split('bootindex=')[1].split(',')[0]) for d in devices if 'bootindex=' in d)
        assert indexes == list(range(1, len(machine['disks']) + 2))   # disks, then the PXE NIC
        assert text.count('-qmp') == 3


def test_boot_server_role_renders_the_lab_config_under_its_root(tmp_path):
    """Config-only mode: every file the role writes lies under the boot-server root; nothing in /etc."""
    root = str(tmp_path / 'root')
    play = [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
             'roles': [{'role': 'datacenter.iaas.boot_server', 'vars': boot_server_vars(root)}]}]
    path = str(tmp_path / 'render.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(play, handle)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,',
                           path], env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    written = []
    for task in json.loads(proc.stdout)['plays'][0]['tasks']:
        result = task['hosts']['localhost']
        for item in result.get('results') or [result]:
            if item.get('skipped'):
                continue
            written += [item[key] for key in ('dest', 'path') if isinstance(item.get(key), str)]
    assert written and all(p == root or p.startswith(root + '/') for p in written), written
    with open(os.path.join(root, 'etc', 'dnsmasq.conf')) as handle:
        conf = handle.read().splitlines()
    # The speed settings of MACHINE.md come from the role's template.
    for line in ('no-ping', 'enable-ra', 'dhcp-range=fd51:1a8:0:1::,ra-only,64', 'dhcp-option=tag:ipxe,encap:175,176,1b',
                 'interface=br-prov', 'tftp-root=%s/tftp' % root, 'dhcp-hostsfile=%s/dnsmasq/hosts' % root):
        assert line in conf, line
    assert subprocess.run(['dnsmasq', '--test', '--conf-file=%s' % os.path.join(root, 'etc', 'dnsmasq.conf')],
                          capture_output=True, check=False).returncode == 0
    for name in ('undionly.kpxe', 'snponly.efi'):
        assert os.path.getsize(os.path.join(root, 'tftp', name)) > 0


# ---------------------------------------------------------------- layout (no boot)

def test_layout_namespace_bridge_taps_and_paused_vms(lab):
    links = lab.netns_run(['ip', '-o', 'link', 'show']).stdout
    addrs = lab.netns_run(['ip', '-o', 'addr', 'show', 'dev', 'br-prov']).stdout
    assert '198.18.0.1/24' in addrs
    pids = set(netns_pids(NETNS))
    for machine in lab.machines:
        name = machine['name']
        for tap in lab.taps(name):
            assert '%s: ' % tap in links and 'master br-prov' in links.split('%s: ' % tap)[1].split('\n')[0]
        assert lab.pid(name) in pids                      # the real QEMU PID, inside the namespace
        assert lab.status(name) == 'prelaunch'            # -S: powered off until a BMC says otherwise
        assert lab.qmp(name, 'query-uuid')['UUID'] == machine['uuid']
        # Persistent boot order: disk(s) first, then the PXE NIC.
        order = lab.bootindexes(name)
        assert order['disk0'] == 1 and order['nic0'] == len(machine['disks']) + 1
        bmc = lab.bmc(name)
        assert bmc['address'].startswith('127.88.1.')
        assert ipmitool(bmc, 'power', 'status').stdout.strip() == 'Chassis Power is off'


def test_bmc_identity_matches_the_vm(lab):
    for machine in lab.machines:
        cmd = pyghmi(lab.bmc(machine['name']))
        system = cmd.get_inventory_of_component('System')
        assert system['Serial Number'] == machine['serial']
        assert system['Manufacturer'] == machine['vendor']
        assert system['Product name'] == machine['product']
        assert system['UUID'].lower() == machine['uuid']       # the BMC's GUID is the VM's SMBIOS UUID


# ---------------------------------------------------------------- discovery end to end

def _ramdisk():
    if not os.path.exists(RAMDISK_SCRIPT) or not os.path.exists(os.path.join(ROOT, 'lab', 'ramdisk', 'init')):
        pytest.fail('lab/ramdisk/build.sh or lab/ramdisk/init is missing')
    started = time.monotonic()
    proc = subprocess.run(['bash', RAMDISK_SCRIPT, RAMDISK_OUT], capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print('ramdisk build: %.1f s' % (time.monotonic() - started))
    return os.path.join(RAMDISK_OUT, 'vmlinuz'), os.path.join(RAMDISK_OUT, 'initramfs.cpio.gz')


def _boot_server(lab, tmp):
    """The boot_server role's files (config-only mode) under tmp/root, the ramdisk, the daemons running."""
    kernel, initrd = _ramdisk()
    root = os.path.join(tmp, 'root')
    started = time.monotonic()
    conf = render_boot_server(root)
    print('boot_server role rendered in %.1f s' % (time.monotonic() - started))
    http, spool = os.path.join(root, 'http'), os.path.join(root, 'reports')
    os.symlink(kernel, os.path.join(http, 'ramdisk', 'vmlinuz'))
    os.symlink(initrd, os.path.join(http, 'ramdisk', 'initramfs.cpio.gz'))
    with open(os.path.join(http, 'ipxe', 'discover.ipxe'), 'w') as handle:
        handle.write(DISCOVER_IPXE)
    receiver = RECEIVER
    if not os.path.exists(receiver):
        receiver = os.path.join(tmp, 'standin-receiver.py')
        with open(receiver, 'w') as handle:
            handle.write(STANDIN_RECEIVER)
    lab.start_dnsmasq(conf)
    lab.start_http(http)
    lab.start_receiver(receiver, spool, port=RECEIVER_PORT)
    return spool


def _gib_match(reported, gib):
    """A reported size in GB or GiB (rounded either way) against a size defined in GiB."""
    return any(abs(reported - value) <= max(0.06, value * 0.01) for value in (gib, gib * 1.073741824))


def check_report(report, machine, neighbours=None):
    """Compare one hardware report with the machine definition it should describe.

    ``neighbours``: {NIC MAC: the LLDP neighbour the lab showed that NIC} (Lab.lldp_neighbours).
    """
    macs = [nic['mac'] for nic in machine['nics']]
    assert report['kind'] == 'discover'
    assert report['boot_mac'].lower() == macs[0]
    assert sorted(nic['mac'].lower() for nic in report['nics']) == sorted(macs)
    system = report['system']
    assert system['serial'] == machine['serial']
    assert system['uuid'].lower() == machine['uuid']
    assert system['vendor'] == machine['vendor']
    assert system['model'] == machine['product']
    assert report['cpus'] == machine['cpus']
    # MemTotal-style figures are a little below the configured size (kernel, firmware reservations).
    assert machine['memory_mb'] * 0.8 <= report['memory_mb'] <= machine['memory_mb'], report['memory_mb']
    disks = sorted(report['disks'], key=lambda disk: disk['name'])
    assert [d['name'] for d in disks] == ['vd%s' % chr(ord('a') + i) for i in range(len(machine['disks']))]
    for disk, defined in zip(disks, machine['disks']):
        assert _gib_match(disk['size_gb'], defined['size_gb']), (disk, defined)
        assert disk['serial'] == defined['serial']
    if neighbours is not None:
        mac_of = dict((nic['name'], nic['mac'].lower()) for nic in report['nics'])
        seen = dict((mac_of[entry.pop('interface')], entry) for entry in copy.deepcopy(report['lldp']))
        assert seen == neighbours, (report['lldp'], neighbours)


@pytest.mark.slow
def test_pxe_discovery_reports_match_the_vm_definitions(lab, tmp_path):
    spool = _boot_server(lab, str(tmp_path))
    by_mac = dict((m['nics'][0]['mac'], m) for m in lab.machines)
    powered = {}
    logs = dict((m['name'], (os.path.getsize(lab.firmware_log(m['name'])), os.path.getsize(lab.console_log(m['name']))))
                for m in lab.machines)
    for machine in lab.machines:
        cmd = pyghmi(lab.bmc(machine['name']))
        cmd.set_bootdev('network')                    # one-shot PXE
        powered[machine['name']] = time.monotonic()
        cmd.set_power('on')
    for machine in lab.machines:
        assert lab.status(machine['name']) == 'running'
        # The one-shot PXE order is in force for this boot (the firmware reads it late).
        assert lab.bootindexes(machine['name'])['nic0'] == 1

    arrived, reports = {}, {}

    def collect():
        for path in glob.glob(os.path.join(spool, '*.json')):
            with open(path) as handle:
                report = json.load(handle)
            machine = by_mac.get(report.get('boot_mac', '').lower())
            if machine and machine['name'] not in arrived:
                arrived[machine['name']] = time.monotonic()
                reports[machine['name']] = report
        return len(arrived) == len(lab.machines)

    if not wait_until(collect, REPORT_TIMEOUT, 0.1):
        for machine in lab.machines:
            print('--- %s console:\n%s' % (machine['name'], _read_tail(lab.console_log(machine['name']), 0)[-3000:]))
        for name in ('dnsmasq', 'http', 'receiver'):
            print('--- %s:\n%s' % (name, _read_tail(lab.daemon_log(name), 0)[-3000:]))
        pytest.fail('reports from %s only after %d s' % (sorted(arrived), REPORT_TIMEOUT))

    print('\npower-on to report (s):')
    for machine in lab.machines:
        name = machine['name']
        print('  %s (%s, %d CPU): %.1f' % (name, machine['firmware'], machine['cpus'], arrived[name] - powered[name]))
    print('  whole lab: %.1f' % (max(arrived.values()) - min(powered.values())))
    for machine in lab.machines:
        check_report(reports[machine['name']], machine, lab.lldp_neighbours(machine['name']))
        assert len(reports[machine['name']]['lldp']) == len(machine['nics'])
        print('  %s LLDP: %s' % (machine['name'], ', '.join('%s -> %s port %s' % (
            entry['interface'], entry['system_name'], entry['port_id']) for entry in reports[machine['name']]['lldp'])))
        # The firmware tried the network first (the disks are empty: falling through to PXE
        # after a disk attempt would also end in a report).
        if machine['firmware'] == 'bios':
            assert _first_boot(lab, machine['name'], logs[machine['name']][0]) == 'Booting from ROM...'
        else:
            # OVMF names a boot option on the console only when it fails to load it.
            console = _read_tail(lab.console_log(machine['name']), logs[machine['name']][1])
            assert 'Configuring (net0' in console
            assert 'BdsDxe: failed to load' not in console.split('Configuring (net0')[0], console[:3000]
    # The ramdisk powers itself off after reporting: the BMC says off (QEMU: shutdown), and
    # the one-shot boot is over: the persistent order (disk first) is back.
    for machine in lab.machines:
        name = machine['name']
        cmd = pyghmi(lab.bmc(name))
        assert wait_until(lambda: cmd.get_power()['powerstate'] == 'off', 60, 0.5), name
        assert lab.status(name) == 'shutdown'
        # A string, not the dict: pytest shortens an object's repr and the history is what tells.
        assert wait_until(lambda: lab.bootindexes(name)['disk0'] == 1, 5), json.dumps(lab.bmcs.state(name), indent=1)
        state = lab.bmcs.state(name)
        assert state['booted_from'] == 'pxe' and not state['oneshot_active']
        # One boot from power-on to power-off: no guest reboot in between.
        history = [entry.split(' ', 1)[1] for entry in state['history']]
        assert history[-1] == 'guest power off: one-shot boot over', history
        assert history[-2] in ('boot pxe (one-shot)', 'SeaBIOS hard reboot (same boot)'), history


# ---------------------------------------------------------------- BMC power and boot device

@pytest.mark.slow
def test_power_off_on_status_with_ipmitool(lab):
    name = lab.machines[1]['name']
    bmc = lab.bmc(name)
    if lab.status(name) == 'shutdown':
        # Left so by the discovery test (the guest powered off): power on must reset first.
        assert ipmitool(bmc, 'power', 'status').stdout.strip() == 'Chassis Power is off'
        assert ipmitool(bmc, 'power', 'on').returncode == 0
        assert lab.status(name) == 'running'
    assert ipmitool(bmc, 'power', 'off').returncode == 0
    assert lab.status(name) == 'prelaunch'
    assert ipmitool(bmc, 'power', 'status').stdout.strip() == 'Chassis Power is off'
    assert ipmitool(bmc, 'power', 'reset').returncode == 0          # off: reset does nothing
    assert lab.status(name) == 'prelaunch'
    assert ipmitool(bmc, 'power', 'cycle').returncode != 0          # off: "not in present state"
    assert ipmitool(bmc, 'power', 'on').returncode == 0
    assert lab.status(name) == 'running'
    assert ipmitool(bmc, 'power', 'status').stdout.strip() == 'Chassis Power is on'
    assert ipmitool(bmc, 'power', 'reset').returncode == 0
    assert lab.status(name) == 'running'
    assert ipmitool(bmc, 'power', 'soft').returncode == 0           # ACPI button: firmware ignores it
    assert ipmitool(bmc, 'power', 'off').returncode == 0
    assert lab.status(name) == 'prelaunch'                          # stop + system_reset
    assert ipmitool(bmc, 'power', 'status').stdout.strip() == 'Chassis Power is off'


def _first_boot(lab, name, since, timeout=30):
    """The first 'Booting from ...' line SeaBIOS logged after offset ``since``."""
    def first():
        for line in _read_tail(lab.firmware_log(name), since).splitlines():
            if line.startswith('Booting from '):
                return line
        return None
    return wait_until(first, timeout, 0.2)


@pytest.mark.slow
def test_boot_device_switching_between_disk_and_pxe(lab):
    name = lab.machines[0]['name']
    assert lab.machine(name)['firmware'] == 'bios'
    bmc = lab.bmc(name)
    lab.power_off_all()
    try:
        # Persistent PXE: the NIC comes first from now on.
        assert ipmitool(bmc, 'chassis', 'bootdev', 'pxe', 'options=persistent').returncode == 0
        assert lab.bootindexes(name) == {'nic0': 1, 'disk0': 2}
        # One-shot disk on top: in force for the next boot only.
        assert ipmitool(bmc, 'chassis', 'bootdev', 'disk').returncode == 0
        assert lab.bootindexes(name) == {'nic0': 1, 'disk0': 2}     # not applied before the boot
        since = os.path.getsize(lab.firmware_log(name))
        assert ipmitool(bmc, 'power', 'on').returncode == 0
        assert lab.bootindexes(name) == {'nic0': 2, 'disk0': 1}     # during that boot
        assert _first_boot(lab, name, since) == 'Booting from Hard Disk...'
        # The BMC resets: the one-shot boot is over, the persistent device (PXE: the NIC's ROM) is back.
        since = os.path.getsize(lab.firmware_log(name))
        assert ipmitool(bmc, 'power', 'reset').returncode == 0
        assert lab.bootindexes(name) == {'nic0': 1, 'disk0': 2}
        assert _first_boot(lab, name, since) == 'Booting from ROM...'
        assert ipmitool(bmc, 'power', 'off').returncode == 0
        # Back to persistent disk.
        assert ipmitool(bmc, 'chassis', 'bootdev', 'disk', 'options=persistent').returncode == 0
        assert lab.bootindexes(name) == {'nic0': 2, 'disk0': 1}
        since = os.path.getsize(lab.firmware_log(name))
        assert ipmitool(bmc, 'power', 'on').returncode == 0
        assert _first_boot(lab, name, since) == 'Booting from Hard Disk...'
    finally:
        ipmitool(bmc, 'power', 'off')
