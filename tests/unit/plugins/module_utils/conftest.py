# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures of the module_utils unit tests: a small fake BMC farm.

``fake_bmcs`` replaces the ``connect`` factory where the core imported it
(power, fleet, discovery), so the core talks to ``FakeClient`` objects that
record every call and change the state of a simulated machine.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import discovery, fleet, power
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import BmcAuthError, BmcUnreachable

FINAL = {'on': 'on', 'off': 'off', 'shutdown': 'off', 'reset': 'on', 'cycle': 'on'}


class FakeMachine(object):
    """One simulated server behind its BMC."""

    def __init__(self, address, power='off', boot='disk', persistent=False, uefi=None, readback=None,
                 username='admin', password='secret', identity=None, macs=None, delay=0.0):
        self.address = address
        self.power = power
        self.boot = {'device': boot, 'persistent': persistent, 'uefi': uefi}
        self.readback = readback  # forced boot device read back after a set (a quirky BMC)
        self.username = username
        self.password = password
        self.identity = identity if identity is not None else {'vendor': 'Acme', 'model': 'X1', 'serial': None, 'uuid': None}
        self.macs = macs if macs is not None else []
        self.delay = delay
        self.calls = []
        self.times = {}
        self.lock = threading.Lock()

    def record(self, name, *args):
        with self.lock:
            self.calls.append((name,) + args)
            self.times.setdefault(name, []).append(time.monotonic())

    def names(self):
        return [call[0] for call in self.calls]

    def writes(self):
        return [call for call in self.calls if call[0] in ('set_power', 'set_boot_device')]


class FakeClient(object):
    """What ``bmc.connect`` returns: the BmcClient interface over a FakeMachine."""

    def __init__(self, target, machine):
        self.target = target
        self.machine = machine
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self.closed = True
        self.machine.record('close')

    def power_state(self):
        self.machine.record('power_state')
        return self.machine.power

    def set_power(self, action):
        self.machine.record('set_power', action)
        self.machine.power = FINAL[action]

    def wait_power(self, wanted, timeout):
        self.machine.record('wait_power', wanted, timeout)
        return self.machine.power

    def boot_device(self):
        self.machine.record('boot_device')
        return dict(self.machine.boot)

    def set_boot_device(self, device, persistent=False, uefi=None):
        self.machine.record('set_boot_device', device, persistent, uefi)
        read = self.machine.readback or device
        self.machine.boot = {'device': read, 'persistent': persistent, 'uefi': uefi}

    def identity(self):
        self.machine.record('identity')
        return dict(self.machine.identity)

    def macs(self):
        self.machine.record('macs')
        return list(self.machine.macs)

    def health(self):
        self.machine.record('health')
        return {'health': 'ok', 'problems': []}


class FakeFarm(object):
    """Machines by BMC address; ``connect`` is the fake factory."""

    def __init__(self):
        self.machines = {}
        self.connects = []
        self.lock = threading.Lock()

    def add(self, address, **kwargs):
        machine = FakeMachine(address, **kwargs)
        self.machines[address] = machine
        return machine

    def connect(self, target):
        with self.lock:
            self.connects.append(target)
        machine = self.machines.get(target.address)
        if machine is None:
            raise BmcUnreachable('no answer', node=target.name, address=target.endpoint)
        if machine.delay:
            time.sleep(machine.delay)
        if (target.username, target.password) != (machine.username, machine.password):
            raise BmcAuthError('login refused', node=target.name, address=target.endpoint)
        return FakeClient(target, machine)


@pytest.fixture
def fake_bmcs(monkeypatch):
    """A FakeFarm wired in as the ``connect`` factory of power, fleet and discovery."""
    farm = FakeFarm()
    for module in (power, fleet, discovery):
        monkeypatch.setattr(module, 'connect', farm.connect)
    return farm
