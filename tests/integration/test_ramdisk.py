# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke boots of the ramdisk (lab/ramdisk) under QEMU, reporting to a real receiver.

The VM's network is QEMU's user-mode network with ``restrict=on``: it
reaches nothing but two forwarded addresses, 10.0.2.100:8088 (the receiver on
127.0.0.1) and 10.0.2.101:80 (an image server on 127.0.0.1). The discover
boot has a second NIC whose wire is a UDP socket of the test: a hostile LLDP
neighbour sends frames on it. The module
holds the machine-wide heavy-work flock (/tmp/iaas-heavy.lock) while it builds
and boots (``-accel tcg``, about 10 s a boot), unless an ancestor process holds
it already (``flock /tmp/iaas-heavy.lock pytest ...``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, write_registry
from test_receiver import Receiver

from ansible_collections.datacenter.iaas.plugins.module_utils import registry as reg
from ansible_collections.datacenter.iaas.plugins.module_utils import reports

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from lab import lldp  # noqa: E402

BUILD = os.path.join(ROOT, '.build', 'ramdisk')
LOCK = '/tmp/iaas-heavy.lock'
MAC = '52:54:00:aa:bb:07'
SECOND_MAC = '52:54:00:aa:bb:08'
UUID = '8e3b1b2c-1234-4d2a-9b7e-0123456789ab'

# `make deps` installs what these tests need: a missing tool is a failure here, never a skip.
assert shutil.which('qemu-system-x86_64') and shutil.which('dpkg-deb') and shutil.which('cpio'), \
    'the ramdisk tests need qemu-system-x86, cpio and dpkg (make deps installs them)'


def _lock_holders(path):
    """PIDs holding an flock on ``path``, from /proc/locks."""
    info = os.stat(path)
    ident = '%02x:%02x:%d' % (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    with open('/proc/locks') as handle:
        return set(int(fields[4]) for fields in (line.split() for line in handle)
                   if len(fields) >= 6 and '->' not in fields and fields[1] == 'FLOCK' and fields[5] == ident)


def _ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        with open('/proc/%d/stat' % pid) as handle:
            pid = int(handle.read().rsplit(')', 1)[1].split()[1])
    return pids


@pytest.fixture(scope='module')
def heavy():
    """Hold the heavy-work lock for the module (pass through when an ancestor holds it)."""
    with open(LOCK, 'a') as handle:
        deadline = time.monotonic() + 3600
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if _lock_holders(LOCK) & _ancestors():
                    break
                assert time.monotonic() < deadline, 'the heavy-work lock stayed taken for an hour'
                time.sleep(1)
        yield  # closing the file releases the lock


@pytest.fixture(scope='module')
def ramdisk(heavy):
    """Build (or reuse) the ramdisk; it is reproducible, so a second build changes nothing."""
    subprocess.run([os.path.join(ROOT, 'lab', 'ramdisk', 'build.sh'), BUILD], check=True, stdin=subprocess.DEVNULL,
                   timeout=900)
    busybox = os.path.join(BUILD, 'work', 'busybox', 'bin', 'busybox')
    assert os.access(busybox, os.X_OK)
    return {'kernel': os.path.join(BUILD, 'vmlinuz'), 'initrd': os.path.join(BUILD, 'initramfs.cpio.gz'),
            'busybox': busybox}


@pytest.fixture
def receiver(tmp_path):
    server = Receiver(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def image_server(tmp_path):
    """An HTTP server on 127.0.0.1 for images in tmp_path/www."""
    www = tmp_path / 'www'
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, server.server_address[1]
    server.shutdown()
    server.server_close()


def boot(ramdisk, tmp_path, receiver_port, append, disks, image_port=None, memory=512, wire=None):
    """Boot the ramdisk once; return the console text. The VM powers itself off.

    ``wire``: (MAC, QEMU's UDP port, the test's UDP port) of a second NIC whose frames travel as UDP datagrams.
    """
    forward = 'guestfwd=tcp:10.0.2.100:8088-cmd:%s nc 127.0.0.1 %d' % (ramdisk['busybox'], receiver_port)
    if image_port:
        forward += ',guestfwd=tcp:10.0.2.101:80-cmd:%s nc 127.0.0.1 %d' % (ramdisk['busybox'], image_port)
    command = [
        'timeout', '300', 'qemu-system-x86_64', '-accel', 'tcg', '-m', str(memory), '-smp', '2',
        '-nographic', '-no-reboot', '-kernel', ramdisk['kernel'], '-initrd', ramdisk['initrd'],
        '-append', 'console=ttyS0 quiet iaas.report=http://10.0.2.100:8088/v1/reports BOOTIF=01-%s %s'
        % (MAC.replace(':', '-'), append),
        '-netdev', 'user,id=n0,restrict=on,' + forward, '-device', 'virtio-net-pci,netdev=n0,mac=%s' % MAC,
        '-smbios', 'type=1,manufacturer=QEMU,product=LabPC,serial=LAB-0001', '-uuid', UUID,
    ]
    if wire:
        command += ['-netdev', 'dgram,id=n1,local.type=inet,local.host=127.0.0.1,local.port=%d,'
                    'remote.type=inet,remote.host=127.0.0.1,remote.port=%d' % (wire[1], wire[2]),
                    '-device', 'virtio-net-pci,netdev=n1,mac=%s,romfile=' % wire[0]]
    for index, (path, serial) in enumerate(disks):
        command += ['-drive', 'file=%s,format=raw,if=none,id=d%d' % (path, index),
                    '-device', 'virtio-blk-pci,drive=d%d,serial=%s' % (index, serial)]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            timeout=3600, cwd=str(tmp_path), check=False)
    console = result.stdout.decode('utf-8', 'replace')
    assert result.returncode == 0, console[-3000:]
    assert 'iaas: powering off' in console, console[-3000:]
    return console


def disk(tmp_path, name, size):
    path = tmp_path / name
    with open(str(path), 'wb') as handle:
        handle.truncate(size)
    return str(path)


def spooled(receiver):
    names = [name for name in receiver.spool_names() if reports.SPOOL_NAME_RE.match(name)]
    return [reports.read_spool_file(receiver.spool, name) for name in names]


@pytest.fixture
def hostile_neighbour():
    """A second NIC's wire (UDP): an LLDP neighbour whose TLVs hold quotes, shell and template syntax, '..'."""
    qemu_port, ours = free_udp_port(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ours.bind(('127.0.0.1', 0))
    frame = lldp.frame('../../etc/passwd', 'a' * 255, system_name='sw"1\\$(reboot)`id`{{ x }}')
    stop = threading.Event()

    def send():
        while not stop.wait(0.5):
            ours.sendto(frame, ('127.0.0.1', qemu_port))

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    yield (SECOND_MAC, qemu_port, ours.getsockname()[1])
    stop.set()
    thread.join()
    ours.close()


def free_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_discover_reports_the_machine_and_ingests(ramdisk, receiver, hostile_neighbour, tmp_path):
    disks = [(disk(tmp_path, 'a.img', 2 * 1024 ** 3), 'DISK-A'), (disk(tmp_path, 'b.img', 64 * 1024 ** 2), 'DISK-B')]
    # eth0 has link but no LLDP neighbour: the listener gives up after iaas.lldp_timeout.
    console = boot(ramdisk, tmp_path, receiver.port, 'iaas.mode=discover iaas.lldp_timeout=4', disks,
                   wire=hostile_neighbour)
    assert 'iaas: report accepted' in console
    assert 'no neighbour on: eth0' in console, console[-3000:]
    report, = spooled(receiver)
    assert report == {
        'version': 1, 'kind': 'discover', 'boot_mac': MAC,
        'system': {'vendor': 'QEMU', 'model': 'LabPC', 'serial': 'LAB-0001', 'uuid': UUID},
        'cpus': 2, 'cpu_model': report['cpu_model'], 'memory_mb': 512,
        'disks': [{'name': 'vda', 'size_gb': 2, 'rotational': True, 'serial': 'DISK-A'},
                  {'name': 'vdb', 'size_gb': 0.06, 'rotational': True, 'serial': 'DISK-B'}],
        'nics': [{'name': 'eth0', 'mac': MAC, 'link': True}, {'name': 'eth1', 'mac': SECOND_MAC, 'link': True}],
        # What the neighbour sent, reduced to the schema's characters (others become _, dot runs one dot).
        'lldp': [{'interface': 'eth1', 'chassis_id': 'sw_1__(reboot)_id___ x __',
                  'system_name': 'sw_1__(reboot)_id___ x __', 'port_id': '././etc/passwd',
                  'port_description': 'a' * 255}],
    }
    # And into the registry, the way node_discovery will do it.
    path = write_registry(tmp_path / 'registry.yml', {})
    update = reg.Registry(path).update()
    with update as data:
        result = reports.ingest(data, receiver.spool)
    reports.consume(receiver.spool, result)
    assert result['enrolled'] == ['node-lab-0001'] and not result['refused']
    node = reg.Registry(path).read()['nodes']['node-lab-0001']
    assert node['state'] == 'manageable' and node['provisioning'] == {'mac': MAC}
    assert node['hardware']['nics'] == [{'name': 'eth0', 'mac': MAC, 'pxe': True},
                                        {'name': 'eth1', 'mac': SECOND_MAC, 'pxe': False}]


def test_deploy_writes_a_verified_image(ramdisk, receiver, image_server, tmp_path):
    www, port = image_server
    image = os.urandom(3 * 1024 * 1024)
    with gzip.open(str(www / 'image.raw.gz'), 'wb') as handle:
        handle.write(image)
    checksum = hashlib.sha256((www / 'image.raw.gz').read_bytes()).hexdigest()
    target = disk(tmp_path, 'target.img', 64 * 1024 ** 2)
    append = 'iaas.mode=deploy iaas.image=http://10.0.2.101/image.raw.gz iaas.sha256=%s iaas.disk=auto' % checksum
    boot(ramdisk, tmp_path, receiver.port, append, [(target, 'TARGET')], image_port=port)
    with open(target, 'rb') as handle:
        assert handle.read(len(image)) == image
    report, = spooled(receiver)
    assert report['status'] == 'success', report
    assert (report['kind'], report['boot_mac'], report['disk'], report['sha256']) == ('deploy', MAC, '/dev/vda', checksum)
    assert report['image'] == 'http://10.0.2.101/image.raw.gz'


def test_deploy_with_a_wrong_checksum_wipes_and_reports_failure(ramdisk, receiver, image_server, tmp_path):
    www, port = image_server
    (www / 'image.raw').write_bytes(b'\xeb' + os.urandom(2 * 1024 * 1024))
    target = disk(tmp_path, 'target.img', 64 * 1024 ** 2)
    with open(target, 'r+b') as handle:
        handle.write(b'OLD PARTITION TABLE')
    append = 'iaas.mode=deploy iaas.image=http://10.0.2.101/image.raw iaas.sha256=%s iaas.disk=/dev/vda' % ('0' * 64)
    boot(ramdisk, tmp_path, receiver.port, append, [(target, 'TARGET')], image_port=port)
    with open(target, 'rb') as handle:
        assert handle.read(1024 * 1024) == b'\0' * (1024 * 1024)  # no half-trusted image left to boot
    report, = spooled(receiver)
    assert report['status'] == 'failure' and report['message'].startswith('sha256 mismatch')
    assert json.dumps(report)  # the message came through the schema
