# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.registry_nodes import (
    record, registry_entries, registry_ips)


def test_registry_entries():
    data = {'version': 1, 'nodes': {
        'a': {'state': 'available', 'role': 'compute',
              'provisioning': {'mac': '52:54:00:00:00:0a', 'ip': '198.18.0.10', 'hostname': 'a.dc1', 'boot_mode': 'uefi'}},
        'b': {'state': 'available', 'role': 'compute',
              'hardware': {'nics': [{'name': 'eno1', 'mac': '52:54:00:00:00:b1'},
                                    {'name': 'eno2', 'mac': '52:54:00:00:00:b2', 'pxe': True}]}},
        'c': {'state': 'available', 'role': 'compute', 'hardware': {'nics': [{'mac': '52:54:00:00:00:c1'}]}},
        'd': {'state': 'active', 'role': 'compute', 'provisioning': {'mac': '52:54:00:00:00:0d'}},
        'e': {'state': 'available', 'role': 'storage', 'provisioning': {'mac': '52:54:00:00:00:0e'}},
    }}
    entries, skipped = registry_entries(data, states=['available'], roles=['compute'])
    assert [(e['name'], e['mac'], e['hostname'], e['known_ips']) for e in entries] == [
        ('a', '52:54:00:00:00:0a', 'a.dc1', ['198.18.0.10']), ('b', '52:54:00:00:00:b2', None, [None])]
    assert skipped == ['c']
    entries, skipped = registry_entries(data)
    assert [e['name'] for e in entries] == ['a', 'b', 'd', 'e']


def test_registry_ips_leaves_out_the_run_and_what_is_no_address():
    data = {'nodes': {'a': {'provisioning': {'ip': '198.18.0.10'}}, 'b': {'provisioning': {'ip': '198.18.0.11'}},
                      'c': {'provisioning': {'ip': 'fd00::1'}}, 'd': {'provisioning': {'ip': 'dhcp'}}, 'e': {}}}
    assert dict((str(value), who) for value, who in registry_ips(data, {'b'}).items()) == {
        '198.18.0.10': 'registry node a'}


def test_record_keeps_absent_nodes_addresses():
    data = {'nodes': {'a': {}, 'b': {'provisioning': {'ip': '198.18.0.7', 'mac': 'x'}}}}
    record(data, [{'name': 'a', 'state': 'present', 'ip': '198.18.0.2', 'hostname': 'a'},
                  {'name': 'b', 'state': 'absent', 'ip': None, 'hostname': 'b'}])
    assert data['nodes'] == {'a': {'provisioning': {'ip': '198.18.0.2', 'hostname': 'a'}},
                             'b': {'provisioning': {'ip': '198.18.0.7', 'mac': 'x'}}}
