# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_discovery sweeping real simulated BMCs into a registry file."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest
import yaml

from ansible_runner import run_module
from conftest import PASSWORD, USERNAME

from lab.virtbmc import BmcFarm, make_specs

CREDENTIALS = {
    'default': {'username': USERNAME, 'password': PASSWORD},
    'another-vendor': {'username': 'root', 'password': 'calvin-Not-This'},
}


@pytest.fixture(scope='module')
def sweep_farm():
    """Five BMCs on 127.52.0.1-5 and one with a password nobody knows on 127.52.0.9."""
    with BmcFarm(make_specs(5, '127.52.0.0/24'), username=USERNAME, password=PASSWORD) as known:
        with BmcFarm([{'name': 'stranger', 'address': '127.52.0.9', 'serial': 'STRANGER-1'}],
                     username='admin', password='Unknown-To-Us') as stranger:
            yield known, stranger


def sweep(registry, **extra):
    args = {'registry': registry, 'ranges': ['127.52.0.0/28'], 'exclude': ['127.52.0.0'],
            'credentials': CREDENTIALS, 'probe_timeout': 1.0, 'timeout': 20}
    args.update(extra)
    return args


def read(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def test_sweep_enrolls_then_changes_nothing(sweep_farm, tmp_path):
    known, _stranger = sweep_farm
    registry = str(tmp_path / 'registry.yml')
    first = run_module('node_discovery', sweep(registry), diff=True)
    assert not first.failed, first
    assert first.changed
    assert first['new'] == ['node-sim-0001', 'node-sim-0002', 'node-sim-0003', 'node-sim-0004', 'node-sim-0005']
    assert first['summary']['swept'] == 14 and first['summary']['read'] == 5
    assert list(first['unreadable']) == ['127.52.0.9']
    assert 'refuses every credential set' in first['unreadable']['127.52.0.9']
    assert 'Unknown-To-Us' not in str(first) and PASSWORD not in str(first)
    assert 'node-sim-0003' in first['diff']['after']
    data = read(registry)
    node = data['nodes']['node-sim-0003']
    spec = known.spec('sim-0003')
    assert node['state'] == 'enrolled'
    assert node['bmc'] == {'address': spec['address'], 'port': 623, 'protocol': 'ipmi', 'credential': 'default'}
    assert node['hardware']['serial'] == spec['serial']
    assert node['hardware']['vendor'] == spec['vendor']
    assert node['hardware']['model'] == spec['model']
    assert node['hardware']['uuid'].lower() == spec['uuid'].lower()
    assert oct(os.stat(registry).st_mode & 0o777) == '0o600'
    assert PASSWORD not in open(registry).read()

    second = run_module('node_discovery', sweep(registry))
    assert not second.failed and not second.changed
    assert second['new'] == [] and len(second['unchanged']) == 5


def test_check_mode_writes_nothing(sweep_farm, tmp_path):
    registry = str(tmp_path / 'registry.yml')
    result = run_module('node_discovery', sweep(registry), check=True)
    assert result.changed and len(result['new']) == 5
    assert not os.path.exists(registry)


def test_silent_bmc_is_missing_not_deleted(sweep_farm, tmp_path):
    known, _stranger = sweep_farm
    registry = str(tmp_path / 'registry.yml')
    assert run_module('node_discovery', sweep(registry)).changed
    known.kill('sim-0002')
    try:
        result = run_module('node_discovery', sweep(registry))
    finally:
        known.revive('sim-0002')
    assert not result.failed
    assert result['missing'] == ['node-sim-0002']
    assert 'node-sim-0002' in read(registry)['nodes']


def test_moved_bmc_keeps_its_node(sweep_farm, tmp_path):
    known, _stranger = sweep_farm
    spec = known.spec('sim-0004')
    registry = str(tmp_path / 'registry.yml')
    with open(registry, 'w') as handle:
        yaml.safe_dump({'version': 1, 'nodes': {'rack1-u04': {
            'state': 'available', 'role': 'compute',
            'bmc': {'address': '10.99.0.4', 'port': 623, 'protocol': 'ipmi', 'credential': 'default'},
            'hardware': {'serial': spec['serial'], 'memory_mb': 65536}}}}, handle)
    result = run_module('node_discovery', sweep(registry))
    assert not result.failed
    assert result['changed_nodes'] == ['rack1-u04']
    node = read(registry)['nodes']['rack1-u04']
    assert node['bmc']['address'] == spec['address']
    assert node['state'] == 'available' and node['role'] == 'compute'
    assert node['hardware']['memory_mb'] == 65536


@pytest.mark.parametrize('ranges, words', [
    (['127.52.0.0/33'], 'CIDR'),
    (['127.52.0.9-127.52.0.1'], 'range'),
    (['not-an-address'], 'not-an-address'),
])
def test_bad_ranges_are_refused_before_anything_is_written(tmp_path, ranges, words):
    registry = str(tmp_path / 'registry.yml')
    result = run_module('node_discovery', sweep(registry, ranges=ranges))
    assert result.failed
    assert result['error_kind'] == 'invalid_input'
    assert not os.path.exists(registry)
