# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the power decisions (plugins/module_utils/power.py) against fake BMCs (see conftest.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import time

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import fleet, power
from ansible_collections.datacenter.iaas.plugins.module_utils.bmc import BmcTarget
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import BmcError


def target(address='10.0.0.5', name='rack1-u05'):
    return BmcTarget(address, 'admin', 'secret', name=name)


# state, machine power before -> changed, power writes, final power
TABLE = [
    ('on', 'on', False, [], 'on'),
    ('on', 'off', True, [('set_power', 'on')], 'on'),
    ('off', 'on', True, [('set_power', 'off')], 'off'),
    ('off', 'off', False, [], 'off'),
    ('shutdown', 'on', True, [('set_power', 'shutdown')], 'off'),
    ('shutdown', 'off', False, [], 'off'),
    ('reset', 'on', True, [('set_power', 'reset')], 'on'),
    ('reset', 'off', True, [('set_power', 'on')], 'on'),
    ('cycle', 'on', True, [('set_power', 'cycle')], 'on'),
    ('cycle', 'off', True, [('set_power', 'on')], 'on'),
    ('query', 'on', False, [], 'on'),
    ('query', 'off', False, [], 'off'),
]


@pytest.mark.parametrize('state, before, changed, writes, final', TABLE)
def test_decision_table(fake_bmcs, state, before, changed, writes, final):
    machine = fake_bmcs.add('10.0.0.5', power=before)
    result = power.apply_power(target(), state)
    assert result == {'name': 'rack1-u05', 'address': '10.0.0.5:623', 'protocol': 'ipmi', 'changed': changed,
                      'power_before': before, 'power': final}
    assert machine.writes() == writes
    assert machine.power == final
    assert machine.names()[-1] == 'close'
    assert 'wait_power' not in machine.names()


@pytest.mark.parametrize('state, before, changed, writes, final', TABLE)
def test_check_mode_predicts_without_writing(fake_bmcs, state, before, changed, writes, final):
    machine = fake_bmcs.add('10.0.0.5', power=before)
    result = power.apply_power(target(), state, check_mode=True, wait=True)
    assert (result['changed'], result['power_before'], result['power']) == (changed, before, final)
    assert machine.writes() == []
    assert machine.power == before
    assert 'wait_power' not in machine.names()


@pytest.mark.parametrize('state, before, wanted', [
    ('on', 'off', 'on'), ('on', 'on', 'on'), ('off', 'on', 'off'), ('shutdown', 'on', 'off'),
    ('reset', 'off', 'on'), ('reset', 'on', 'on'), ('cycle', 'on', 'on'),
])
def test_wait_waits_for_the_final_state(fake_bmcs, state, before, wanted):
    machine = fake_bmcs.add('10.0.0.5', power=before)
    power.apply_power(target(), state, wait=True, wait_timeout=42.0)
    assert [call for call in machine.calls if call[0] == 'wait_power'] == [('wait_power', wanted, 42.0)]


def test_query_never_waits(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='off')
    power.apply_power(target(), 'query', wait=True)
    assert 'wait_power' not in machine.names()


def test_unknown_machine_error_propagates(fake_bmcs):
    with pytest.raises(BmcError):
        power.apply_power(target('10.0.0.99'), 'on')


# ---------------------------------------------------------------------------
# boot device

def test_boot_device_set_before_power_on_when_it_differs(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='off', boot='disk')
    warnings = []
    result = power.apply_power(target(), 'on', boot_device='pxe', warnings=warnings)
    assert machine.writes() == [('set_boot_device', 'pxe', False, None), ('set_power', 'on')]
    assert result['changed'] is True
    assert result['boot_before'] == {'device': 'disk', 'persistent': False, 'uefi': None}
    assert result['boot_device'] == {'device': 'pxe', 'persistent': False, 'uefi': None}
    assert warnings == []


def test_boot_device_alone_is_a_change(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='off', boot='disk')
    result = power.apply_power(target(), 'off', boot_device='pxe')
    assert machine.writes() == [('set_boot_device', 'pxe', False, None)]
    assert result['changed'] is True


def test_boot_device_not_set_when_equal(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='off', boot='pxe', persistent=True, uefi=True)
    result = power.apply_power(target(), 'off', boot_device='pxe', boot_persistent=True, uefi=True)
    assert machine.writes() == []
    assert result['changed'] is False
    assert result['boot_device'] == {'device': 'pxe', 'persistent': True, 'uefi': True}


@pytest.mark.parametrize('current, persistent, uefi, differs', [
    (dict(boot='pxe', persistent=False, uefi=True), True, None, True),      # one-shot -> persistent
    (dict(boot='pxe', persistent=True, uefi=True), False, None, False),     # persistent meets a one-shot request
    (dict(boot='pxe', persistent=False, uefi=True), False, False, True),    # UEFI -> legacy
    (dict(boot='pxe', persistent=False, uefi=True), False, None, False),    # mode left to the BMC
    (dict(boot='pxe', persistent=False, uefi=None), False, True, False),    # BMC does not say its mode
    (dict(boot='default', persistent=True, uefi=True), False, False, False),  # default is default
])
def test_boot_device_comparison(fake_bmcs, current, persistent, uefi, differs):
    device = current['boot']
    machine = fake_bmcs.add('10.0.0.5', power='off', **current)
    result = power.apply_power(target(), 'off', boot_device=device, boot_persistent=persistent, uefi=uefi)
    assert result['changed'] is differs
    assert bool(machine.writes()) is differs


def test_persistent_setting_for_a_one_shot_request_is_a_warning(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='off', boot='pxe', persistent=True)
    warnings = []
    result = power.apply_power(target(), 'on', boot_device='pxe', warnings=warnings)
    assert machine.writes() == [('set_power', 'on')]
    assert result['boot_device'] == {'device': 'pxe', 'persistent': True, 'uefi': None}
    assert len(warnings) == 1 and 'every boot' in warnings[0] and 'rack1-u05' in warnings[0]
    assert power.apply_power(target(), 'off', boot_device='pxe')['changed'] is True  # no list: no warning, no error


@pytest.mark.parametrize('boot, persistent, wanted', [('default', True, 'default'), ('pxe', False, 'pxe'),
                                                      ('pxe', True, 'disk')])
def test_no_persistence_warning_otherwise(fake_bmcs, boot, persistent, wanted):
    fake_bmcs.add('10.0.0.5', power='off', boot=boot, persistent=persistent)
    warnings = []
    power.apply_power(target(), 'off', boot_device=wanted, warnings=warnings)
    assert warnings == []


def test_one_shot_boot_skipped_when_on_and_already_on(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='on', boot='disk')
    result = power.apply_power(target(), 'on', boot_device='pxe')
    assert result['changed'] is False
    assert 'boot_device' not in machine.names()
    assert machine.writes() == []
    assert 'boot_device' not in result


def test_persistent_boot_set_even_when_on_and_already_on(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='on', boot='disk')
    result = power.apply_power(target(), 'on', boot_device='pxe', boot_persistent=True)
    assert result['changed'] is True
    assert machine.writes() == [('set_boot_device', 'pxe', True, None)]


@pytest.mark.parametrize('state', ['reset', 'cycle'])
def test_one_shot_boot_set_for_a_reboot_of_a_running_machine(fake_bmcs, state):
    machine = fake_bmcs.add('10.0.0.5', power='on', boot='disk')
    power.apply_power(target(), state, boot_device='pxe')
    assert machine.writes() == [('set_boot_device', 'pxe', False, None), ('set_power', state)]


def test_boot_check_mode(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='off', boot='disk')
    result = power.apply_power(target(), 'on', boot_device='pxe', uefi=True, check_mode=True)
    assert machine.writes() == []
    assert result['changed'] is True
    assert result['boot_device'] == {'device': 'pxe', 'persistent': False, 'uefi': True}
    assert result['power'] == 'on'


def test_boot_read_back_default_is_a_warning(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='off', boot='disk', readback='default')
    warnings = []
    result = power.apply_power(target(), 'on', boot_device='pxe', warnings=warnings)
    assert result['changed'] is True
    assert result['power'] == 'on'
    assert result['boot_device']['device'] == 'default'
    assert len(warnings) == 1
    assert 'rack1-u05' in warnings[0] and 'pxe' in warnings[0] and 'default' in warnings[0]
    assert machine.writes()[-1] == ('set_power', 'on')


def test_boot_read_back_of_another_device_is_an_error(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='off', boot='disk', readback='cdrom')
    warnings = []
    with pytest.raises(BmcError) as caught:
        power.apply_power(target(), 'on', boot_device='pxe', warnings=warnings)
    assert 'reads back cdrom after setting pxe' in str(caught.value)
    assert caught.value.node == 'rack1-u05'
    assert warnings == []
    assert ('set_power', 'on') not in machine.writes()  # no power-on into the wrong device
    assert machine.names()[-1] == 'close'


def test_boot_read_back_default_without_a_warnings_list(fake_bmcs):
    fake_bmcs.add('10.0.0.5', power='off', boot='disk', readback='default')
    assert power.apply_power(target(), 'on', boot_device='pxe')['power'] == 'on'


def test_query_with_boot_device_sets_only_the_boot_device(fake_bmcs):
    machine = fake_bmcs.add('10.0.0.5', power='on', boot='disk')
    result = power.apply_power(target(), 'query', boot_device='pxe')
    assert [call[0] for call in machine.writes()] == ['set_boot_device']
    assert result['changed'] is True and result['power'] == 'on'


# ---------------------------------------------------------------------------
# stagger

def test_stagger_spreads_power_ons(fake_bmcs):
    machines = [fake_bmcs.add('10.0.1.%d' % index, power='off') for index in range(5)]
    stagger = power.Stagger(2, 0.2)
    tasks = [('n%d' % index, functools.partial(power.apply_power, target(machine.address, 'n%d' % index), 'on',
                                               stagger=stagger)) for index, machine in enumerate(machines)]
    started = time.monotonic()
    outcomes = fleet.run(tasks, concurrency=5, deadline=5.0)
    assert all(outcome.ok for outcome in outcomes.values())
    starts = sorted(machine.times['set_power'][0] for machine in machines)
    assert starts[1] - starts[0] < 0.15          # the first batch of two goes at once
    assert starts[2] - started >= 0.2            # the second batch one delay later
    assert starts[4] - started >= 0.4            # the fifth power-on two delays later
    assert starts[4] - starts[0] >= 0.38
    assert starts[4] - started < 1.5


def test_stagger_is_not_used_for_machines_already_on_nor_in_check_mode(fake_bmcs):
    stagger = power.Stagger(1, 5.0)
    fake_bmcs.add('10.0.0.5', power='on')
    fake_bmcs.add('10.0.0.6', power='off')
    started = time.monotonic()
    power.apply_power(target('10.0.0.5'), 'on', stagger=stagger)
    power.apply_power(target('10.0.0.6'), 'on', stagger=stagger, check_mode=True)
    power.apply_power(target('10.0.0.6'), 'on', stagger=stagger)  # the first real power-on: no wait
    assert time.monotonic() - started < 1.0


def test_stagger_batch_size_at_least_one():
    stagger = power.Stagger(0, 0.0)
    assert stagger.batch_size == 1
    stagger.wait_turn()
    stagger.wait_turn()
