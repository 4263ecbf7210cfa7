# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A storage node without a controller, seen from inside its container (testinfra, podman backend)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import configparser

import pytest

LOOP_FILE = '/var/lib/cinder-lvm/iaas-sto-storage.img'
VG = 'cinder-volumes'


@pytest.fixture(scope='module')
def address(host):
    return [a for a in host.interface('eth0').addresses if '.' in a][0]


@pytest.fixture(scope='module')
def cinder_conf(host):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(host.file('/etc/cinder/cinder.conf').content_string)
    return parser


@pytest.mark.parametrize('unit', ['iaas-cinder-loop.service', 'tgt.service', 'cinder-volume.service'])
def test_service_running_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running
    assert service.is_enabled


def test_loop_file_is_sparse(host):
    size = int(host.check_output('stat -c %%s %s', LOOP_FILE))
    blocks = int(host.check_output('stat -c %%b %s', LOOP_FILE))
    assert size == 4 * 1024 ** 3
    assert blocks * 512 < size // 100


def test_one_loop_device_for_the_file(host):
    devices = host.check_output('losetup --list --noheadings --output NAME --associated %s', LOOP_FILE).split()
    assert len(devices) == 1


def test_volume_group_on_the_loop_device(host):
    device = host.check_output('losetup --list --noheadings --output NAME --associated %s', LOOP_FILE).strip()
    pvs = host.check_output('pvs --noheadings --options pv_name,vg_name 2>/dev/null').split()
    assert pvs == [device, VG]
    # The devices file names the loop file, not the device: another boot may pick another loop device.
    assert 'IDTYPE=loop_file IDNAME=%s' % LOOP_FILE in host.file('/etc/lvm/devices/system.devices').content_string


def test_lvm_configuration(host):
    config = host.check_output('lvmconfig global/activation activation/udev_sync activation/udev_rules '
                               'devices/obtain_device_list_from_udev devices/use_devicesfile 2>/dev/null')
    assert config.split() == ['activation=0', 'udev_sync=0', 'udev_rules=0', 'obtain_device_list_from_udev=0',
                              'use_devicesfile=1']


def test_loop_unit_reattaches_idempotently(host):
    """A second start (as at boot, with the device still attached) attaches no second loop device."""
    host.check_output('/usr/local/sbin/iaas-cinder-loop attach')
    devices = host.check_output('losetup --list --noheadings --output NAME --associated %s', LOOP_FILE).split()
    assert len(devices) == 1


def test_tgt_exports_cinder_volumes(host):
    assert 'include /var/lib/cinder/volumes/*' in host.file('/etc/tgt/conf.d/cinder_tgt.conf').content_string.splitlines()
    assert host.socket('tcp://0.0.0.0:3260').is_listening


def test_cinder_conf(host, cinder_conf, address):
    conf = host.file('/etc/cinder/cinder.conf')
    assert (conf.user, conf.group, conf.mode) == ('root', 'cinder', 0o640)
    default = cinder_conf['DEFAULT']
    assert default['my_ip'] == address
    assert default['enabled_backends'] == 'lvm'
    assert default['auth_strategy'] == 'keystone'
    assert default['glance_api_servers'] == 'http://192.0.2.10:9292'
    assert default['transport_url'].startswith('rabbit://openstack:')
    assert default['transport_url'].endswith('@192.0.2.10:5672/')
    assert cinder_conf['database']['connection'].startswith('mysql+pymysql://cinder:')
    assert cinder_conf['database']['connection'].endswith('@192.0.2.10/cinder')
    assert cinder_conf['keystone_authtoken']['username'] == 'cinder'
    assert len(cinder_conf['keystone_authtoken']['password']) == 32
    assert cinder_conf['oslo_concurrency']['lock_path'] == '/var/lib/cinder/lock'
    assert host.file('/var/lib/cinder/lock').user == 'cinder'
    assert dict(cinder_conf['lvm']) == dict(cinder_conf['DEFAULT'], **{
        'volume_driver': 'cinder.volume.drivers.lvm.LVMVolumeDriver',
        'volume_group': VG,
        'lvm_type': 'default',
        'volume_backend_name': 'lvm',
        'target_protocol': 'iscsi',
        'target_helper': 'tgtadm',
        'target_ip_address': address,
        'volumes_dir': '/var/lib/cinder/volumes',
        'volume_clear': 'none',
    })
