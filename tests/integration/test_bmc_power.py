# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bmc_power against real simulated BMCs, cross-checked out of band and with ipmitool."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import subprocess
import time

from ansible_runner import run_module
from conftest import PASSWORD, USERNAME, fleet, one, registry_node, write_registry


def ipmitool(spec, *args):
    cmd = ['ipmitool', '-I', 'lanplus', '-C', '3', '-H', spec['address'], '-p', str(spec['port']),
           '-U', USERNAME, '-P', PASSWORD] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout


def test_on_changes_once_then_not(bmcs):
    spec = bmcs.specs[0]
    first = run_module('bmc_power', one(spec, state='on'))
    assert not first.failed, first
    assert first.changed and first['power'] == 'on'
    assert bmcs.state(spec['name'])['power'] == 'on'
    assert 'Chassis Power is on' in ipmitool(spec, 'power', 'status')
    second = run_module('bmc_power', one(spec, state='on'))
    assert not second.failed and not second.changed


def test_check_mode_changes_nothing_on_the_bmc(bmcs):
    spec = bmcs.specs[1]
    result = run_module('bmc_power', one(spec, state='on', boot_device='pxe'), check=True, diff=True)
    assert result.changed and not result.failed
    assert result['diff']['after'][spec['name']]['power'] == 'on'
    state = bmcs.state(spec['name'])
    assert state['power'] == 'off' and state['boot'] == 'default'


def test_one_shot_pxe_then_power_on(bmcs):
    spec = bmcs.specs[2]
    result = run_module('bmc_power', one(spec, state='on', boot_device='pxe'), diff=True)
    assert result.changed, result
    node = result['nodes'][0]
    assert node['boot_device']['device'] == 'pxe' and node['boot_device']['persistent'] is False
    assert result['diff']['before'][spec['name']]['power'] == 'off'
    # The simulated machine consumed the one-shot PXE boot when it powered on.
    assert bmcs.state(spec['name'])['booted_from'] == 'pxe'
    # Already on: the one-shot setting is not re-armed, nothing changes.
    again = run_module('bmc_power', one(spec, state='on', boot_device='pxe'))
    assert not again.changed, again


def test_persistent_boot_device_read_back_with_ipmitool(bmcs):
    spec = bmcs.specs[3]
    result = run_module('bmc_power', one(spec, state='query', boot_device='disk', boot_persistent=True))
    assert result.changed and not result.failed
    out = ipmitool(spec, 'chassis', 'bootparam', 'get', '5')
    assert 'Force Boot from default Hard-Drive' in out
    assert 'Options apply to all future boots' in out
    assert not run_module('bmc_power', one(spec, state='query', boot_device='disk', boot_persistent=True)).changed


def test_off_reset_cycle(bmcs):
    spec = bmcs.specs[0]
    bmcs.set_power(spec['name'], 'on')
    assert run_module('bmc_power', one(spec, state='reset')).changed
    assert bmcs.state(spec['name'])['power'] == 'on'
    result = run_module('bmc_power', one(spec, state='off', wait=True, wait_timeout=10))
    assert result.changed and result['power'] == 'off'
    assert bmcs.state(spec['name'])['power'] == 'off'
    assert not run_module('bmc_power', one(spec, state='off')).changed
    cycled = run_module('bmc_power', one(spec, state='cycle', wait=True, wait_timeout=10))
    assert cycled.changed and cycled['power'] == 'on'


def test_fleet_with_a_dead_bmc_reports_it_and_does_the_rest(bmcs):
    dead = bmcs.specs[4]['name']
    bmcs.kill(dead)
    started = time.monotonic()
    result = run_module('bmc_power', fleet(bmcs.specs, state='on', timeout=6, retries=0))
    elapsed = time.monotonic() - started
    assert result.failed
    assert result['failed_nodes'] == [dead]
    assert dead in result['msg']
    assert elapsed < 20, elapsed
    for spec in bmcs.specs:
        if spec['name'] != dead:
            assert bmcs.state(spec['name'])['power'] == 'on'
    tolerated = run_module('bmc_power', fleet(bmcs.specs, state='query', timeout=6, retries=0, max_failed_nodes=1))
    assert not tolerated.failed and tolerated['failed_nodes'] == [dead]
    dead_report = [n for n in tolerated['nodes'] if n['name'] == dead][0]
    assert dead_report['error_kind'] in ('unreachable', 'timeout')


def test_wrong_password_is_bad_credentials(bmcs):
    spec = bmcs.specs[0]
    result = run_module('bmc_power', dict(one(spec, state='query'), password='not-the-password'))
    assert result.failed
    assert result['error_kind'] == 'bad_credentials'
    assert 'not-the-password' not in str(result)


def test_nothing_answers_within_bounded_time():
    started = time.monotonic()
    result = run_module('bmc_power', {'bmc_address': '127.51.9.9', 'username': USERNAME, 'password': PASSWORD,
                                      'state': 'query', 'timeout': 4, 'retries': 1})
    assert result.failed
    assert result['error_kind'] in ('unreachable', 'timeout')
    assert '127.51.9.9' in result['msg']
    assert time.monotonic() - started < 15


def test_registry_guards_active_and_protected_nodes(bmcs, tmp_path):
    specs = bmcs.specs
    for spec in specs[:3]:
        bmcs.set_power(spec['name'], 'on')
    registry = write_registry(tmp_path / 'registry.yml', {
        'active-1': registry_node(specs[0], state='active'),
        'spare-1': registry_node(specs[1], protected=True),
        'free-1': registry_node(specs[2]),
    })
    creds = {'default': {'username': USERNAME, 'password': PASSWORD}}
    refused = run_module('bmc_power', {'registry': registry, 'credentials': creds, 'state': 'off'})
    assert refused.failed
    assert sorted(refused['failed_nodes']) == ['active-1', 'spare-1']
    assert all(n['error_kind'] == 'transition' for n in refused['nodes'] if n['failed'])
    assert bmcs.state(specs[0]['name'])['power'] == 'on'
    assert bmcs.state(specs[2]['name'])['power'] == 'off'
    forced = run_module('bmc_power', {'registry': registry, 'credentials': creds, 'name': 'active-1',
                                      'state': 'off', 'force': True})
    assert forced.changed and not forced.failed
    assert bmcs.state(specs[0]['name'])['power'] == 'off'


def test_stagger_paces_power_ons(bmcs):
    started = time.monotonic()
    result = run_module('bmc_power', fleet(bmcs.specs[:4], state='on', stagger={'batch_size': 2, 'delay': 2}))
    assert result.changed and not result.failed
    assert result['summary']['on'] == 4
    assert time.monotonic() - started >= 2


def test_lossy_bmc_answers_with_retries():
    from lab.virtbmc import BmcFarm, make_specs
    with BmcFarm(make_specs(3, '127.51.1.0/24'), username=USERNAME, password=PASSWORD, drop_rate=0.2, seed=7) as lossy:
        result = run_module('bmc_power', fleet(lossy.specs, state='on', retries=3, timeout=40))
        assert not result.failed, result
        assert all(lossy.state(spec['name'])['power'] == 'on' for spec in lossy.specs)


def test_module_defaults_action_group_carries_credentials(bmcs):
    from ansible_runner import run_tasks
    spec = bmcs.specs[5]
    task = {
        'module_defaults': {'group/datacenter.iaas.bmc': {'username': USERNAME, 'password': PASSWORD,
                                                          'bmc_port': spec['port']}},
        'datacenter.iaas.bmc_info': {'bmc_address': spec['address'], 'gather': ['power', 'identity']},
    }
    result = run_tasks([task])[0]
    assert not result.failed, result
    assert result['nodes'][0]['identity']['serial'] == spec['serial']
