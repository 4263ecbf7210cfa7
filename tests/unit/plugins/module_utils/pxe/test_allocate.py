# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.allocate import allocate
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.hosts_file import HostsLine
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.nodes import prepare_nodes
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.pool import address
from ansible_collections.datacenter.iaas.tests.unit.plugins.module_utils.pxe.helpers import (
    HOSTS, host_lines, node, planned, read, run, settings)


def test_allocate_keeps_known_addresses_and_skips_taken_ones(tmp_path):
    conf = settings(tmp_path)
    nodes = prepare_nodes([node(1), node(2, ip='198.18.0.2'), node(3), node(4, state='absent'),
                           dict(node(5), known_ips=['198.18.0.2', '198.18.0.77'])], conf)
    current = {'52:54:00:00:00:03': HostsLine('', ['52:54:00:00:00:03'], '198.18.0.40', 'n3')}
    allocate(conf.pool, nodes, current, {address('198.18.0.3'): 'MAC aa:bb:cc:dd:ee:ff'})
    assert [n.ip for n in nodes] == ['198.18.0.4', '198.18.0.2', '198.18.0.40', None, '198.18.0.77']


def test_allocation_lowest_free_and_stable(tmp_path):
    first = run(tmp_path, [node(1), node(2), node(3)])
    assert [n['ip'] for n in first.nodes] == ['198.18.0.2', '198.18.0.3', '198.18.0.4']
    # New node in front, one removed from the task (its line stays and keeps its address).
    second = run(tmp_path, [node(9), node(3), node(1)])
    assert dict((n['name'], n['ip']) for n in second.nodes) == {'n9': '198.18.0.5', 'n3': '198.18.0.4',
                                                                'n1': '198.18.0.2'}
    assert host_lines(tmp_path) == [
        '52:54:00:00:00:01,198.18.0.2,n1',
        '52:54:00:00:00:02,198.18.0.3,n2',
        '52:54:00:00:00:03,198.18.0.4,n3',
        '52:54:00:00:00:09,198.18.0.5,n9',
    ]


def test_explicit_ip_wins_and_displaced_node_moves(tmp_path):
    run(tmp_path, [node(1), node(2)])
    result = run(tmp_path, [node(1), node(2, ip='198.18.0.2')])
    assert [n['ip'] for n in result.nodes] == ['198.18.0.3', '198.18.0.2']  # n2 let .3 go
    ips = [line.split(',')[1] for line in host_lines(tmp_path)]
    assert len(set(ips)) == len(ips)


def test_explicit_ip_must_be_usable(tmp_path):
    for ip, reason in (('198.18.1.5', 'outside the pool'), ('198.18.0.1', 'the gateway'),
                       ('198.18.0.0', 'the network address'), ('198.18.0.255', 'the broadcast address')):
        with pytest.raises(InputError, match='ip %s is %s' % (ip, reason)):
            planned(tmp_path, [node(1, ip=ip)])


def test_addresses_of_other_lines_and_registry_nodes_are_never_handed_out(tmp_path):
    os.makedirs(str(tmp_path / 'dnsmasq'))
    (tmp_path / HOSTS).write_text('# printer\naa:bb:cc:dd:ee:ff,198.18.0.2,printer\n52:54:00:99:00:01,198.18.0.4,infinite\n')
    registry = {'version': 1, 'nodes': {'other': {'provisioning': {'ip': '198.18.0.3'}},
                                        'n1': {'provisioning': {'ip': '198.18.0.200'}}}}
    result = run(tmp_path, [dict(node(1), known_ips=['198.18.0.200'], registry=True), node(2)], registry_data=registry)
    assert [n['ip'] for n in result.nodes] == ['198.18.0.200', '198.18.0.5']
    with pytest.raises(InputError, match='198.18.0.2 is already given to MAC aa:bb:cc:dd:ee:ff'):
        planned(tmp_path, [node(3, ip='198.18.0.2')])
    with pytest.raises(InputError, match='host name printer is already given to MAC aa:bb:cc:dd:ee:ff'):
        planned(tmp_path, [node(3, hostname='printer')])
    text = read(tmp_path, HOSTS)
    assert text.startswith('# printer\naa:bb:cc:dd:ee:ff,198.18.0.2,printer\n52:54:00:99:00:01,198.18.0.4,infinite\n')


def test_known_address_outside_pool_is_replaced(tmp_path):
    result = run(tmp_path, [dict(node(1), known_ips=['10.0.0.5'])])
    assert result.nodes[0]['ip'] == '198.18.0.2'


def test_pool_exhausted(tmp_path):
    with pytest.raises(InputError, match='no free address left for 2 more node'):
        planned(tmp_path, [node(i) for i in range(1, 8)], pool=['198.18.0.0/29'])  # 5 usable
    with pytest.raises(InputError, match='no pool'):
        planned(tmp_path, [node(1)], pool=None)


def test_bulk_allocation_unique(tmp_path):
    entries = [{'name': 'h%d' % i, 'mac': '52:54:00:01:%02x:%02x' % (i >> 8, i & 255)} for i in range(600)]
    result = planned(tmp_path, entries, pool=['198.18.0.0/22'], reserved=['198.18.1.0/25'])
    ips = [n['ip'] for n in result.nodes]
    assert len(set(ips)) == 600
    assert not any(ip.startswith('198.18.1.') and int(ip.split('.')[3]) < 128 for ip in ips)
    assert '198.18.0.1' not in ips and '198.18.0.0' not in ips
