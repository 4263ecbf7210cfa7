# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""datacenter.iaas.node through ansible-playbook, on a registry in a temporary directory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import sys

import pytest
import yaml

from ansible_runner import run_module, run_tasks

# ansible_runner resolves the interpreter with realpath, which leaves the virtualenv (and its netaddr) behind.
ENV = {'ANSIBLE_PYTHON_INTERPRETER': sys.executable}


@pytest.fixture
def registry(tmp_path):
    return str(tmp_path / 'registry.yml')


def node(args, **kwargs):
    return run_module('node', args, env=ENV, **kwargs)


def node_tasks(registry, steps, **kwargs):
    """Run several node tasks in one playbook (one ansible-playbook start instead of many)."""
    tasks = [{'datacenter.iaas.node': dict({'registry': registry, 'name': 'rack1-u07'}, **step)} for step in steps]
    return run_tasks(tasks, env=ENV, **kwargs)


def on_disk(registry):
    with open(registry) as handle:
        return yaml.safe_load(handle)


ENROLL = {'name': 'rack1-u07', 'bmc': {'address': '127.0.1.7', 'port': 623, 'credential': 'default'},
          'hardware': {'serial': 'SN7', 'nics': [{'name': 'eno1', 'mac': '52-54-00-AA-BB-07', 'pxe': True}]}}


def test_enroll_then_nothing_changes(registry):
    first = node(dict(ENROLL, registry=registry))
    assert first.changed and not first.failed, first
    assert first['previous_state'] is None
    assert first['node'] == {'state': 'enrolled', 'role': None, 'protected': False,
                             'bmc': {'address': '127.0.1.7', 'port': 623, 'credential': 'default'},
                             'hardware': {'serial': 'SN7', 'nics': [{'name': 'eno1', 'mac': '52:54:00:aa:bb:07',
                                                                     'pxe': True}]}}
    assert on_disk(registry)['nodes']['rack1-u07'] == first['node']
    assert stat.S_IMODE(os.stat(registry).st_mode) == 0o600

    second = node(dict(ENROLL, registry=registry))
    assert not second.changed and not second.failed, second
    assert second['previous_state'] == 'enrolled'
    assert second['node'] == first['node']


def test_check_mode_writes_nothing(registry):
    result = node(dict(ENROLL, registry=registry), check=True)
    assert result.changed and not result.failed, result
    assert result['node']['state'] == 'enrolled'
    assert not os.path.exists(registry)

    node(dict(ENROLL, registry=registry))
    original = open(registry, 'rb').read()
    result = node({'registry': registry, 'name': 'rack1-u07', 'role': 'compute', 'action': 'manage'}, check=True)
    assert result.changed and result['node']['role'] == 'compute' and result['node']['state'] == 'manageable'
    assert open(registry, 'rb').read() == original


def test_diff_and_role(registry):
    results = node_tasks(registry, [
        {'bmc': {'address': '127.0.1.7'}},
        {'role': 'compute'},
        {'role': 'compute'},
        {'role': 'none', 'properties': {'rack': 'rack1', 'unit': 7}},
    ], diff=True)
    enroll, role, again, clear = results
    assert enroll['diff']['before'] == ''
    assert yaml.safe_load(enroll['diff']['after']) == {'rack1-u07': enroll['node']}
    assert role.changed and role['node']['role'] == 'compute'
    assert yaml.safe_load(role['diff']['before'])['rack1-u07']['role'] is None
    assert yaml.safe_load(role['diff']['after'])['rack1-u07']['role'] == 'compute'
    assert not again.changed and again['diff']['before'] == again['diff']['after']
    assert clear.changed and clear['node']['role'] is None
    assert on_disk(registry)['nodes']['rack1-u07']['properties'] == {'rack': 'rack1', 'unit': 7}


def test_lifecycle_walk_and_guards(registry):
    results = node_tasks(registry, [
        {'bmc': {'address': '127.0.1.7'}},
        {'action': 'manage'},
        {'action': 'provide'},
        {'action': 'provide'},      # already available: no error, no change
        {'action': 'deploy'},
        {'action': 'activate'},
        {'action': 'retire'},       # active: needs force
        {'state': 'absent'},        # not retired: refused
        {'action': 'retire', 'force': True},
        {'state': 'absent'},
        {'state': 'absent'},
    ])
    states = [(r.get('previous_state'), r.get('node', {}).get('state'), r.changed, r.failed) for r in results]
    assert states[:6] == [
        (None, 'enrolled', True, False),
        ('enrolled', 'manageable', True, False),
        ('manageable', 'available', True, False),
        ('available', 'available', False, False),
        ('available', 'deploying', True, False),
        ('deploying', 'active', True, False),
    ], results
    retire, absent = results[6], results[7]
    assert retire.failed and retire['error_kind'] == 'transition'
    assert retire['msg'] == 'node rack1-u07: retire of an active node needs force: true'
    assert absent.failed and 'only a retired node is removed, this one is active' in absent['msg']
    assert results[8].changed and results[8]['node']['state'] == 'retired'
    assert results[9].changed and results[9]['node'] == {} and results[9]['previous_state'] == 'retired'
    assert not results[10].changed and not results[10].failed
    assert on_disk(registry) == {'version': 1, 'nodes': {}}


@pytest.mark.parametrize('name', ['../etc/passwd', 'a/b', 'a..b'])
def test_bad_name_is_refused_and_nothing_written(registry, name):
    result = node({'registry': registry, 'name': name})
    assert result.failed and result['error_kind'] == 'invalid_input'
    assert 'not a valid node name' in result['msg']
    assert os.listdir(os.path.dirname(registry)) == []


def test_invalid_record_is_refused_and_nothing_written(registry):
    node(dict(ENROLL, registry=registry))
    original = open(registry, 'rb').read()
    results = run_tasks([
        {'datacenter.iaas.node': {'registry': registry, 'name': 'rack1-u08',
                                  'hardware': {'nics': [{'mac': '52:54:00:aa:bb:07'}]}}},
        {'datacenter.iaas.node': {'registry': registry, 'name': 'rack1-u07', 'provisioning': {'ip': '10.0.0.300'}}},
        {'datacenter.iaas.node': {'registry': registry, 'name': 'rack1-u07', 'state': 'absent', 'role': 'compute'}},
    ], env=ENV)
    duplicate, bad_ip, absent_with_role = results
    assert duplicate.failed and duplicate['error_kind'] == 'invalid_input'
    assert duplicate['msg'] == 'MAC 52:54:00:aa:bb:07 is on both node rack1-u07 and node rack1-u08'
    assert bad_ip.failed and "provisioning.ip: '10.0.0.300' is not an IP address" in bad_ip['msg']
    assert absent_with_role.failed and 'takes no role' in absent_with_role['msg']
    assert open(registry, 'rb').read() == original
