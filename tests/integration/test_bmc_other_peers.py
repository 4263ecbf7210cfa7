# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bmc_power and bmc_info against independent BMC implementations: OpenIPMI's ipmi_sim and sushy-tools' Redfish."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import subprocess

import pytest

from ansible_runner import run_module

from lab import free_port
from lab.ipmisim import IpmiSim
from lab.redfish import RedfishEmulator

SIM_PASSWORD = 'sim-Secret-7'
RF_PASSWORD = 'rf-Secret-8'


@pytest.fixture(scope='module')
def ipmi_sim():
    with IpmiSim(port=free_port(), username='admin', password=SIM_PASSWORD, serial='OPENIPMI-0042') as sim:
        yield sim


@pytest.fixture(scope='module')
def redfish():
    with RedfishEmulator(port=free_port(socket.SOCK_STREAM), username='admin', password=RF_PASSWORD) as emulator:
        yield emulator


def sim_args(sim, **extra):
    args = {'bmc_address': '127.0.0.1', 'bmc_port': sim.port, 'username': 'admin', 'password': SIM_PASSWORD}
    args.update(extra)
    return args


def rf_args(emulator, **extra):
    args = {'bmc_address': '127.0.0.1', 'bmc_port': emulator.port, 'protocol': 'redfish', 'username': 'admin',
            'password': RF_PASSWORD, 'validate_certs': False}
    args.update(extra)
    return args


def test_ipmi_sim_power_on_with_pxe_warns_about_read_back(ipmi_sim):
    ipmi_sim.set_power('off')
    result = run_module('bmc_power', sim_args(ipmi_sim, state='on', boot_device='pxe'))
    assert not result.failed, result
    assert result.changed
    # ipmi_sim never marks the boot flags valid: it reads back "default" and we only warn.
    assert any('reads back default' in warning for warning in result.get('warnings', []))
    state = ipmi_sim.state()
    assert state['power'] == 'on' and state['boot'] == 'pxe'
    status = subprocess.run(['ipmitool', '-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', str(ipmi_sim.port),
                             '-U', 'admin', '-P', SIM_PASSWORD, 'power', 'status'],
                            capture_output=True, text=True, timeout=30, check=True).stdout
    assert 'on' in status
    assert not run_module('bmc_power', sim_args(ipmi_sim, state='on')).changed


def test_ipmi_sim_identity_from_fru(ipmi_sim):
    result = run_module('bmc_info', sim_args(ipmi_sim, gather=['power', 'identity']))
    assert not result.failed, result
    node = result['nodes'][0]
    assert node['identity']['serial'] == 'OPENIPMI-0042'
    assert node['power'] in ('on', 'off')


def test_ipmi_sim_cipher_suite_17_falls_back_to_3(ipmi_sim):
    result = run_module('bmc_info', sim_args(ipmi_sim, gather=['power'], cipher_suite=17))
    assert not result.failed, result


def test_redfish_power_and_boot(redfish):
    name = redfish.systems[0]['name']
    result = run_module('bmc_power', rf_args(redfish, state='on', boot_device='pxe', wait=True, wait_timeout=30))
    assert not result.failed, result
    assert result.changed and result['power'] == 'on'
    assert redfish.state(name)['power'] == 'on'
    again = run_module('bmc_power', rf_args(redfish, state='query', boot_device='pxe'))
    assert not again.changed, again
    off = run_module('bmc_power', rf_args(redfish, state='off', wait=True, wait_timeout=30))
    assert off.changed and redfish.state(name)['power'] == 'off'


def test_redfish_info_has_macs_and_uuid(redfish):
    result = run_module('bmc_info', rf_args(redfish, gather=['power', 'identity', 'macs', 'health']))
    assert not result.failed, result
    node = result['nodes'][0]
    assert node['identity']['uuid'] == redfish.systems[0]['uuid']
    assert [mac['mac'] for mac in node['macs']] == [nic['mac'].lower() for nic in redfish.systems[0]['nics']]
    assert node['health']['health'] == 'ok'


def test_redfish_refuses_untrusted_certificate(redfish):
    result = run_module('bmc_info', rf_args(redfish, validate_certs=True, gather=['power'], retries=0))
    assert result.failed
    assert result['nodes'][0]['error_kind'] == 'refused'
    assert 'certificate' in result['msg']


def test_redfish_wrong_password(redfish):
    result = run_module('bmc_power', rf_args(redfish, state='query', password='Wrong-Pass-1', retries=0))
    assert result.failed
    assert result['error_kind'] == 'bad_credentials', result
