# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the BMC client layer (plugins/module_utils/bmc.py), without any BMC."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import hashlib
import ipaddress
import socket
import ssl
import struct
import time

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import bmc
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import (
    BmcAuthError, BmcError, BmcRefused, BmcTimeout, BmcUnreachable, BmcUnsupported, InputError)

pyghmi_exc = pytest.importorskip('pyghmi.exceptions')

PASSWORD = 'Sup3r-S3cret!'


def target(**kwargs):
    values = dict(address='10.0.0.5', username='admin', password=PASSWORD, name='rack1-u05')
    values.update(kwargs)
    return bmc.BmcTarget(**values)


# ---------------------------------------------------------------------------
# classify

@pytest.mark.parametrize('error, cls, kind', [
    (pyghmi_exc.IpmiException('Incorrect password provided'), BmcAuthError, 'bad_credentials'),
    (pyghmi_exc.IpmiException('Unauthorized name'), BmcAuthError, 'bad_credentials'),
    (pyghmi_exc.IpmiException('Invalid Integrity Check Value'), BmcAuthError, 'bad_credentials'),
    (pyghmi_exc.RedfishError('401 Unauthorized'), BmcAuthError, 'bad_credentials'),
    (pyghmi_exc.RedfishError('Access Denied'), BmcAuthError, 'bad_credentials'),
    (pyghmi_exc.IpmiException('timeout'), BmcUnreachable, 'unreachable'),
    (pyghmi_exc.IpmiException('Session no longer connected'), BmcUnreachable, 'unreachable'),
    (pyghmi_exc.IpmiException('Insufficient privilege level'), BmcRefused, 'refused'),
    (pyghmi_exc.RedfishError('403 Forbidden'), BmcRefused, 'refused'),
    (pyghmi_exc.IpmiException('Invalid command'), BmcUnsupported, 'unsupported'),
    (pyghmi_exc.IpmiException('Invalid data field in request'), BmcUnsupported, 'unsupported'),
    (pyghmi_exc.IpmiException('No Cipher Suite match'), BmcUnsupported, 'unsupported'),
    (pyghmi_exc.IpmiException('Node busy'), BmcError, 'bmc'),
    (pyghmi_exc.IpmiException(''), BmcUnreachable, 'unreachable'),
    (pyghmi_exc.IpmiException(None), BmcUnreachable, 'unreachable'),
    (Exception(), BmcUnreachable, 'unreachable'),
    (socket.timeout('timed out'), BmcUnreachable, 'unreachable'),
    (socket.timeout(), BmcUnreachable, 'unreachable'),
    (ConnectionRefusedError(111, 'Connection refused'), BmcUnreachable, 'unreachable'),
    (ConnectionResetError(104, 'Connection reset by peer'), BmcUnreachable, 'unreachable'),
    (socket.gaierror(-2, 'Name or service not known'), BmcUnreachable, 'unreachable'),
    (TypeError("'NoneType' object is not subscriptable"), BmcError, 'bmc'),
    (KeyError('bootdev'), BmcError, 'bmc'),
    (struct.error('unpack requires a buffer of 4 bytes'), BmcError, 'bmc'),
    (pyghmi_exc.UnrecognizedCertificate('Unknown certificate', b'\x30\x82'), BmcRefused, 'refused'),
    (ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] self-signed certificate'), BmcRefused, 'refused'),
])
def test_classify(error, cls, kind):
    classified = bmc.classify(error, target())
    assert classified.__class__ is cls
    assert classified.kind == kind
    assert classified.node == 'rack1-u05'
    assert classified.address == '10.0.0.5:623'
    text = str(classified)
    assert 'rack1-u05' in text
    assert '10.0.0.5:623' in text


def test_classify_keeps_the_bmc_words():
    text = str(bmc.classify(pyghmi_exc.IpmiException('Incorrect password provided'), target()))
    assert 'Incorrect password provided' in text
    assert 'login refused' in text


def test_classify_type_error_is_not_a_credentials_problem():
    # pyghmi internals failing on a reply say 'password' nowhere, but a TypeError about
    # an argument named like one must still be a pyghmi fault, not an auth error.
    classified = bmc.classify(TypeError('password must be bytes'), target())
    assert classified.__class__ is BmcError
    assert 'pyghmi failed (TypeError' in str(classified)


def test_classify_certificate_error_says_how_to_fix_it():
    text = str(bmc.classify(pyghmi_exc.UnrecognizedCertificate('Unknown certificate'), target(protocol='redfish')))
    assert 'ca_path' in text and 'tls_fingerprint' in text and 'validate_certs' in text
    assert '10.0.0.5:443' in text


def test_classify_passes_bmc_errors_through():
    error = BmcTimeout('late', node='x')
    assert bmc.classify(error, target()) is error


@pytest.mark.parametrize('error', [AssertionError(), TypeError(), KeyError()], ids=['assert', 'type', 'key'])
def test_classify_internal_fault_without_message(error):
    assert bmc.classify(error, target()).__class__ is BmcError


# ---------------------------------------------------------------------------
# with_retries

class Flaky(object):
    """A call that raises the given errors in turn, then returns 'done'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.attempts = 0

    def __call__(self):
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return 'done'


def test_retries_transient_then_succeeds():
    call = Flaky(pyghmi_exc.IpmiException('timeout'), socket.timeout())
    assert bmc.with_retries(target(retries=2), call, backoff=0) == 'done'
    assert call.attempts == 3


def test_retries_give_up_after_retries_plus_one_attempts():
    call = Flaky(*[pyghmi_exc.IpmiException('Session no longer connected')] * 10)
    with pytest.raises(BmcUnreachable) as caught:
        bmc.with_retries(target(retries=2), call, backoff=0)
    assert call.attempts == 3
    assert caught.value.node == 'rack1-u05'


def test_no_retry_when_retries_is_zero():
    call = Flaky(pyghmi_exc.IpmiException('timeout'))
    with pytest.raises(BmcUnreachable):
        bmc.with_retries(target(retries=0), call, backoff=0)
    assert call.attempts == 1


@pytest.mark.parametrize('error, cls', [
    (pyghmi_exc.IpmiException('Incorrect password provided'), BmcAuthError),
    (pyghmi_exc.IpmiException('Insufficient privilege level'), BmcRefused),
    (pyghmi_exc.IpmiException('Invalid command'), BmcUnsupported),
    (pyghmi_exc.IpmiException('Node busy'), BmcError),
    (TypeError('bad reply'), BmcError),
    (BmcTimeout('deadline passed'), BmcTimeout),  # a subclass of BmcUnreachable, but not transient
])
def test_no_retry_of_permanent_errors(error, cls):
    call = Flaky(error)
    with pytest.raises(cls):
        bmc.with_retries(target(retries=5), call, backoff=0)
    assert call.attempts == 1


class SleepRecorder(object):
    """Stands in for the time module inside bmc.py only."""

    monotonic = staticmethod(time.monotonic)

    def __init__(self):
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)


def test_backoff_doubles(monkeypatch):
    recorder = SleepRecorder()
    monkeypatch.setattr(bmc, 'time', recorder)
    call = Flaky(*[pyghmi_exc.IpmiException('timeout')] * 3)
    assert bmc.with_retries(target(retries=3), call, backoff=0.25) == 'done'
    assert recorder.sleeps == [0.25, 0.5, 1.0]


def test_backoff_zero_is_fast():
    call = Flaky(*[socket.timeout()] * 4)
    started = time.monotonic()
    bmc.with_retries(target(retries=4), call, backoff=0)
    assert time.monotonic() - started < 0.5


# ---------------------------------------------------------------------------
# BmcTarget

@pytest.mark.parametrize('kwargs, words', [
    (dict(protocol='snmp'), 'protocol'),
    (dict(cipher_suite=1), 'cipher_suite'),
    (dict(cipher_suite='3'), 'cipher_suite'),
    (dict(privilege='root'), 'privilege'),
    (dict(address=''), 'address'),
    (dict(address=None), 'address'),
])
def test_target_validation(kwargs, words):
    with pytest.raises(InputError) as caught:
        target(**kwargs)
    assert words in str(caught.value)
    assert caught.value.kind == 'invalid_input'


def test_target_defaults():
    ipmi = bmc.BmcTarget('10.0.0.5', 'admin', 'pw')
    assert (ipmi.port, ipmi.protocol, ipmi.name, ipmi.endpoint) == (623, 'ipmi', '10.0.0.5', '10.0.0.5:623')
    assert (ipmi.cipher_suite, ipmi.privilege, ipmi.validate_certs, ipmi.retries) == (3, 'administrator', True, 2)
    redfish = bmc.BmcTarget('10.0.0.5', 'admin', 'pw', protocol='redfish')
    assert redfish.port == 443
    assert bmc.BmcTarget('10.0.0.5', None, None, port='6230').port == 6230
    empty = bmc.BmcTarget('10.0.0.5', None, None)
    assert (empty.username, empty.password) == ('', '')


@pytest.mark.parametrize('privilege', sorted(bmc.PRIVILEGES))
def test_target_accepts_every_privilege(privilege):
    assert target(privilege=privilege, cipher_suite=17).privilege == privilege


def test_target_never_shows_the_password():
    tgt = target(kg='Kg-S3cret')
    for text in (repr(tgt), str(tgt), '%s' % [tgt], '%r' % {'t': tgt}):
        assert PASSWORD not in text
        assert 'Kg-S3cret' not in text
        assert 'rack1-u05' in text
    assert repr(tgt) == 'BmcTarget(rack1-u05, ipmi, 10.0.0.5:623)'


# ---------------------------------------------------------------------------
# TLS verification for Redfish

def test_tls_validate_certs_false_accepts_anything():
    verify = bmc._tls_verifier(target(protocol='redfish', validate_certs=False, tls_fingerprint='00'))
    assert verify(b'anything') is True
    assert verify(b'') is True


def test_tls_default_is_standard_verification():
    assert bmc._tls_verifier(target(protocol='redfish')) is None


@pytest.mark.parametrize('style', ['plain', 'upper', 'colons', 'colons-upper'])
def test_tls_fingerprint(style):
    der = b'0\x82\x01\x0a certificate bytes'
    digest = hashlib.sha256(der).hexdigest()
    given = {
        'plain': digest,
        'upper': digest.upper(),
        'colons': ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        'colons-upper': ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2)).upper(),
    }[style]
    verify = bmc._tls_verifier(target(protocol='redfish', tls_fingerprint=given))
    assert verify(der) is True
    assert verify(der + b'x') is False


def test_tls_fingerprint_wins_over_ca_path():
    der = b'cert'
    verify = bmc._tls_verifier(target(protocol='redfish', tls_fingerprint=hashlib.sha256(der).hexdigest(),
                                      ca_path='/nonexistent/ca.pem'))
    assert verify(der) is True


class Pki(object):
    """A throwaway CA, certificates it signs, and self-signed strangers (EC keys: fast)."""

    def __init__(self):
        self.x509 = pytest.importorskip('cryptography.x509')
        pytest.importorskip('cryptography.x509.verification')
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        self.hashes = hashes
        self.serialization = serialization
        self.ec = ec
        self.ca, self.ca_key = self.certificate('test CA', ca=True)

    def certificate(self, common_name, issuer=None, ca=False, san=None):
        x509 = self.x509
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        key = self.ec.generate_private_key(self.ec.SECP256R1())
        signer_cert, signer_key = issuer if issuer else (None, key)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(signer_cert.subject if signer_cert else subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
                critical=True)
        else:
            builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signer_key, self.hashes.SHA256()), key

    def leaf(self, san):
        return self.der(self.certificate('bmc', issuer=(self.ca, self.ca_key), san=san)[0])

    def stranger(self, san):
        return self.der(self.certificate('stranger', san=san)[0])

    def der(self, cert):
        return cert.public_bytes(self.serialization.Encoding.DER)

    def write_ca(self, path):
        path.write_bytes(self.ca.public_bytes(self.serialization.Encoding.PEM))
        return str(path)


@pytest.fixture(scope='module')
def pki():
    return Pki()


def test_tls_ca_path_accepts_leaf_signed_by_the_ca(pki, tmp_path):
    ip = pki.x509.IPAddress(ipaddress.ip_address('127.0.0.1'))
    verify = bmc._tls_verifier(target(address='127.0.0.1', protocol='redfish', ca_path=pki.write_ca(tmp_path / 'ca.pem')))
    assert verify(pki.leaf([ip])) is True
    assert verify(pki.stranger([ip])) is False


def test_tls_ca_path_checks_the_address(pki, tmp_path):
    other = pki.x509.IPAddress(ipaddress.ip_address('127.0.0.2'))
    verify = bmc._tls_verifier(target(address='127.0.0.1', protocol='redfish', ca_path=pki.write_ca(tmp_path / 'ca.pem')))
    assert verify(pki.leaf([other])) is False


def test_tls_ca_path_with_a_host_name(pki, tmp_path):
    verify = bmc._tls_verifier(target(address='bmc7.example.net', protocol='redfish',
                                      ca_path=pki.write_ca(tmp_path / 'ca.pem')))
    assert verify(pki.leaf([pki.x509.DNSName('bmc7.example.net')])) is True
    assert verify(pki.leaf([pki.x509.DNSName('bmc8.example.net')])) is False


# ---------------------------------------------------------------------------
# BmcClient over a fake pyghmi command object (no session, no network)

class FakeCommand(object):
    """The few pyghmi Command methods the client calls; records them."""

    powerurl = '/redfish/v1/Systems/1/Actions/ComputerSystem.Reset'
    sysurl = '/redfish/v1/Systems/1'

    def __init__(self, power='on', bootdev=None, fru=None, health=None, web=None, web_error=None):
        self.calls = []
        self.power = power
        self.bootdev = bootdev if bootdev is not None else {'bootdev': 'network', 'persistent': False, 'uefimode': True}
        self.fru = fru
        self.health = health
        self.web = web or {}
        self.web_error = web_error
        self.ipmi_session = self
        self._urlcache = {'/redfish/v1/Systems/1': {'contents': 'stale'}}

    def get_power(self):
        self.calls.append(('get_power',))
        return {'powerstate': self.power}

    def set_power(self, action, wait=False):
        self.calls.append(('set_power', action, wait))

    def xraw_command(self, netfn, command, data=()):
        self.calls.append(('xraw_command', netfn, command, tuple(data)))

    def _do_web_request(self, url, payload=None):
        self.calls.append(('web', url, payload))
        if payload is not None and self.web_error:
            raise self.web_error
        return self.web.get(url)

    def get_bootdev(self):
        return self.bootdev

    def set_bootdev(self, bootdev, persist=False, uefiboot=False):
        self.calls.append(('set_bootdev', bootdev, persist, uefiboot))
        return {'bootdev': bootdev}

    def get_inventory_of_component(self, component):
        return self.fru

    def get_net_configuration(self, gateway_macs=True):
        return {'mac_address': '52:54:00:AA:BB:CC'}

    def get_health(self):
        return self.health

    def logout(self):
        self.calls.append(('logout',))
        raise pyghmi_exc.IpmiException('Session no longer connected')


def client_for(command, **kwargs):
    client = bmc.BmcClient.__new__(bmc.BmcClient)
    client.target = target(retries=0, **kwargs)
    client._command = command
    return client


def test_power_state_never_guesses():
    assert client_for(FakeCommand(power='off')).power_state() == 'off'
    with pytest.raises(BmcError) as caught:
        client_for(FakeCommand(power=None)).power_state()
    assert 'unreadable power state' in str(caught.value)


def test_set_power_and_ipmi_cycle():
    command = FakeCommand()
    client = client_for(command)
    client.set_power('shutdown')
    client.set_power('cycle')
    assert command.calls == [('set_power', 'shutdown', False), ('xraw_command', 0, 2, (2,))]
    with pytest.raises(InputError):
        client.set_power('boot')


def test_redfish_cycle_falls_back_to_off_then_on():
    command = FakeCommand(power='off', web_error=pyghmi_exc.RedfishError('405 Method Not Allowed'))
    client = client_for(command, protocol='redfish')
    command.get_power = lambda: {'powerstate': 'off'}
    client.set_power('cycle')
    assert [call[0] for call in command.calls] == ['web', 'set_power', 'set_power']
    assert command.calls[1:] == [('set_power', 'off', False), ('set_power', 'on', False)]


def test_wait_power_times_out_with_a_clear_message():
    client = client_for(FakeCommand(power='off'))
    started = time.monotonic()
    with pytest.raises(BmcError) as caught:
        client.wait_power('on', 0)
    assert time.monotonic() - started < 0.5
    assert 'still off' in str(caught.value)
    assert client.wait_power('off', 0) == 'off'


@pytest.mark.parametrize('pyghmi_name, ours', [
    ('network', 'pxe'), ('hd', 'disk'), ('setup', 'bios'), ('optical', 'cdrom'), ('default', 'default'),
    ('floppy', 'usb'), ('odd', 'odd'),
])
def test_boot_device_read_back_names(pyghmi_name, ours):
    client = client_for(FakeCommand(bootdev={'bootdev': pyghmi_name, 'persistent': 1, 'uefimode': False}))
    assert client.boot_device() == {'device': ours, 'persistent': True, 'uefi': False}


def test_redfish_boot_read_back_skips_pyghmis_cache():
    command = FakeCommand()
    client_for(command, protocol='redfish').boot_device()
    assert command._urlcache == {}
    command = FakeCommand()
    client_for(command).boot_device()
    assert command._urlcache != {}


def test_boot_device_error_is_classified():
    client = client_for(FakeCommand(bootdev={'error': 'Insufficient privilege level'}))
    with pytest.raises(BmcRefused):
        client.boot_device()


@pytest.mark.parametrize('protocol, uefi, sent', [('ipmi', None, False), ('ipmi', True, True),
                                                  ('redfish', None, True), ('redfish', False, False)])
def test_set_boot_device(protocol, uefi, sent):
    command = FakeCommand()
    client_for(command, protocol=protocol).set_boot_device('pxe', persistent=True, uefi=uefi)
    assert command.calls == [('set_bootdev', 'network', True, sent)]


def test_set_boot_device_rejects_unknown_device():
    with pytest.raises(InputError):
        client_for(FakeCommand()).set_boot_device('network')


def test_ipmi_identity_is_cleaned():
    fru = {'Board manufacturer': b'Acme\x00', 'Product name': '  X1  ', 'Serial Number': '',
           'Board serial number': 'SN-7', 'UUID': '\x00'}
    assert client_for(FakeCommand(fru=fru)).identity() == {'vendor': 'Acme', 'model': 'X1', 'serial': 'SN-7',
                                                           'uuid': None}


def test_redfish_identity_and_macs():
    web = {
        FakeCommand.sysurl: {'Manufacturer': 'Acme', 'Model': 'X1', 'SerialNumber': 'SN-9', 'UUID': 'u-9',
                             'EthernetInterfaces': {'@odata.id': '/nics'}},
        '/nics': {'Members': [{'@odata.id': '/nics/1'}, {'@odata.id': '/nics/2'}]},
        '/nics/1': {'Id': 'eno1', 'MACAddress': '52:54:00:AA:00:01'},
        '/nics/2': {'Id': 'eno2', 'MACAddress': None},
    }
    client = client_for(FakeCommand(web=web), protocol='redfish')
    assert client.identity() == {'vendor': 'Acme', 'model': 'X1', 'serial': 'SN-9', 'uuid': 'u-9'}
    assert client.macs() == [{'name': 'eno1', 'mac': '52:54:00:aa:00:01', 'source': 'host'}]


def test_ipmi_macs_are_the_bmc_port():
    assert client_for(FakeCommand()).macs() == [{'name': 'bmc', 'mac': '52:54:00:aa:bb:cc', 'source': 'bmc'}]


class Reading(object):
    def __init__(self, name, states):
        self.name = name
        self.states = states


@pytest.mark.parametrize('level, word', [(0, 'ok'), (1, 'warning'), (2, 'critical'), (3, 'critical'),
                                         (4, 'failed'), (7, 'failed')])
def test_health_levels(level, word):
    summary = {'health': level, 'badreadings': [Reading('PSU1', ['Failure detected'])] if level else []}
    health = client_for(FakeCommand(health=summary)).health()
    assert health['health'] == word
    assert health['problems'] == ([{'sensor': 'PSU1', 'states': ['Failure detected']}] if level else [])


def test_close_logs_out_once_and_swallows_errors():
    command = FakeCommand()
    client = client_for(command)
    with client:
        pass
    client.close()
    assert command.calls == [('logout',)]


def test_ipmi_1_5_only_is_refused(monkeypatch):
    class OldSession(object):
        ipmiversion = 1.5

    class OldCommand(object):
        def __init__(self, **kwargs):
            self.kwargs = kwargs
            self.ipmi_session = OldSession()

    monkeypatch.setattr(bmc.ipmi_command, 'Command', OldCommand)
    monkeypatch.setattr(bmc.ipmi_session.Session, 'initting_sessions', {})
    monkeypatch.setattr(bmc, '_CIPHER_PREFERENCE', {})
    client = bmc.BmcClient.__new__(bmc.BmcClient)
    client.target = target(address='10.9.9.9', cipher_suite=17, retries=0)
    with pytest.raises(BmcRefused) as caught:
        client._connect()
    assert 'IPMI 1.5' in str(caught.value)
    assert bmc._CIPHER_PREFERENCE[('10.9.9.9', 623)] == 17


def test_forget_dead_sessions_only_drops_dead_ones_of_that_bmc(monkeypatch):
    class Session(object):
        def __init__(self, broken, logging):
            self.broken = broken
            self.logging = logging

    table = {
        ('10.0.0.5', 'u', 'p', 623, None): Session(True, False),
        ('10.0.0.5', 'v', 'p', 623, None): Session(False, True),
        ('10.0.0.5', 'w', 'p', 6230, None): Session(True, False),
        ('10.0.0.6', 'u', 'p', 623, None): Session(False, False),
    }
    monkeypatch.setattr(bmc.ipmi_session.Session, 'initting_sessions', table)
    bmc._forget_dead_sessions('10.0.0.5', 623)
    assert sorted(table) == [('10.0.0.5', 'v', 'p', 623, None), ('10.0.0.5', 'w', 'p', 6230, None),
                             ('10.0.0.6', 'u', 'p', 623, None)]


def test_forget_dead_sessions_tolerates_a_session_being_built(monkeypatch):
    table = {('10.0.0.5', 'u', 'p', 623, None): object.__new__(bmc.ipmi_session.Session)}
    monkeypatch.setattr(bmc.ipmi_session.Session, 'initting_sessions', table)
    bmc._forget_dead_sessions('10.0.0.5', 623)
    assert len(table) == 1


# ---------------------------------------------------------------------------
# the pyghmi patches, applied for one test at a time (monkeypatch puts pyghmi back)

class Recorder(object):
    def __init__(self):
        self.calls = []

    def __call__(self, *args):
        self.calls.append(args)


@pytest.fixture
def patched(monkeypatch):
    """bmc._patch_pyghmi() over stand-ins for the pyghmi internals it wraps; all undone after the test."""
    if bmc._PATCHED:
        pytest.skip('pyghmi is already patched in this process')
    session_mod, session_cls, fru_cls = bmc.ipmi_session, bmc.ipmi_session.Session, bmc.ipmi_fru.FRU
    io_wait = Recorder()

    def initsession(self):
        self.attemptedhash = 256
    monkeypatch.setattr(session_mod, '_io_wait', io_wait)
    monkeypatch.setattr(session_mod, '_io_sendto', session_mod._io_sendto)
    monkeypatch.setattr(session_cls, '_initsession', initsession)
    monkeypatch.setattr(session_cls, 'bmc_handlers', {})
    monkeypatch.setattr(fru_cls, 'fetch_fru', fru_cls.fetch_fru)
    monkeypatch.setattr(bmc, '_PATCHED', [])
    monkeypatch.setattr(bmc, '_CIPHER_PREFERENCE', {})
    bmc._patch_pyghmi()
    bmc._patch_pyghmi()  # once per process: the second call changes nothing
    return io_wait


def test_patched_sendto_never_blocks_nor_raises(patched):
    class Sock(object):
        def __init__(self, error=None):
            self.sent = []
            self.error = error

        def setblocking(self, flag):
            raise AssertionError('the patched sendto must not touch blocking mode')

        def sendto(self, packet, sockaddr):
            self.sent.append((packet, sockaddr))
            if self.error:
                raise self.error

    class Wrapped(object):
        def __init__(self, fd):
            self.fd = fd

    sock = Sock()
    bmc.ipmi_session._io_sendto(Wrapped(sock), b'pkt', ('10.0.0.5', 623))
    assert sock.sent == [(b'pkt', ('10.0.0.5', 623))]
    bmc.ipmi_session._io_sendto(Sock(OSError(101, 'Network is unreachable')), b'pkt', ('10.0.0.5', 623))


def test_patched_io_wait_returns_at_once_when_a_reply_is_queued(patched):
    class Handler(object):
        def __init__(self, queue):
            self.pktqueue = queue

    addr = ('::ffff:10.0.0.5', 623, 0, 0)
    bmc.ipmi_session.Session.bmc_handlers[addr] = {623: Handler(['reply'])}
    bmc.ipmi_session._io_wait(1.0, addr, None)
    assert patched.calls == []
    bmc.ipmi_session.Session.bmc_handlers[addr] = {623: Handler([])}
    bmc.ipmi_session._io_wait(1.0, addr, None)
    bmc.ipmi_session._io_wait(0.5)
    assert patched.calls == [(1.0, addr, None), (0.5, None, None)]


@pytest.mark.parametrize('suite, attempted', [(3, 1), (17, 256), (None, 256)])
def test_patched_initsession_starts_with_the_chosen_cipher_suite(patched, suite, attempted):
    session = object.__new__(bmc.ipmi_session.Session)
    session.bmc, session.port = '10.0.0.5', 623
    if suite is not None:
        bmc._CIPHER_PREFERENCE[('10.0.0.5', 623)] = suite
    bmc.ipmi_session.Session._initsession(session)
    assert session.attemptedhash == attempted


class SmallBufferBmc(object):
    """Answers FRU reads of at most ``limit`` bytes; larger ones get completion code 0xc8."""

    def __init__(self, data, limit=16):
        self.data = bytearray(data)
        self.limit = limit
        self.reads = []

    def raw_command(self, netfn, command, data=()):
        if command == 0x10:
            return {'code': 0, 'data': [len(self.data) & 0xff, len(self.data) >> 8, 0]}
        offset, size = data[1] | (data[2] << 8), data[3]
        self.reads.append(size)
        if size > self.limit:
            return {'code': 0xc8, 'error': 'Request data length exceeded'}
        chunk = self.data[offset:offset + size]
        return {'code': 0, 'data': bytearray([len(chunk)]) + chunk}


def test_patched_fru_read_shrinks_on_0xc8(patched):
    fru = object.__new__(bmc.ipmi_fru.FRU)
    fru.ipmicmd = SmallBufferBmc(range(100), limit=33)
    fru.fetch_fru(0)
    assert fru.rawfru == bytearray(range(100))
    assert fru.ipmicmd.reads[:3] == [100, 52, 28]  # pyghmi's own back-off: half plus two
    assert 'raw_command' not in vars(fru.ipmicmd)  # the wrapper is gone again


def test_unpatched_fru_read_gives_up_on_0xc8():
    fru = object.__new__(bmc.ipmi_fru.FRU)
    fru.ipmicmd = SmallBufferBmc(range(100), limit=33)
    if bmc._PATCHED:
        pytest.skip('pyghmi is already patched in this process')
    with pytest.raises(pyghmi_exc.IpmiException):
        fru.fetch_fru(0)
