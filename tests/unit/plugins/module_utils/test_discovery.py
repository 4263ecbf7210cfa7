# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of BMC discovery (plugins/module_utils/discovery.py).

The IPMI presence probe is tested against tiny UDP responders on 127.0.0.x;
logins go to the fake BMCs of conftest.py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import socket
import threading
import time

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import discovery
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import BmcAuthError, BmcUnreachable, InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import validate_node_name


# ---------------------------------------------------------------------------
# node_name_for

@pytest.mark.parametrize('identity, address, prefix, expected', [
    ({'serial': 'SN12345'}, '10.0.0.5', 'node', 'node-sn12345'),
    ({'serial': '  CZ 2/34#5 '}, '10.0.0.5', 'node', 'node-cz-2-34-5'),
    ({'serial': 'Ab_C.d-E'}, '10.0.0.5', 'node', 'node-ab_c.d-e'),
    ({'serial': '-.SN.-'}, '10.0.0.5', 'node', 'node-sn'),
    ({'serial': 'SN..7'}, '10.0.0.5', 'node', 'node-sn.7'),
    ({'serial': 'SN7'}, '10.0.0.5', 'rack1', 'rack1-sn7'),
    ({'serial': 'SN7'}, '10.0.0.5', '', 'sn7'),
    ({'serial': 'SN7'}, '10.0.0.5', None, 'sn7'),
    ({'serial': None}, '10.0.0.5', 'node', 'node-bmc-10-0-0-5'),
    ({'serial': ''}, '10.0.0.5', 'node', 'node-bmc-10-0-0-5'),
    ({'serial': '///'}, '10.0.0.5', 'node', 'node-bmc-10-0-0-5'),
    ({}, '10.0.0.5', '', 'bmc-10-0-0-5'),
    (None, 'fd00::7', 'node', 'node-bmc-fd00--7'),
])
def test_node_name_for(identity, address, prefix, expected):
    name = discovery.node_name_for(identity, address, prefix)
    assert name == expected
    assert validate_node_name(name) == name


def test_node_name_for_default_prefix():
    assert discovery.node_name_for({'serial': 'X1'}, '10.0.0.5') == 'node-x1'


def test_node_name_for_is_at_most_63_characters():
    name = discovery.node_name_for({'serial': 'S' * 200}, '10.0.0.5', 'node')
    assert len(name) == 63
    assert name == 'node-' + 's' * 58
    validate_node_name(name)


@pytest.mark.parametrize('serial', ['SN...7', 'A....B'])
def test_node_name_for_never_has_two_dots(serial):
    name = discovery.node_name_for({'serial': serial}, '10.0.0.5', 'node')
    assert '..' not in name
    validate_node_name(name)


# ---------------------------------------------------------------------------
# merge_sweep

def answer(serial=None, credential='default', **identity):
    values = {'vendor': 'Acme', 'model': 'X1', 'serial': serial, 'uuid': None}
    values.update(identity)
    return {'credential': credential, 'identity': values, 'macs': [], 'power': 'on'}


def test_new_nodes_are_enrolled():
    data = {'version': 1}
    found = {'10.0.0.10': answer('SN10'), '10.0.0.9': answer(None)}
    report = discovery.merge_sweep(data, found, ['10.0.0.%d' % i for i in range(1, 20)], 'ipmi', 623)
    assert report == {'new': ['node-bmc-10-0-0-9', 'node-sn10'], 'changed': [], 'unchanged': [], 'missing': []}
    assert data['nodes']['node-sn10'] == {
        'state': 'enrolled', 'role': None, 'protected': False,
        'bmc': {'address': '10.0.0.10', 'port': 623, 'protocol': 'ipmi', 'credential': 'default'},
        'hardware': {'vendor': 'Acme', 'model': 'X1', 'serial': 'SN10'},
    }
    assert data['nodes']['node-bmc-10-0-0-9']['hardware'] == {'vendor': 'Acme', 'model': 'X1'}


def test_second_merge_is_unchanged():
    data = {'version': 1, 'nodes': {}}
    found = {'10.0.0.1': answer('SN1'), '10.0.0.2': answer(None)}
    discovery.merge_sweep(data, copy.deepcopy(found), ['10.0.0.1', '10.0.0.2'], 'ipmi', 623)
    snapshot = copy.deepcopy(data)
    report = discovery.merge_sweep(data, copy.deepcopy(found), ['10.0.0.1', '10.0.0.2'], 'ipmi', 623)
    assert report == {'new': [], 'changed': [], 'unchanged': ['node-sn1', 'node-bmc-10-0-0-2'], 'missing': []}
    assert data == snapshot


def existing(address, serial=None, port=623, **extra):
    node = {'state': 'active', 'role': 'compute', 'protected': True,
            'bmc': {'address': address, 'port': port, 'protocol': 'ipmi', 'credential': 'default'},
            'hardware': {'vendor': 'Acme', 'model': 'X1'}}
    if serial:
        node['hardware']['serial'] = serial
    node.update(extra)
    return node


def test_a_moved_bmc_keeps_its_node():
    data = {'nodes': {'rack1-u01': existing('10.0.0.1', 'SN1')}}
    report = discovery.merge_sweep(data, {'10.0.0.9': answer('SN1')}, ['10.0.0.1', '10.0.0.9'], 'ipmi', 623)
    assert report == {'new': [], 'changed': ['rack1-u01'], 'unchanged': [], 'missing': []}
    node = data['nodes']['rack1-u01']
    assert node['bmc']['address'] == '10.0.0.9'
    assert (node['state'], node['role'], node['protected']) == ('active', 'compute', True)


def test_match_by_address_when_no_serial():
    data = {'nodes': {'rack1-u02': existing('10.0.0.2')}}
    report = discovery.merge_sweep(data, {'10.0.0.2': answer(None, uuid='u-2')}, ['10.0.0.2'], 'ipmi', 623)
    assert report == {'new': [], 'changed': ['rack1-u02'], 'unchanged': [], 'missing': []}
    assert data['nodes']['rack1-u02']['hardware'] == {'vendor': 'Acme', 'model': 'X1', 'uuid': 'u-2'}
    report = discovery.merge_sweep(data, {'10.0.0.2': answer(None, uuid='u-2')}, ['10.0.0.2'], 'ipmi', 623)
    assert report['unchanged'] == ['rack1-u02']


def test_a_serial_first_learnt_by_address_match():
    data = {'nodes': {'rack1-u02': existing('10.0.0.2')}}
    report = discovery.merge_sweep(data, {'10.0.0.2': answer('SN2')}, ['10.0.0.2'], 'ipmi', 623)
    assert report['changed'] == ['rack1-u02']
    assert data['nodes']['rack1-u02']['hardware']['serial'] == 'SN2'


def test_a_new_working_credential_set_is_a_change():
    data = {'nodes': {'rack1-u01': existing('10.0.0.1', 'SN1')}}
    report = discovery.merge_sweep(data, {'10.0.0.1': answer('SN1', credential='rack1')}, ['10.0.0.1'], 'ipmi', 623)
    assert report['changed'] == ['rack1-u01']
    assert data['nodes']['rack1-u01']['bmc']['credential'] == 'rack1'


def test_missing_is_swept_but_silent():
    data = {'nodes': {
        'quiet': existing('10.0.0.3', 'SN3'),
        'elsewhere': existing('10.0.9.9', 'SN99'),        # not swept
        'other-port': existing('10.0.0.4', 'SN4', port=6230),  # swept address, other port
        'no-bmc': {'state': 'enrolled', 'bmc': {}},
    }}
    before = copy.deepcopy(data)
    report = discovery.merge_sweep(data, {}, ['10.0.0.3', '10.0.0.4'], 'ipmi', 623)
    assert report == {'new': [], 'changed': [], 'unchanged': [], 'missing': ['quiet']}
    assert data == before  # missing nodes are reported, never removed


def test_name_collision_is_refused():
    data = {'nodes': {'node-sn7': existing('10.0.0.50', 'OTHER')}}
    with pytest.raises(InputError) as caught:
        discovery.merge_sweep(data, {'10.0.0.7': answer('SN7')}, ['10.0.0.7'], 'ipmi', 623)
    assert '10.0.0.7' in str(caught.value) and 'node-sn7' in str(caught.value)


def test_two_bmcs_with_the_same_serial_are_refused():
    data = {'nodes': {}}
    with pytest.raises(InputError):
        discovery.merge_sweep(data, {'10.0.0.7': answer('SN7'), '10.0.0.8': answer('SN7')},
                              ['10.0.0.7', '10.0.0.8'], 'ipmi', 623)


def test_addresses_are_merged_in_numeric_order():
    found = dict(('10.0.0.%d' % i, answer(None)) for i in (10, 9, 100))
    report = discovery.merge_sweep({}, found, list(found), 'ipmi', 623, prefix='')
    assert report['new'] == ['bmc-10-0-0-9', 'bmc-10-0-0-10', 'bmc-10-0-0-100']


def test_a_different_machine_at_a_known_address_does_not_take_over_its_node():
    data = {'nodes': {'rack1-u01': existing('10.0.0.1', 'SN1')}}
    discovery.merge_sweep(data, {'10.0.0.1': answer('SN-NEW')}, ['10.0.0.1'], 'ipmi', 623)
    assert data['nodes']['rack1-u01']['hardware']['serial'] == 'SN1'


def test_a_moved_bmc_and_a_newcomer_at_its_old_address():
    data = {'nodes': {'rack1-u01': existing('10.0.0.1', 'SN1')}}
    found = {'10.0.0.1': answer('SN-NEW'), '10.0.0.2': answer('SN1')}
    report = discovery.merge_sweep(data, found, ['10.0.0.1', '10.0.0.2'], 'ipmi', 623)
    assert report['new'] == ['node-sn-new']
    assert report['changed'] == ['rack1-u01']
    assert data['nodes']['rack1-u01']['bmc']['address'] == '10.0.0.2'
    assert data['nodes']['rack1-u01']['hardware']['serial'] == 'SN1'


# ---------------------------------------------------------------------------
# the IPMI presence probe

def test_get_channel_auth_cap_packet():
    packet = bytearray(discovery.GET_CHANNEL_AUTH_CAP)
    assert packet[:4] == bytearray([0x06, 0x00, 0xff, 0x07])          # RMCP v1.0, no ACK, class IPMI
    assert packet[4] == 0x00                                           # auth type none
    assert packet[5:13] == bytearray(8)                                # sequence 0, session 0
    message = packet[14:]
    assert packet[13] == len(message) == 9
    rs_addr, netfn_lun, checksum1 = message[0], message[1], message[2]
    assert (rs_addr, netfn_lun >> 2, netfn_lun & 3) == (0x20, 0x06, 0)  # BMC, netfn App
    assert checksum1 == (0x100 - (rs_addr + netfn_lun) % 0x100) % 0x100
    assert sum(message[:3]) % 0x100 == 0
    rq_addr, seq_lun, command, channel, level, checksum2 = message[3:]
    assert (rq_addr, seq_lun, command) == (0x81, 0x00, 0x38)           # software ID, Get Channel Auth Capabilities
    assert (channel & 0x80, channel & 0x0f, level) == (0x80, 0x0e, 0x04)  # IPMI 2.0 data, this channel, admin
    assert checksum2 == (0x100 - (rq_addr + seq_lun + command + channel + level) % 0x100) % 0x100
    assert sum(message[3:]) % 0x100 == 0


class UdpPeer(object):
    """A UDP socket on one address that answers every packet with ``reply`` (or stays silent)."""

    def __init__(self, address, port=0, reply=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.received = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                data, source = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received.append(data)
            if self.reply is not None:
                self.sock.sendto(self.reply, source)

    def close(self):
        self.stop.set()
        self.thread.join(1)
        self.sock.close()


RMCP_REPLY = bytes(bytearray([0x06, 0x00, 0xff, 0x07, 0x00, 0x00, 0x00, 0x00]))


@pytest.fixture
def peers():
    """127.0.0.1 answers like a BMC, 127.0.0.2 swallows, 127.0.0.3 answers with junk; all on one port."""
    made = []
    try:
        bmc = UdpPeer('127.0.0.1', reply=RMCP_REPLY)
        made.append(bmc)
        try:
            made.append(UdpPeer('127.0.0.2', bmc.port))
            made.append(UdpPeer('127.0.0.3', bmc.port, reply=b'hello there'))
        except OSError as exc:
            pytest.skip('cannot bind 127.0.0.2/3: %s' % exc)
        yield made
    finally:
        for peer in made:
            peer.close()


def test_probe_finds_only_the_bmc_in_about_one_timeout(peers):
    bmc, silent, junk = peers
    started = time.monotonic()
    alive = discovery.probe_ipmi(['127.0.0.3', '127.0.0.2', '127.0.0.1'], port=bmc.port, timeout=0.3, attempts=1)
    elapsed = time.monotonic() - started
    assert alive == ['127.0.0.1']
    assert 0.3 <= elapsed < 0.3 + 0.4
    assert bmc.received == [discovery.GET_CHANNEL_AUTH_CAP]
    assert silent.received == [discovery.GET_CHANNEL_AUTH_CAP]
    assert junk.received == [discovery.GET_CHANNEL_AUTH_CAP]


def test_probe_asks_silent_addresses_again(peers):
    # The default second attempt goes to the silent addresses only, and costs a second timeout.
    bmc, silent, _junk = peers
    started = time.monotonic()
    alive = discovery.probe_ipmi(['127.0.0.2', '127.0.0.1'], port=bmc.port, timeout=0.2)
    elapsed = time.monotonic() - started
    assert alive == ['127.0.0.1']
    assert 0.4 <= elapsed < 0.4 + 0.4
    assert len(bmc.received) == 1
    assert len(silent.received) == 2


def test_probe_returns_early_when_everyone_answered(peers):
    bmc = peers[0]
    started = time.monotonic()
    assert discovery.probe_ipmi(['127.0.0.1'], port=bmc.port, timeout=3.0) == ['127.0.0.1']
    assert time.monotonic() - started < 1.0


def test_probe_of_nothing():
    assert discovery.probe_ipmi([], port=9, timeout=0.01) == []


def test_probe_tcp():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(('127.0.0.1', 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        assert discovery.probe_tcp(['127.0.0.2', '127.0.0.1'], port=port, timeout=0.5) == ['127.0.0.1']
    finally:
        listener.close()


# ---------------------------------------------------------------------------
# identify and sweep, against the fake BMCs

CREDENTIALS = {'b-vendor': {'username': 'root', 'password': 'calvin'},
               'a-site': {'username': 'admin', 'password': 'secret'}}


def test_identify_tries_credential_sets_in_name_order(fake_bmcs):
    fake_bmcs.add('10.0.0.5', username='root', password='calvin', power='off',
                  identity={'vendor': 'Acme', 'serial': 'SN5'}, macs=[{'name': 'bmc', 'mac': '52:54:00:00:00:05'}])
    result = discovery.identify('10.0.0.5', 623, 'ipmi', CREDENTIALS, {'retries': 0})
    assert result == {'credential': 'b-vendor', 'identity': {'vendor': 'Acme', 'serial': 'SN5'},
                      'macs': [{'name': 'bmc', 'mac': '52:54:00:00:00:05'}], 'power': 'off'}
    assert [target.username for target in fake_bmcs.connects] == ['admin', 'root']
    assert all(target.retries == 0 for target in fake_bmcs.connects)


def test_identify_when_every_set_is_refused(fake_bmcs):
    fake_bmcs.add('10.0.0.5', username='other', password='other')
    with pytest.raises(BmcAuthError) as caught:
        discovery.identify('10.0.0.5', 623, 'ipmi', CREDENTIALS, {})
    assert 'a-site, b-vendor' in str(caught.value)
    assert '10.0.0.5:623' in str(caught.value)


def test_identify_stops_at_a_non_auth_error(fake_bmcs):
    with pytest.raises(BmcUnreachable):
        discovery.identify('10.0.0.6', 623, 'ipmi', CREDENTIALS, {})
    assert len(fake_bmcs.connects) == 1


def test_sweep(fake_bmcs, monkeypatch):
    probed = []

    def probe(addresses, port, timeout):
        probed.append((list(addresses), port, timeout))
        return ['10.0.0.1', '10.0.0.2']
    monkeypatch.setattr(discovery, 'probe_ipmi', probe)
    fake_bmcs.add('10.0.0.1', identity={'serial': 'SN1'})
    fake_bmcs.add('10.0.0.2', password='nope')
    found, failures = discovery.sweep(['10.0.0.1', '10.0.0.2', '10.0.0.3'], {'default': {
        'username': 'admin', 'password': 'secret'}}, probe_timeout=0.25, options={'retries': 0})
    assert probed == [(['10.0.0.1', '10.0.0.2', '10.0.0.3'], 623, 0.25)]
    assert sorted(found) == ['10.0.0.1'] and found['10.0.0.1']['identity'] == {'serial': 'SN1'}
    assert sorted(failures) == ['10.0.0.2'] and failures['10.0.0.2'].kind == 'bad_credentials'


def test_sweep_redfish_uses_the_tcp_probe(fake_bmcs, monkeypatch):
    monkeypatch.setattr(discovery, 'probe_tcp', lambda addresses, port, timeout, concurrency: [
        address for address in addresses if port == 443])
    fake_bmcs.add('10.0.0.1')
    found, failures = discovery.sweep(['10.0.0.1'], {'default': {'username': 'admin', 'password': 'secret'}},
                                      protocol='redfish')
    assert list(found) == ['10.0.0.1'] and failures == {}
    assert fake_bmcs.connects[0].protocol == 'redfish' and fake_bmcs.connects[0].port == 443


def test_sweep_needs_credentials():
    with pytest.raises(InputError):
        discovery.sweep(['10.0.0.1'], {})
