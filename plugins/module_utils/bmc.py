# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One BMC client over pyghmi, for IPMI 2.0 (RMCP+) and Redfish.

Everything above this file speaks in the collection's words (power ``on``,
boot device ``pxe``); everything below is pyghmi. Errors come out as the
``BmcError`` family from errors.py, already classified and in plain words.

Hard deadlines are not this file's job: pyghmi calls are synchronous and can
block, so ``fleet.run`` runs them in worker threads and abandons any that
overrun. Retries with backoff, for transient failures only, live here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import socket
import ssl
import struct
import threading
import time

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import (
    BmcAuthError, BmcError, BmcRefused, BmcTimeout, BmcUnreachable, BmcUnsupported, InputError)

try:
    from pyghmi import exceptions as pyghmi_exc
    from pyghmi.ipmi import command as ipmi_command
    from pyghmi.ipmi import fru as ipmi_fru
    from pyghmi.ipmi.private import session as ipmi_session
    from pyghmi.redfish import command as redfish_command
    HAS_PYGHMI = True
    PYGHMI_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    HAS_PYGHMI = False
    PYGHMI_IMPORT_ERROR = exc

POWER_ACTIONS = ('on', 'off', 'shutdown', 'reset', 'cycle')
BOOT_DEVICES = ('pxe', 'disk', 'bios', 'cdrom', 'default')
PRIVILEGES = {'user': 2, 'operator': 3, 'administrator': 4}

# Our boot device names -> pyghmi's, and pyghmi's read-back names -> ours.
_TO_PYGHMI_BOOT = {'pxe': 'network', 'disk': 'hd', 'bios': 'setup', 'cdrom': 'optical', 'default': 'default'}
_FROM_PYGHMI_BOOT = {
    'network': 'pxe', 'net': 'pxe', 'pxe': 'pxe', 'hd': 'disk', 'safe': 'disk', 'setup': 'bios',
    'optical': 'cdrom', 'cd': 'cdrom', 'default': 'default', 'usb': 'usb', 'floppy': 'usb',
}


class BmcTarget(object):
    """Where a BMC is and how to log in. Build one per node; it holds the password, so never log it."""

    def __init__(self, address, username, password, name=None, port=None, protocol='ipmi',
                 kg=None, cipher_suite=3, privilege='administrator', validate_certs=True,
                 ca_path=None, tls_fingerprint=None, retries=2):
        if protocol not in ('ipmi', 'redfish'):
            raise InputError('protocol must be ipmi or redfish, not %r' % (protocol,), node=name)
        if cipher_suite not in (3, 17):
            raise InputError('cipher_suite must be 3 or 17, not %r' % (cipher_suite,), node=name)
        if privilege not in PRIVILEGES:
            raise InputError('privilege must be one of %s' % ', '.join(sorted(PRIVILEGES)), node=name)
        if not address:
            raise InputError('a BMC address is required', node=name)
        self.name = name or address
        self.address = address
        self.port = int(port) if port else (623 if protocol == 'ipmi' else 443)
        self.protocol = protocol
        self.username = username or ''
        self.password = password or ''
        self.kg = kg
        self.cipher_suite = cipher_suite
        self.privilege = privilege
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.tls_fingerprint = tls_fingerprint
        self.retries = retries

    @property
    def endpoint(self):
        return '%s:%s' % (self.address, self.port)

    def __repr__(self):  # never the password
        return 'BmcTarget(%s, %s, %s)' % (self.name, self.protocol, self.endpoint)


# ---------------------------------------------------------------------------
# pyghmi fixes. pyghmi 1.6.x has three problems that hurt fleets; each patch is
# the smallest change that removes one, applied once per process.

_PATCH_LOCK = threading.Lock()
_PATCHED = []
# (address, port) -> cipher suite the next login to that BMC should start with.
_CIPHER_PREFERENCE = {}


def _patch_pyghmi():
    with _PATCH_LOCK:
        if _PATCHED or not HAS_PYGHMI:
            return
        original_io_wait = ipmi_session._io_wait
        original_initsession = ipmi_session.Session._initsession

        def io_sendto(mysocket, packet, sockaddr):
            # Upstream flips the shared socket to blocking here while the IO
            # thread flips it back and calls recvfrom: a caller that wins that
            # race leaves the IO thread blocked in recvfrom for good. UDP sends
            # do not need blocking mode.
            if hasattr(mysocket, 'fd'):
                mysocket = mysocket.fd
            try:
                mysocket.sendto(packet, sockaddr)
            except Exception:
                pass

        def io_wait(timeout, myaddr=None, evq=None):
            # Upstream waits for the IO thread even when the reply was already
            # queued before the waiter registered (a lost wakeup that costs a
            # full retry interval, 0.5-1 s). Return at once in that case.
            if myaddr is not None:
                for handler in list(ipmi_session.Session.bmc_handlers.get(myaddr, {}).values()):
                    if handler.pktqueue:
                        return
            original_io_wait(timeout, myaddr, evq)

        def initsession(self):
            original_initsession(self)
            # pyghmi always proposes cipher suite 17 first; operators pick 3
            # for BMCs that accept 17 but cannot speak it.
            if _CIPHER_PREFERENCE.get((self.bmc, self.port)) == 3:
                self.attemptedhash = 1

        original_fetch_fru = ipmi_fru.FRU.fetch_fru

        def fetch_fru(self, fruid):
            # pyghmi halves its FRU read size on completion codes 0xc9/0xca but
            # gives up on 0xc8 ("request data length exceeded"), which BMCs with
            # small buffers send (OpenIPMI's ipmi_sim: 33 bytes). Treat 0xc8 alike.
            command = self.ipmicmd
            raw_command = command.raw_command

            def fru_raw_command(*args, **kwargs):
                response = raw_command(*args, **kwargs)
                if kwargs.get('command') == 0x11 and response.get('code') == 0xc8:
                    response = dict(response, code=0xca)
                return response
            command.raw_command = fru_raw_command
            try:
                return original_fetch_fru(self, fruid)
            finally:
                del command.raw_command

        ipmi_fru.FRU.fetch_fru = fetch_fru
        ipmi_session._io_sendto = io_sendto
        ipmi_session._io_wait = io_wait
        ipmi_session.Session._initsession = initsession
        _PATCHED.append(True)


def _forget_dead_sessions(address, port):
    """Drop pyghmi's leftover half-open sessions to this BMC.

    pyghmi files a session under its text user name and password while it logs
    in, but removes it under the encoded (bytes) ones, so a failed or logged-out
    session stays behind; the next login to the same BMC with the same
    credentials is handed that dead session and fails with a TypeError.
    """
    table = ipmi_session.Session.initting_sessions
    for key, session in list(table.items()):
        # A session another thread is still building has neither attribute yet: leave it.
        if key[0] == address and key[3] == port and (getattr(session, 'broken', False)
                                                     or not getattr(session, 'logging', True)):
            table.pop(key, None)


# ---------------------------------------------------------------------------
# Error classification: pyghmi says what went wrong in free text.

_AUTH_WORDS = ('password', 'unauthorized name', 'invalid integrity', 'incorrect', 'unauthorized guid', 'access denied',
               'authentication', 'invalid username', '401')
_REFUSED_WORDS = ('privilege', 'unauthorized role', 'insufficient', '403', 'forbidden',
                  'insufficient resources')
_UNSUPPORTED_WORDS = ('invalid command', 'not supported', 'unsupported', 'unrecognized', 'invalid data field',
                      '404', '405', '501', 'no cipher suite match')
_UNREACHABLE_WORDS = ('timeout', 'timed out', 'no longer connected', 'connection refused', 'unreachable',
                      'failed to initialize', 'no route', 'not ready', 'connection reset', 'name or service')


def classify(error, target):
    """Turn any exception from pyghmi or the socket layer into a BmcError subclass."""
    if isinstance(error, BmcError):
        return error
    text = str(error)
    if isinstance(error, ssl.SSLCertVerificationError) or (HAS_PYGHMI and isinstance(error, pyghmi_exc.UnrecognizedCertificate)):
        return BmcRefused('TLS certificate not trusted (%s); give ca_path or tls_fingerprint, or set validate_certs: false'
                          % text, node=target.name, address=target.endpoint)
    if isinstance(error, (TypeError, AttributeError, KeyError, IndexError, AssertionError, struct.error)):
        # A fault inside pyghmi (often a reply it could not parse), not a word from the BMC.
        return BmcError('pyghmi failed (%s: %s)' % (error.__class__.__name__, text),
                        node=target.name, address=target.endpoint)
    if text in ('', 'None'):
        # pyghmi gives up a login that got no answer with an empty message.
        return BmcUnreachable('no answer from the BMC (login timed out)', node=target.name, address=target.endpoint)
    low = text.lower()
    if isinstance(error, (socket.timeout, ConnectionError, OSError)):
        cls = BmcUnreachable
    elif any(word in low for word in _AUTH_WORDS):
        cls = BmcAuthError
    elif any(word in low for word in _REFUSED_WORDS):
        cls = BmcRefused
    elif any(word in low for word in _UNSUPPORTED_WORDS):
        cls = BmcUnsupported
    elif any(word in low for word in _UNREACHABLE_WORDS):
        cls = BmcUnreachable
    else:
        cls = BmcError
    message = {
        BmcAuthError: 'login refused, check the username, password and key: %s',
        BmcRefused: 'the BMC refused the request: %s',
        BmcUnsupported: 'the BMC does not support this: %s',
        BmcUnreachable: 'no answer from the BMC: %s',
        BmcError: 'BMC error: %s',
    }[cls] % text
    return cls(message, node=target.name, address=target.endpoint)


def _transient(error):
    # Only silence and broken sessions are worth another try; a wrong
    # password tried again just locks the account on many BMCs.
    return isinstance(error, BmcUnreachable) and not isinstance(error, BmcTimeout)


def with_retries(target, call, backoff=0.3):
    """Run ``call()``; on a transient failure try again up to ``target.retries`` times."""
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:  # classified right below
            error = classify(exc, target)
            if attempt >= target.retries or not _transient(error):
                raise error
        attempt += 1
        time.sleep(backoff * (2 ** (attempt - 1)))


# ---------------------------------------------------------------------------
# TLS for Redfish.

def _tls_verifier(target):
    """pyghmi's ``verifycallback``: None means standard verification against the system store."""
    if not target.validate_certs:
        return lambda certificate: True
    if target.tls_fingerprint:
        wanted = target.tls_fingerprint.replace(':', '').lower()
        return lambda certificate: hashlib.sha256(certificate).hexdigest() == wanted
    if target.ca_path:
        return _ca_verifier(target)
    return None


def _ca_verifier(target):
    try:
        import ipaddress
        from cryptography import x509
        from cryptography.x509 import verification
    except ImportError:
        raise InputError('ca_path needs the cryptography library (43 or newer)', node=target.name)
    with open(target.ca_path, 'rb') as handle:
        roots = x509.load_pem_x509_certificates(handle.read())
    try:
        subject = x509.IPAddress(ipaddress.ip_address(target.address))
    except ValueError:
        subject = x509.DNSName(target.address)

    def verify(certificate):
        leaf = x509.load_der_x509_certificate(certificate)
        verifier = verification.PolicyBuilder().store(verification.Store(roots)).build_server_verifier(subject)
        try:
            verifier.verify(leaf, [])
        except verification.VerificationError:
            return False
        return True
    return verify


# ---------------------------------------------------------------------------
# The client.

class BmcClient(object):
    """A logged-in session to one BMC. Use as a context manager, or call close()."""

    def __init__(self, target):
        if not HAS_PYGHMI:
            raise BmcError('the pyghmi library is required: %s' % PYGHMI_IMPORT_ERROR)
        _patch_pyghmi()
        self.target = target
        self._command = with_retries(target, self._connect)

    def _connect(self):
        target = self.target
        if target.protocol == 'redfish':
            return redfish_command.Command(target.address, target.username, target.password,
                                           verifycallback=_tls_verifier(target), port=target.port)
        _CIPHER_PREFERENCE[(target.address, target.port)] = target.cipher_suite
        for attempt in (1, 2):
            _forget_dead_sessions(target.address, target.port)
            try:
                command = ipmi_command.Command(bmc=target.address, userid=target.username, password=target.password,
                                               port=target.port, kg=target.kg, privlevel=PRIVILEGES[target.privilege],
                                               keepalive=False)
                break
            except (AttributeError, TypeError):
                # pyghmi handed us a leftover session of an earlier failed
                # login to this BMC; once it is forgotten, a new login works.
                if attempt == 2:
                    raise
        session = command.ipmi_session
        if getattr(session, 'ipmiversion', 2.0) != 2.0:
            # pyghmi only speaks IPMI 1.5 with MD5, never without authentication;
            # still, 1.5 sends the password hash in the clear: refuse it.
            raise BmcRefused('the BMC offers only IPMI 1.5; RMCP+ (IPMI 2.0) is required',
                             node=target.name, address=target.endpoint)
        return command

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        command, self._command = self._command, None
        if command is None:
            return
        try:
            if self.target.protocol == 'ipmi':
                # Free the BMC's session slot: real BMCs have only a handful.
                command.ipmi_session.logout()
        except Exception:
            pass
        if self.target.protocol == 'ipmi':
            _forget_dead_sessions(self.target.address, self.target.port)

    def _call(self, func, *args, **kwargs):
        return with_retries(self.target, lambda: func(*args, **kwargs))

    # -- power ---------------------------------------------------------------
    def power_state(self):
        """'on' or 'off'. Anything else is an error, never taken for 'off'."""
        state = self._call(self._command.get_power).get('powerstate')
        if state not in ('on', 'off'):
            raise BmcError('unreadable power state %r' % (state,), node=self.target.name, address=self.target.endpoint)
        return state

    def set_power(self, action):
        """Send one power action; returns at once (``wait_power`` waits)."""
        if action not in POWER_ACTIONS:
            raise InputError('unknown power action %r' % (action,), node=self.target.name)
        if action == 'cycle':
            return self._cycle()
        self._call(self._command.set_power, action, wait=False)

    def _cycle(self):
        if self.target.protocol == 'ipmi':
            # Chassis control 2 = power cycle; pyghmi has no name for it.
            self._call(self._command.xraw_command, netfn=0, command=2, data=(2,))
        else:
            try:
                self._call(self._command._do_web_request, self._command.powerurl, {'ResetType': 'PowerCycle'})
            except BmcUnsupported:
                self._call(self._command.set_power, 'off', wait=False)
                self.wait_power('off', 30)
                self._call(self._command.set_power, 'on', wait=False)

    def wait_power(self, wanted, timeout, interval=0.2):
        """Poll until the power state is ``wanted``; pyghmi's own wait adds a second per poll."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.power_state()
            if state == wanted:
                return state
            if time.monotonic() >= deadline:
                raise BmcError('power is still %s after %ss, wanted %s' % (state, timeout, wanted),
                               node=self.target.name, address=self.target.endpoint)
            time.sleep(interval)
            interval = min(interval * 1.5, 2.0)

    # -- boot device ---------------------------------------------------------
    def boot_device(self):
        if self.target.protocol == 'redfish':
            # pyghmi caches Redfish reads for 30 s: a read-back must see the BMC, not the cache.
            self._command._urlcache.clear()
        info = self._call(self._command.get_bootdev)
        if 'error' in info:
            raise classify(Exception(info['error']), self.target)
        device = info.get('bootdev')
        return {
            'device': _FROM_PYGHMI_BOOT.get(device, str(device)),
            'persistent': bool(info.get('persistent')),
            'uefi': info.get('uefimode'),
        }

    def set_boot_device(self, device, persistent=False, uefi=None):
        """Set the next boot device. ``uefi`` None keeps the firmware's mode where the protocol allows."""
        if device not in BOOT_DEVICES:
            raise InputError('unknown boot device %r' % (device,), node=self.target.name)
        if self.target.protocol == 'redfish':
            # pyghmi forces UEFI on Redfish unless told otherwise.
            result = self._call(self._command.set_bootdev, _TO_PYGHMI_BOOT[device], persist=persistent,
                                uefiboot=True if uefi is None else uefi)
        else:
            result = self._call(self._command.set_bootdev, _TO_PYGHMI_BOOT[device], persist=persistent,
                                uefiboot=bool(uefi))
        if isinstance(result, dict) and 'error' in result:
            raise classify(Exception(result['error']), self.target)

    # -- identity and health -------------------------------------------------
    def identity(self):
        """Vendor, model, serial and UUID as the BMC tells them (None where it does not)."""
        if self.target.protocol == 'redfish':
            info = self._call(self._command._do_web_request, self._command.sysurl) or {}
            return _clean({
                'vendor': info.get('Manufacturer'), 'model': info.get('Model'),
                'serial': info.get('SerialNumber'), 'uuid': info.get('UUID'),
            })
        fru = self._call(self._command.get_inventory_of_component, 'System') or {}
        return _clean({
            'vendor': fru.get('Manufacturer') or fru.get('Board manufacturer'),
            'model': fru.get('Product name') or fru.get('Board product name'),
            'serial': fru.get('Serial Number') or fru.get('Board serial number') or fru.get('Chassis serial number'),
            'uuid': fru.get('UUID'),
        })

    def macs(self):
        """MAC addresses the BMC knows: the host's NICs on Redfish, the BMC's own port on IPMI."""
        found = []
        if self.target.protocol == 'redfish':
            system = self._call(self._command._do_web_request, self._command.sysurl) or {}
            url = system.get('EthernetInterfaces', {}).get('@odata.id')
            if url:
                members = self._call(self._command._do_web_request, url).get('Members', [])
                for member in members:
                    nic = self._call(self._command._do_web_request, member['@odata.id'])
                    mac = nic.get('MACAddress') or nic.get('PermanentMACAddress')
                    if mac:
                        found.append({'name': nic.get('Id') or nic.get('Name'), 'mac': mac.lower(), 'source': 'host'})
            return found
        try:
            net = self._call(self._command.get_net_configuration, gateway_macs=False)
        except BmcError:
            return found
        if net.get('mac_address'):
            found.append({'name': 'bmc', 'mac': net['mac_address'].lower(), 'source': 'bmc'})
        return found

    def health(self):
        """'ok', 'warning', 'critical' or 'failed', with the readings that are not ok."""
        summary = self._call(self._command.get_health)
        level = summary.get('health', 0)
        word = 'ok'
        for bit, name in ((1, 'warning'), (2, 'critical'), (4, 'failed')):
            if level & bit:
                word = name
        problems = []
        for reading in summary.get('badreadings', []) or []:
            states = getattr(reading, 'states', None) or []
            problems.append({'sensor': getattr(reading, 'name', str(reading)), 'states': [str(s) for s in states]})
        return {'health': word, 'problems': problems}


def _clean(values):
    cleaned = {}
    for key, value in values.items():
        if isinstance(value, bytes):
            value = value.decode('utf-8', 'replace')
        if isinstance(value, str):
            value = value.strip().strip('\x00') or None
        cleaned[key] = value
    return cleaned


def connect(target):
    """The factory the rest of the collection uses; tests may replace it."""
    return BmcClient(target)
