# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures: real simulated BMCs on loopback, and registry files."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for path in (ROOT, os.path.join(ROOT, '.build', 'collections'), os.path.dirname(os.path.abspath(__file__))):
    if path not in sys.path:
        sys.path.insert(0, path)

from lab.virtbmc import BmcFarm, make_specs  # noqa: E402

USERNAME = 'admin'
PASSWORD = 'lab-Secret-42'


@pytest.fixture(scope='module')
def farm():
    """Six pyghmi-based BMCs on 127.51.0.1-6:623, one worker process."""
    with BmcFarm(make_specs(6, '127.51.0.0/24'), username=USERNAME, password=PASSWORD) as bmcs:
        yield bmcs


@pytest.fixture
def bmcs(farm):
    """The farm with every BMC alive, off and booting from its default device."""
    for spec in farm.specs:
        farm.revive(spec['name'])
        farm.set_power(spec['name'], 'off')
        farm.set_boot(spec['name'], 'default')
    return farm


def write_registry(path, nodes):
    with open(str(path), 'w') as handle:
        yaml.safe_dump({'version': 1, 'nodes': nodes}, handle)
    os.chmod(str(path), 0o600)
    return str(path)


def registry_node(spec, state='available', protected=False, credential='default'):
    return {
        'state': state, 'role': None, 'protected': protected,
        'bmc': {'address': spec['address'], 'port': spec['port'], 'protocol': 'ipmi', 'credential': credential},
        'hardware': {'serial': spec['serial']},
    }


def one(spec, **extra):
    """Module arguments for one farm BMC."""
    args = {'bmc_address': spec['address'], 'bmc_port': spec['port'], 'username': USERNAME,
            'password': PASSWORD, 'name': spec['name']}
    args.update(extra)
    return args


def fleet(specs, **extra):
    args = {'nodes': [{'name': s['name'], 'address': s['address'], 'port': s['port'], 'credential': 'default'}
                      for s in specs],
            'credentials': {'default': {'username': USERNAME, 'password': PASSWORD}}}
    args.update(extra)
    return args


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: boots QEMU virtual machines')
