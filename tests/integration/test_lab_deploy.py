# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A deploy round on the QEMU lab: deploy ramdisk -> image on disk -> boot from disk.

One SeaBIOS VM (lab-0001) gets a deploy boot file from the real ``pxe_config`` module
(mode deploy, image ``images/marker.img`` with its sha256, disk /dev/vda) and a one-shot
PXE power-on from the real ``bmc_power`` module. The deploy ramdisk (lab/ramdisk/init)
streams the image to the disk, verifies its sha256, reports ``kind=deploy`` to the
receiver and powers off. ``bmc_power`` then makes the disk the persistent boot device and
powers on: the image's boot sector (lab/marker_image.py) prints a random marker on COM1,
which proves the machine came up from the deployed disk (and not from the ramdisk again).

Needs what tests/integration/test_qemu_lab.py needs (root, QEMU, dnsmasq, ipxe, ipmitool);
takes /tmp/iaas-heavy.lock while the lab is up. Netns iaas-labdeploy, BMCs on 127.88.2.0/24.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import json
import os
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lab import wait_until  # noqa: E402
from lab.marker_image import build as build_marker_image  # noqa: E402
from lab.qemu import Lab, load_machines, netns_exists, render_boot_server  # noqa: E402

from ansible_runner import run_module  # noqa: E402
from test_qemu_lab import LAB_SKIP, RECEIVER, RECEIVER_PORT, STANDIN_RECEIVER, _ramdisk, _read_tail  # noqa: E402

NETNS = 'iaas-labdeploy'
BMC_NETWORK = '127.88.2.0/24'
USER, PASSWORD = 'admin', 'lab-Secret-42'
BOOT_SERVER = '198.18.0.1'
REPORT_URL = 'http://%s:%d/v1/reports' % (BOOT_SERVER, RECEIVER_PORT)
DEPLOY_TIMEOUT = 150     # power-on to deploy report
OFF_TIMEOUT = 60         # report to the ramdisk's power-off
MARKER_TIMEOUT = 60      # disk power-on to the marker on the console


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    assert not LAB_SKIP, LAB_SKIP
    machines = load_machines()[:1]
    assert machines[0]['firmware'] == 'bios'
    run_dir = str(tmp_path_factory.mktemp('qemu-lab-deploy'))
    with Lab(machines, netns=NETNS, run_dir=os.path.join(run_dir, 'run'), bmc_network=BMC_NETWORK,
             username=USER, password=PASSWORD, log=print) as running:
        yield running
    assert not netns_exists(NETNS)


def _boot_server(lab, root):
    """The boot_server role's files (config-only mode) under root, the ramdisk, the daemons running."""
    kernel, initrd = _ramdisk()
    conf = render_boot_server(root)
    http, spool = os.path.join(root, 'http'), os.path.join(root, 'reports')
    os.symlink(kernel, os.path.join(http, 'ramdisk', 'vmlinuz'))
    os.symlink(initrd, os.path.join(http, 'ramdisk', 'initramfs.cpio.gz'))
    receiver = RECEIVER
    if not os.path.exists(receiver):
        receiver = os.path.join(root, 'standin-receiver.py')
        with open(receiver, 'w') as handle:
            handle.write(STANDIN_RECEIVER)
    lab.start_dnsmasq(conf)
    lab.start_http(http)
    lab.start_receiver(receiver, spool, port=RECEIVER_PORT)
    return spool


def _bmc_args(lab, name, **extra):
    bmc = lab.bmc(name)
    args = {'bmc_address': bmc['address'], 'bmc_port': bmc['port'], 'username': bmc['username'],
            'password': bmc['password'], 'name': name}
    args.update(extra)
    return args


def _dump(lab, name):
    print('--- %s console:\n%s' % (name, _read_tail(lab.console_log(name), 0)[-4000:]))
    print('--- %s firmware:\n%s' % (name, _read_tail(lab.firmware_log(name), 0)[-2000:]))
    for daemon in ('dnsmasq', 'http', 'receiver'):
        print('--- %s:\n%s' % (daemon, _read_tail(lab.daemon_log(daemon), 0)[-2000:]))


@pytest.mark.slow
def test_deploy_then_boot_from_disk(lab, tmp_path):
    started = time.monotonic()
    root = str(tmp_path / 'root')
    spool = _boot_server(lab, root)
    machine = lab.machines[0]
    name, mac = machine['name'], machine['nics'][0]['mac']
    marker, digest = build_marker_image(os.path.join(root, 'http', 'images', 'marker.img'))

    result = run_module('pxe_config', {
        'root': root, 'server': BOOT_SERVER, 'pool': ['198.18.0.0/24'], 'gateway': BOOT_SERVER,
        'report_url': REPORT_URL, 'kernel_args': 'console=ttyS0',
        'nodes': [{'name': name, 'mac': mac, 'mode': 'deploy', 'image': 'images/marker.img',
                   'image_sha256': digest, 'disk': '/dev/vda'}]})
    assert not result.failed, result
    script = os.path.join(root, 'http', 'ipxe', '%s.ipxe' % mac.replace(':', '-'))
    with open(script) as handle:
        ipxe = handle.read()
    print('--- %s\n%s' % (script, ipxe))
    assert 'iaas.mode=deploy' in ipxe and 'iaas.sha256=%s' % digest in ipxe and 'images/marker.img' in ipxe

    # One-shot PXE into the deploy ramdisk (the persistent order stays disk first).
    powered = time.monotonic()
    result = run_module('bmc_power', _bmc_args(lab, name, boot_device='pxe', state='on'))
    assert not result.failed and result.changed, result
    assert lab.status(name) == 'running'

    def deploy_report():
        for path in glob.glob(os.path.join(spool, '*.json')):
            with open(path) as handle:
                report = json.load(handle)
            if report.get('kind') == 'deploy' and report.get('boot_mac', '').lower() == mac:
                return report
        return None

    report = wait_until(deploy_report, DEPLOY_TIMEOUT, 0.2)
    if not report:
        _dump(lab, name)
        pytest.fail('no deploy report from %s after %d s' % (name, DEPLOY_TIMEOUT))
    reported = time.monotonic()
    print('deploy report after %.1f s: %s' % (reported - powered, json.dumps(report, sort_keys=True)))
    assert report['status'] == 'success', report
    assert report['sha256'] == digest
    assert report.get('disk') == '/dev/vda', report

    if not wait_until(lambda: lab.status(name) == 'shutdown', OFF_TIMEOUT, 0.5):
        _dump(lab, name)
        pytest.fail('%s did not power off after the deploy' % name)
    query = run_module('bmc_power', _bmc_args(lab, name, state='query'))
    assert not query.failed, query
    print('powered off %.1f s after the report' % (time.monotonic() - reported))

    # Boot from disk, persistently; the ramdisk must not run again.
    console_since = os.path.getsize(lab.console_log(name))
    firmware_since = os.path.getsize(lab.firmware_log(name))
    assert marker not in _read_tail(lab.console_log(name), 0)
    disk_on = time.monotonic()
    result = run_module('bmc_power', _bmc_args(lab, name, boot_device='disk', boot_persistent=True, state='on'))
    assert not result.failed and result.changed, result
    assert lab.bootindexes(name)['disk0'] == 1
    if not wait_until(lambda: marker in _read_tail(lab.console_log(name), console_since), MARKER_TIMEOUT, 0.2):
        _dump(lab, name)
        pytest.fail('no marker %s on the console of %s' % (marker, name))
    print('marker on the console %.1f s after the disk power-on' % (time.monotonic() - disk_on))
    console = _read_tail(lab.console_log(name), console_since)
    firmware = _read_tail(lab.firmware_log(name), firmware_since)
    boots = [line for line in firmware.splitlines() if line.startswith('Booting from ')]
    # SeaBIOS: 'Booting from Hard Disk...' then 'Booting from 0000:7c00' (the jump to the boot sector).
    assert boots == ['Booting from Hard Disk...', 'Booting from 0000:7c00'], boots
    assert 'Linux version' not in console and 'iaas.mode' not in console, console[-2000:]
    assert lab.status(name) == 'running'        # the boot sector halts: no power-off, no reboot
    print('deploy round: %.1f s' % (time.monotonic() - started))
    run_module('bmc_power', _bmc_args(lab, name, state='off'))
