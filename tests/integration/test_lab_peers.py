# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke tests of the lab's BMC peers, checked with pyghmi's clients and ipmitool.

Addresses: 127.50.0.0/16 only (other suites use other 127.x ranges); ipmi_sim and
the Redfish emulator get free ports. About 15 s in all, most of it the dead-BMC wait.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import concurrent.futures
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import lab  # noqa: E402
from lab.virtbmc import BmcFarm, auth_cap_request, make_specs, probe_bmcs  # noqa: E402
from lab.ipmisim import IpmiSim  # noqa: E402
from lab.redfish import RedfishEmulator, make_systems  # noqa: E402

from pyghmi import exceptions as pyghmi_exc  # noqa: E402
from pyghmi.ipmi import command as ipmi_command  # noqa: E402
from pyghmi.ipmi.private import session as ipmi_session  # noqa: E402
from pyghmi.ipmi.private.util import decode_wireformat_uuid  # noqa: E402
from pyghmi.redfish import command as redfish_command  # noqa: E402

# 623 needs root; elsewhere one free high port shared by all farm addresses.
PORT = 623 if os.geteuid() == 0 else lab.free_port(address='127.50.1.1')
USER, PASSWORD = 'admin', 'password'
# `make deps` installs ipmitool and openipmi: a missing one fails these tests instead of skipping them.
assert shutil.which('ipmitool') and shutil.which('ipmi_sim'), 'ipmitool and ipmi_sim (openipmi) are required'


def ipmitool(address, port, *args, **kwargs):
    cmd = ['ipmitool', '-I', 'lanplus', '-H', address, '-p', str(port),
           '-U', kwargs.get('user', USER), '-P', kwargs.get('password', PASSWORD),
           '-C', kwargs.get('suite', '3')] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


_COMMANDS = {}


def login(spec, fresh=False):
    """One pyghmi Command per BMC, reused.

    pyghmi 1.6.19 hangs forever on a second Command() to the same BMC in one process:
    its ``initting_sessions`` entry is stored under a str user name and removed under
    bytes, so it is never removed and the new Command waits on the old session.
    ``fresh`` drops that stale entry first (after a failed login, for instance).
    """
    key = (spec['address'], USER, PASSWORD, spec['port'], None)
    if fresh or key not in _COMMANDS:
        ipmi_session.Session.initting_sessions.pop(key, None)
        _COMMANDS[key] = ipmi_command.Command(bmc=spec['address'], userid=USER,
                                              password=PASSWORD, port=spec['port'])
    return _COMMANDS[key]


@pytest.fixture(scope='module')
def farm():
    specs = make_specs(50, '127.50.1.0/24', port=PORT)
    with BmcFarm(specs, USER, PASSWORD, processes=2) as running:
        yield running


# ---------------------------------------------------------------- virtbmc

def test_farm_spreads_over_two_processes_and_all_answer(farm):
    assert farm.processes == 2
    assert len(set(worker[0].pid for worker in farm._workers)) == 2
    # Out of band: every third host on, then every BMC must report its own state.
    expected = {}
    for index, spec in enumerate(farm.specs):
        if index % 3 == 0:
            farm.set_power(spec['name'], 'on')
        expected[spec['name']] = 'on' if index % 3 == 0 else 'off'

    def query(spec):
        cmd = login(spec)
        serial = cmd.get_inventory_of_component('System')['Serial Number']
        return spec['name'], cmd.get_power()['powerstate'], serial

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(query, farm.specs))
    assert {name: power for name, power, _serial in results} == expected
    assert [serial for _name, _power, serial in results] == [spec['serial'] for spec in farm.specs]
    assert len(set(serial for _name, _power, serial in results)) == 50


def test_power_round_trip_pyghmi(farm):
    spec = farm.specs[1]
    cmd = login(spec)
    assert cmd.get_power()['powerstate'] == 'off'
    cmd.set_power('on')
    assert cmd.get_power()['powerstate'] == 'on'
    assert farm.state(spec['name'])['power'] == 'on'
    cmd.set_power('off')
    assert cmd.get_power()['powerstate'] == 'off'
    assert farm.state(spec['name'])['power'] == 'off'
    farm.set_power(spec['name'], 'on')  # out of band, seen in band
    assert cmd.get_power()['powerstate'] == 'on'
    cmd.set_power('shutdown')
    assert farm.state(spec['name'])['power'] == 'off'


def test_boot_device_round_trip_pyghmi(farm):
    spec = farm.specs[2]
    cmd = login(spec)
    cmd.set_bootdev('network', persist=True, uefiboot=True)
    assert cmd.get_bootdev() == {'bootdev': 'network', 'persistent': True, 'uefimode': True}
    state = farm.state(spec['name'])
    assert (state['boot'], state['persistent'], state['uefi']) == ('pxe', True, True)
    # A one-time override is used by the next boot, then cleared, like real firmware.
    cmd.set_bootdev('hd')
    assert cmd.get_bootdev()['bootdev'] == 'hd'
    assert cmd.get_bootdev()['persistent'] is False
    cmd.set_power('on')
    state = farm.state(spec['name'])
    assert (state['booted_from'], state['boot'], state['boots']) == ('disk', 'default', 1)
    assert cmd.get_bootdev()['bootdev'] == 'default'


def test_identity_pyghmi(farm):
    spec = farm.specs[3]
    cmd = login(spec)
    system = cmd.get_inventory_of_component('System')
    assert system['Serial Number'] == spec['serial'] == 'SIM-0004'
    assert system['Manufacturer'] == spec['vendor']
    assert system['Product name'] == spec['model']
    assert system['UUID'].lower() == spec['uuid']
    assert dict(cmd.get_inventory())['System']['Board serial number'] == spec['serial']
    net = cmd.get_net_configuration()
    assert net['mac_address'] == spec['mac']
    assert net['ipv4_address'] == spec['address'] + '/8'


def test_wrong_credentials_are_refused_quickly(farm):
    spec = farm.specs[4]
    for user, password, message in (('nobody', PASSWORD, 'Unauthorized name'),
                                    (USER, 'wrong', 'Incorrect password')):
        started = time.monotonic()
        with pytest.raises(pyghmi_exc.IpmiException, match=message):
            ipmi_command.Command(bmc=spec['address'], userid=user, password=password,
                                 port=spec['port'])
        ipmi_session.Session.initting_sessions.pop(
            (spec['address'], user, password, spec['port'], None), None)
        assert time.monotonic() - started < 3


def _open_session_status(address, port, auth, integrity, conf):
    """Send an RMCP+ Open Session Request; return the status code of the answer."""
    payload = bytearray([7, 4, 0, 0]) + struct.pack('<I', 0xa0a0a0a0)
    payload += bytearray([0, 0, 0, 8, auth, 0, 0, 0, 1, 0, 0, 8, integrity, 0, 0, 0,
                          2, 0, 0, 8, conf, 0, 0, 0])
    packet = (b'\x06\x00\xff\x07\x06\x10' + b'\0' * 8 + struct.pack('<H', len(payload))
              + bytes(payload))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(2)
        sock.sendto(packet, (address, port))
        data = sock.recv(512)
    finally:
        sock.close()
    assert data[5] & 0x3f == 0x11  # open session response
    return data[17]


def test_server_accepts_only_cipher_suite_3(farm):
    spec = farm.specs[5]
    # suite 17 (HMAC-SHA256, SHA256-128, AES) is refused: 0x11 "no cipher suite match"
    assert _open_session_status(spec['address'], spec['port'], 3, 4, 1) == 0x11
    assert _open_session_status(spec['address'], spec['port'], 1, 1, 1) == 0


def test_ipmitool_against_farm(farm):
    spec = farm.specs[8]  # left off by the first test (index % 3 != 0)
    address, port = spec['address'], spec['port']
    assert ipmitool(address, port, 'power', 'status').stdout.strip() == 'Chassis Power is off'
    assert ipmitool(address, port, 'power', 'on').returncode == 0
    assert ipmitool(address, port, 'power', 'status').stdout.strip() == 'Chassis Power is on'
    assert ipmitool(address, port, 'chassis', 'bootdev', 'pxe').returncode == 0
    bootparam = ipmitool(address, port, 'chassis', 'bootparam', 'get', '5').stdout
    assert 'Force PXE' in bootparam and 'Boot Flag Valid' in bootparam
    assert farm.state(spec['name'])['boot'] == 'pxe'
    fru = ipmitool(address, port, 'fru', 'print', '0').stdout
    assert 'Product Serial        : %s' % spec['serial'] in fru
    refused = ipmitool(address, port, 'power', 'status', suite='17')
    assert refused.returncode != 0 and 'no matching cipher suite' in refused.stderr


def test_dead_bmc_times_out_and_revives(farm):
    spec = farm.specs[7]
    farm.kill(spec['name'])
    target = (spec['address'], spec['port'])
    assert probe_bmcs([target], timeout=1.0) == set()
    started = time.monotonic()
    with pytest.raises(pyghmi_exc.IpmiException):
        login(spec, fresh=True)
    assert 1 < time.monotonic() - started < 15
    farm.revive(spec['name'])
    assert probe_bmcs([target], timeout=2.0) == {target}
    assert login(spec, fresh=True).get_power()['powerstate'] == 'off'


def test_second_farm_on_taken_address_fails_cleanly(farm):
    with pytest.raises(RuntimeError, match='cannot bind'):
        BmcFarm([dict(farm.specs[0], name='clash')]).start()


def test_lossy_bmc_drops_its_share():
    spec = make_specs(1, '127.50.3.0/24', port=PORT, prefix='lossy')[0]
    with BmcFarm([spec], USER, PASSWORD, drop_rate=0.5, seed=3) as lossy:
        before = lossy.stats(spec['name'])
        answered = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(0.1)
        try:
            for _attempt in range(40):
                sock.sendto(auth_cap_request(), (spec['address'], spec['port']))
                try:
                    sock.recv(512)
                    answered += 1
                except socket.timeout:
                    pass
        finally:
            sock.close()
        after = lossy.stats(spec['name'])
    received = after['received'] - before['received']
    dropped = after['dropped'] - before['dropped']
    assert received == 40
    assert answered + dropped == 40
    assert 8 <= dropped <= 32


# ---------------------------------------------------------------- ipmi_sim

def test_ipmi_sim_peer():
    address = '127.50.4.1'
    port = lab.free_port(address=address)
    with IpmiSim(address=address, port=port, serial='SIM-IPMI-0042') as sim:
        cmd = ipmi_command.Command(bmc=address, userid=USER, password=PASSWORD, port=port)
        assert cmd.get_power()['powerstate'] == 'off'
        cmd.set_power('on')
        assert cmd.get_power()['powerstate'] == 'on'
        assert sim.state()['power'] == 'on'
        cmd.set_power('off')
        assert sim.state()['power'] == 'off'
        cmd.set_bootdev('network')
        assert sim.state()['boot'] == 'pxe'
        # ipmi_sim never sets the boot-flags valid bit: the read-back says default.
        assert cmd.get_bootdev()['bootdev'] == 'default'
        guid = cmd.raw_command(netfn=6, command=0x37)['data']
        assert decode_wireformat_uuid(guid).lower() == sim.uuid
        if shutil.which('ipmitool'):
            assert ipmitool(address, port, 'power', 'status').stdout.strip() == \
                'Chassis Power is off'
            assert 'Product Serial        : SIM-IPMI-0042' in \
                ipmitool(address, port, 'fru', 'print', '0').stdout
        workdir = sim.workdir
    assert not os.path.exists(workdir)
    assert probe_bmcs([(address, port)], timeout=0.5) == set()


# ---------------------------------------------------------------- Redfish

def test_redfish_emulator_peer():
    port = lab.free_port(socket.SOCK_STREAM)
    systems = make_systems(2)
    with RedfishEmulator(port=port, systems=systems) as emulator:
        name = systems[1]['name']

        def connect(password=PASSWORD):
            return redfish_command.Command(emulator.address, USER, password,
                                           verifycallback=lambda cert: True, port=port,
                                           sysurl=emulator.sysurl(name))

        cmd = connect()
        assert cmd.get_power()['powerstate'] == 'off'
        assert cmd.set_power('on', wait=True)['powerstate'] == 'on'
        assert emulator.state(name)['power'] == 'on'
        assert emulator.state(systems[0]['name'])['power'] == 'off'
        assert cmd.set_power('off', wait=True)['powerstate'] == 'off'
        cmd.set_bootdev('network')
        assert emulator.state(name)['boot'] == 'Pxe'
        assert emulator.state(name)['boot_mode'] == 'UEFI'
        assert cmd.get_inventory_of_component('System')['UUID'] == systems[1]['uuid']
        with pytest.raises(pyghmi_exc.PyghmiException, match='Access Denied'):
            connect('wrong')
