# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the fleet runner (plugins/module_utils/fleet.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import functools
import threading
import time

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import fleet
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import (
    BmcAuthError, BmcTimeout, BmcUnreachable, IaasError, InputError)


class Gauge(object):
    """Counts how many calls run at the same time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def call(self, value, seconds=0.02):
        def run():
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                time.sleep(seconds)
                return value
            finally:
                with self.lock:
                    self.active -= 1
        return run


@pytest.fixture
def release():
    """An event that blocked calls wait on; set at teardown so no thread outlives its test for long."""
    event = threading.Event()
    yield event
    event.set()


def test_results_for_every_name():
    outcomes = fleet.run([('n%d' % index, functools.partial(pow, index, 2)) for index in range(20)], concurrency=4)
    assert sorted(outcomes) == sorted('n%d' % index for index in range(20))
    for index in range(20):
        outcome = outcomes['n%d' % index]
        assert (outcome.name, outcome.ok, outcome.value, outcome.error) == ('n%d' % index, True, index * index, None)
        assert outcome.seconds >= 0


def test_no_tasks():
    assert fleet.run([]) == {}


@pytest.mark.parametrize('concurrency, expected_peak', [(3, 3), (1, 1), (0, 1), (50, 8)])
def test_concurrency_bound(concurrency, expected_peak):
    gauge = Gauge()
    outcomes = fleet.run([('n%d' % index, gauge.call(index)) for index in range(8)], concurrency=concurrency)
    assert len(outcomes) == 8 and all(outcome.ok for outcome in outcomes.values())
    assert gauge.peak <= expected_peak
    if expected_peak > 1:
        assert gauge.peak >= 2  # they really overlap


def test_overrun_is_a_timeout_reported_promptly(release):
    def slow():
        release.wait(10)
        return 'late'
    gauge = Gauge()
    tasks = [('slow', slow)] + [('n%d' % index, gauge.call(index, 0.02)) for index in range(6)]
    started = time.monotonic()
    outcomes = fleet.run(tasks, concurrency=2, deadline=0.3, addresses={'slow': '10.0.0.9:623'})
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 + 0.5
    assert elapsed >= 0.3
    error = outcomes['slow'].error
    assert outcomes['slow'].ok is False
    assert isinstance(error, BmcTimeout)
    assert error.kind == 'timeout'
    assert (error.node, error.address) == ('slow', '10.0.0.9:623')
    assert '0.3s deadline' in str(error)
    assert outcomes['slow'].seconds >= 0.3
    assert all(outcomes['n%d' % index].ok for index in range(6))


def test_a_replacement_worker_keeps_the_queue_moving(release):
    # One worker only; its first call hangs: the rest still run once it is abandoned,
    # and the abandoned call's late answer does not replace its timeout.
    def slow():
        release.wait(10)
        return 'late'
    outcomes = fleet.run([('slow', slow), ('a', lambda: 'a'), ('b', lambda: 'b')], concurrency=1, deadline=0.2)
    assert outcomes['slow'].error.kind == 'timeout'
    assert (outcomes['a'].value, outcomes['b'].value) == ('a', 'b')
    release.set()
    time.sleep(0.05)
    assert outcomes['slow'].ok is False
    assert outcomes['slow'].value is None


def test_overrun_reported_promptly_when_nothing_else_finishes(release):
    def slow():
        release.wait(10)
    started = time.monotonic()
    outcomes = fleet.run([('a', slow), ('b', slow)], concurrency=2, deadline=0.2)
    assert [outcomes[name].error.kind for name in 'ab'] == ['timeout'] * 2
    assert time.monotonic() - started < 0.2 + 0.5


def test_an_exception_fails_only_its_node():
    def refuse():
        raise BmcAuthError('login refused', address='10.0.0.7:623')
    outcomes = fleet.run([('good', lambda: 1), ('bad', refuse), ('also-good', lambda: 2)], concurrency=2)
    assert (outcomes['good'].value, outcomes['also-good'].value) == (1, 2)
    error = outcomes['bad'].error
    assert outcomes['bad'].ok is False
    assert isinstance(error, BmcAuthError)
    assert error.node == 'bad'  # filled in when the core left it empty
    assert 'node bad' in str(error) and '10.0.0.7:623' in str(error)


def test_a_node_already_named_keeps_its_name():
    def fail():
        raise BmcUnreachable('no answer', node='rack1-u05')
    assert fleet.run([('x', fail)])['x'].error.node == 'rack1-u05'


def test_unexpected_exception_is_wrapped():
    def crash():
        raise ZeroDivisionError('division by zero')
    error = fleet.run([('n1', crash)])['n1'].error
    assert error.__class__ is IaasError
    assert error.node == 'n1'
    assert error.kind == 'error'
    assert 'unexpected ZeroDivisionError: division by zero' in str(error)


def test_duplicate_names_are_refused():
    with pytest.raises(InputError):
        fleet.run([('a', lambda: 1), ('b', lambda: 2), ('a', lambda: 3)])


# ---------------------------------------------------------------------------
# target_for_node and power_states

CREDENTIALS = {'default': {'username': 'admin', 'password': 'secret'},
               'rack2': {'username': 'root', 'password': 'calvin', 'kg': 'K'}}


def test_target_for_node():
    node = {'bmc': {'address': '10.0.0.5', 'port': 6230, 'protocol': 'redfish', 'credential': 'rack2'}}
    tgt = fleet.target_for_node('rack1-u05', node, CREDENTIALS, retries=0, validate_certs=False)
    assert (tgt.name, tgt.address, tgt.port, tgt.protocol) == ('rack1-u05', '10.0.0.5', 6230, 'redfish')
    assert (tgt.username, tgt.password, tgt.kg, tgt.retries, tgt.validate_certs) == ('root', 'calvin', 'K', 0, False)


def test_target_for_node_defaults():
    tgt = fleet.target_for_node('n', {'bmc': {'address': '10.0.0.5'}}, CREDENTIALS)
    assert (tgt.port, tgt.protocol, tgt.username) == (623, 'ipmi', 'admin')


def test_target_for_node_missing_credential_set():
    node = {'bmc': {'address': '10.0.0.5', 'credential': 'rack9'}}
    with pytest.raises(InputError) as caught:
        fleet.target_for_node('rack1-u05', node, CREDENTIALS)
    text = str(caught.value)
    assert 'rack9' in text and 'rack1-u05' in text
    assert 'default, rack2' in text
    with pytest.raises(InputError) as caught:
        fleet.target_for_node('rack1-u05', node, None)
    assert 'none' in str(caught.value)


@pytest.mark.parametrize('node', [{}, {'bmc': None}, {'bmc': {}}, {'bmc': {'address': ''}}])
def test_target_for_node_missing_address(node):
    with pytest.raises(InputError) as caught:
        fleet.target_for_node('rack1-u05', node, CREDENTIALS)
    assert 'rack1-u05' in str(caught.value)
    assert 'BMC address' in str(caught.value)


def test_power_states(fake_bmcs):
    fake_bmcs.add('10.0.0.1', power='on')
    fake_bmcs.add('10.0.0.2', power='off')
    fake_bmcs.add('10.0.0.3', password='other')
    nodes = {
        'a': {'bmc': {'address': '10.0.0.1'}},
        'b': {'bmc': {'address': '10.0.0.2'}},
        'c': {'bmc': {'address': '10.0.0.3'}},
        'd': {'bmc': {'address': '10.0.0.4'}},
        'e': {'bmc': {}},
    }
    states = fleet.power_states(nodes, {'default': {'username': 'admin', 'password': 'secret'}}, timeout=1.0)
    assert sorted(states) == ['a', 'b', 'c', 'd', 'e']
    assert states['a'] == {'power': 'on', 'error': None}
    assert states['b'] == {'power': 'off', 'error': None}
    assert states['c']['power'] is None and 'login refused' in states['c']['error']
    assert states['d']['power'] is None and 'no answer' in states['d']['error']
    assert states['e']['power'] is None and 'BMC address' in states['e']['error']
    assert all(target.retries == 0 for target in fake_bmcs.connects)
