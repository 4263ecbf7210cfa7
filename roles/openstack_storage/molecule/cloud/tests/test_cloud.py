# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A volume made through the Block Storage API (openstacksdk from the host) lands on the storage node."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

import pytest
from openstack_checks import admin_connection

VG = 'cinder-volumes'


@pytest.fixture(scope='module')
def cloud():
    conn = admin_connection('iaas-sto-controller', 'iaas-sto-cloud')
    yield conn
    conn.close()


def _lvs(host):
    return host.check_output('lvs --noheadings --options lv_name %s 2>/dev/null', VG).split()


def test_cinder_volume_is_up(cloud, host):
    services = [s for s in cloud.block_storage.services() if s.binary == 'cinder-volume']
    assert [(s.host, s.state, s.status) for s in services] == [
        ('%s@lvm' % host.check_output('hostname'), 'up', 'enabled')]


def test_volume_becomes_available_on_the_storage_node(cloud, host):
    volume = cloud.block_storage.create_volume(name='iaas-sto-test', size=1)
    try:
        volume = cloud.block_storage.wait_for_status(volume, status='available', failures=['error'],
                                                     interval=2, wait=120)
        assert volume.host.startswith(host.check_output('hostname') + '@lvm#')
        assert 'volume-%s' % volume.id in _lvs(host)
    finally:
        cloud.block_storage.delete_volume(volume)
    cloud.block_storage.wait_for_delete(volume, interval=2, wait=120)
    deadline = time.time() + 30
    while 'volume-%s' % volume.id in _lvs(host) and time.time() < deadline:
        time.sleep(1)
    assert 'volume-%s' % volume.id not in _lvs(host)
