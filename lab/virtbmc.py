# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A farm of simulated IPMI BMCs on loopback, built on pyghmi's BMC server class.

Each ``SimBmc`` owns one UDP socket bound to its own address and port and keeps its
sessions in its own table (keyed by the client's address), so many BMCs share one
process and one port number on distinct loopback IPs. Worker processes run a plain
epoll loop over their BMCs; pyghmi's client IO thread is never started on this side.

Fixes over pyghmi's stock server: open-session requests that are not cipher suite 3
(HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) are refused, so pyghmi's client falls back
from suite 17 to 3; unknown users get "unauthorized name" instead of silence; the
Get Device ID reply has the right layout.

Identity: FRU 0 (chassis, board, product areas with vendor, model, serial), the
system GUID, Get Channel Info and LAN parameters (IP, netmask, MAC).

Usage::

    with BmcFarm(make_specs(50, '127.50.1.0/24'), processes=2) as farm:
        farm.state('sim-0001')   # {'power': 'off', 'boot': 'default', ...}

CLI (serves until SIGTERM)::

    python -m lab.virtbmc --count 500 --network 127.1.0.0/22 --port 623 \\
        --processes 4 --spec-file /tmp/farm.json
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import collections
import hashlib
import ipaddress
import json
import os
import random
import resource
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import uuid

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.private.constants as ipmi_constants
from pyghmi.ipmi.private import serversession

# Boot device selector (bits 5:2 of boot flags data 2) <-> the names the lab uses.
BOOT_CODES = {0: 'default', 1: 'pxe', 2: 'disk', 3: 'safe', 5: 'cdrom', 6: 'bios', 15: 'floppy'}
BOOT_NUMBERS = dict((name, code) for code, name in BOOT_CODES.items())

VENDORS = (('Contoso', 'CX-1000'), ('Fabrikam', 'FB-220'), ('Northwind', 'NW-7'))
UUID_NAMESPACE = uuid.UUID('0f3c9a4e-5d1b-4c61-9a5e-2b7f1c0d9e11')

# Directory that holds the lab package (the collection root), for worker processes.
LAB_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SESSION_IDLE_TIMEOUT = 60.0   # seconds, the usual IPMI session inactivity timeout
RMCP_HEADER = b'\x06\x00\xff\x07'


def make_specs(count, network='127.1.0.0/22', port=623, prefix='sim', first=1):
    """Return ``count`` BMC specs on consecutive host addresses of ``network``.

    Names are ``<prefix>-0001``..., serials ``SIM-0001``...; vendor and model cycle
    through a few made-up ones; UUIDs and MACs are derived from the serial.
    """
    hosts = ipaddress.ip_network(network).hosts()
    specs = []
    for index in range(first, first + count):
        try:
            address = str(next(hosts))
        except StopIteration:
            raise ValueError('%s has fewer than %d host addresses' % (network, count))
        vendor, model = VENDORS[index % len(VENDORS)]
        serial = 'SIM-%04d' % index
        specs.append({
            'name': '%s-%04d' % (prefix, index),
            'address': address,
            'port': port,
            'serial': serial,
            'vendor': vendor,
            'model': model,
            'uuid': str(uuid.uuid5(UUID_NAMESPACE, serial)),
            'mac': '02:00:%02x:%02x:%02x:%02x' % tuple(struct.pack('>I', index)),
            'power': 'off',
            'boot': 'default',
        })
    return specs


def normalize_spec(spec, index=0):
    """Fill a spec's optional keys with defaults derived from its name or index."""
    out = dict(spec)
    if 'name' not in out or 'address' not in out:
        raise ValueError('a BMC spec needs name and address: %r' % (spec,))
    out.setdefault('port', 623)
    out.setdefault('serial', 'SIM-%04d' % (index + 1))
    out.setdefault('vendor', VENDORS[index % len(VENDORS)][0])
    out.setdefault('model', VENDORS[index % len(VENDORS)][1])
    out.setdefault('uuid', str(uuid.uuid5(UUID_NAMESPACE, out['serial'])))
    out.setdefault('mac', '02:00:%02x:%02x:%02x:%02x' % tuple(struct.pack('>I', index + 1)))
    out.setdefault('power', 'off')
    out.setdefault('boot', 'default')
    out.setdefault('persistent', False)
    out.setdefault('uefi', False)
    if out['power'] not in ('on', 'off'):
        raise ValueError('power must be on or off: %r' % (spec,))
    if out['boot'] not in BOOT_NUMBERS:
        raise ValueError('boot must be one of %s: %r' % (sorted(BOOT_NUMBERS), spec))
    return out


# ---------------------------------------------------------------- FRU image

def _checksum(data):
    return (-sum(data)) & 0xff


def _tlv(text):
    """8-bit ASCII type/length field (type 3), at most 63 bytes."""
    raw = (text or '').encode('latin-1', 'replace')[:63]
    return bytearray([0xc0 | len(raw)]) + raw


def _fru_area(prefix, strings):
    """One FRU info area: version, length, fixed prefix, fields, end mark, pad, checksum."""
    data = bytearray([1, 0]) + bytearray(prefix)
    for text in strings:
        data += _tlv(text)
    data.append(0xc1)
    while (len(data) + 1) % 8:
        data.append(0)
    data[1] = (len(data) + 1) // 8
    data.append(_checksum(data))
    return data


def build_fru(vendor, model, serial, asset_tag=''):
    """Return a FRU image (Platform Management FRU spec 1.x) with chassis, board and product areas."""
    # Board manufacture date: minutes since 1996-01-01; fixed at 2024-01-01 00:00 UTC.
    minutes = (1704067200 - 820454400) // 60
    chassis = _fru_area([0x17], [model, serial])  # 0x17: rack mount chassis
    board = _fru_area([0] + list(struct.pack('<I', minutes)[:3]),
                      [vendor, model, serial, model, ''])
    product = _fru_area([0], [vendor, model, model, '1.0', serial, asset_tag, ''])
    offset = 8
    header = bytearray([1, 0, offset // 8, (offset + len(chassis)) // 8,
                        (offset + len(chassis) + len(board)) // 8, 0, 0])
    header.append(_checksum(header))
    return bytes(header + chassis + board + product)


# ---------------------------------------------------------------- sessions

class SimSession(serversession.ServerSession):
    """One client's RMCP+ session with one SimBmc (kept in that BMC's own table)."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, bmc, clientaddr, request):  # pylint: disable=super-init-not-called
        # Same state as ServerSession.__init__, minus the process-wide handler
        # table (keyed by client address and port only, it mixes up BMCs).
        self.uuid = bmc.uuid
        self.currhashlib = hashlib.sha1
        self.currhashlen = 12
        self.rqaddr = ipmi_constants.IPMI_BMC_ADDRESS
        self.authdata = bmc.authdata
        self.servermode = True
        self.ipmiversion = 2.0
        self.sequencenumber = 0
        self.sessionid = 0
        self.bmc = bmc
        self.lastpayload = None
        self.rqlun = None
        self.broken = False
        self.authtype = 6
        self.integrityalgo = 0
        self.confalgo = 0
        self.kg = bmc.kg
        self.socket = bmc.serversocket
        self.sockaddr = clientaddr
        self.pendingpayloads = collections.deque([])
        self.pktqueue = collections.deque([])
        self.clientpriv = 4
        self.accepted = False
        self.last_seen = time.monotonic()
        response = self.create_open_session_response(bytearray(request))
        self.send_payload(response, ipmi_constants.payload_types['rmcpplusopenresponse'],
                          retry=False)

    def create_open_session_response(self, request):
        # Only cipher suite 3 is spoken here. pyghmi's stock server says yes to
        # anything, so its client's first proposal (suite 17, SHA-256) "succeeds"
        # and then breaks in RAKP2. Refusing it makes the client retry with suite 3.
        if len(request) >= 32:
            auth, integrity, conf = request[12] & 0x3f, request[20] & 0x3f, request[28] & 0x3f
        else:
            auth = integrity = conf = None
        if (auth, integrity, conf) != (1, 1, 1):
            # 0x11: no cipher suite match with proposed security algorithms
            return bytearray([request[0], 0x11, 0, 0]) + request[4:8]
        self.accepted = True
        return serversession.ServerSession.create_open_session_response(self, request)

    def _got_rakp1(self, data):
        namelen = data[27] if len(data) > 27 else 0
        name = bytes(data[28:28 + namelen]).decode('utf-8', 'replace')
        if namelen and self.authdata.get(name) is None:
            # 0x0d: unauthorized name (the stock server stays silent: a slow timeout)
            self.send_payload(bytearray([data[0], 0x0d, 0, 0]) + self.clientsessionid,
                              ipmi_constants.payload_types['rakp2'], retry=False)
            return
        serversession.ServerSession._got_rakp1(self, data)

    def close_server_session(self):
        if self.bmc.sessions.get(self.sockaddr) is self:
            del self.bmc.sessions[self.sockaddr]


# ---------------------------------------------------------------- one BMC

class SimBmc(pyghmi_bmc.Bmc):
    """A simulated BMC: power, boot device, FRU identity, GUID and LAN parameters."""

    def __init__(self, spec, username='admin', password='password', drop_rate=0.0, seed=0):
        # pylint: disable=super-init-not-called
        # IpmiServer.__init__ is skipped on purpose: it hands the socket to pyghmi's
        # client IO thread and registers it in process-wide tables.
        spec = normalize_spec(spec)
        self.spec = spec
        self.name = spec['name']
        self.address = spec['address']
        self.port = int(spec['port'])
        self.authdata = {username: password}
        self.kg = None
        self.uuid = uuid.UUID(spec['uuid'])
        self.fru = build_fru(spec['vendor'], spec['model'], spec['serial'], spec['name'])
        self.mac = bytes(bytearray(int(part, 16) for part in spec['mac'].split(':')))
        # Get Device ID: rev bit 7 = "provides device SDRs" and no SDR repository,
        # so pyghmi's inventory skips SDR reads; 0x88 = chassis + FRU inventory device.
        self.deviceid = 0x20
        self.revision = 0x81
        self.firmwaremajor = 1
        self.firmwareminor = 0x10
        self.ipmiversion = 0x02
        self.additionaldevices = 0x88
        self.mfgid = int(spec.get('manufacturer_id', 0))
        self.prodid = int(spec.get('product_id', 0))
        self.authcap = struct.pack('BBBBBBBBB', 0, 1, 0b10000000, 0b00000100, 0b00000010, 0, 0, 0, 0)
        self.pktqueue = collections.deque([])
        self.timeout = 60
        self.sessions = {}
        self.power = spec['power']
        self.boot = spec['boot']
        self.persistent = bool(spec['persistent'])
        self.uefi = bool(spec['uefi'])
        self.booted_from = None
        self.boots = 0
        self.dead = False
        self.drop_rate = float(drop_rate)
        self.rng = random.Random('%s/%s' % (seed, self.name))
        self.received = 0
        self.dropped = 0
        family = socket.getaddrinfo(self.address, self.port, 0, socket.SOCK_DGRAM)[0][0]
        self.serversocket = socket.socket(family, socket.SOCK_DGRAM)
        self.serversocket.bind((self.address, self.port))

    def close(self):
        self.serversocket.close()

    # --- state, as the control channel reports it

    def state(self):
        return {'power': self.power, 'boot': self.boot, 'persistent': self.persistent,
                'uefi': self.uefi, 'booted_from': self.booted_from, 'boots': self.boots,
                'dead': self.dead}

    def stats(self):
        return {'received': self.received, 'dropped': self.dropped, 'sessions': len(self.sessions)}

    def _boot(self):
        """The host starts: it consumes a one-time boot override, like real firmware."""
        self.boots += 1
        self.booted_from = 'disk' if self.boot == 'default' else self.boot
        if not self.persistent:
            self.boot, self.uefi = 'default', False

    # --- pyghmi Bmc hooks

    def get_power_state(self):
        return self.power

    def power_on(self):
        if self.power == 'off':
            self.power = 'on'
            self._boot()

    def power_off(self):
        self.power = 'off'

    def power_shutdown(self):
        self.power = 'off'

    def power_reset(self):
        # A reset of a host that is off does nothing (and is not an error).
        if self.power == 'on':
            self._boot()

    def power_cycle(self):
        if self.power == 'off':
            return 0xd5  # IPMI spec: cycle of a powered-off host -> "not in present state"
        self._boot()

    def pulse_diag(self):
        return 0

    def get_system_guid(self):
        return self.uuid

    def cold_reset(self):
        self.sessions.clear()
        return 0

    def set_boot_device(self, bootdevice, persistent=False, uefi=False):
        self.boot = bootdevice
        self.persistent = bool(persistent) and bootdevice != 'default'
        self.uefi = bool(uefi) and bootdevice != 'default'

    def get_boot_device(self):
        return self.boot

    # --- request handling

    def handle_raw_request(self, request, session):
        handler = self.HANDLERS.get((request['netfn'], request['command']))
        try:
            if handler is None:
                return session.send_ipmi_response(code=0xc1)  # invalid command
            return handler(self, request, session)
        except Exception:  # a bug here must not kill the whole farm
            traceback.print_exc()
            return session.send_ipmi_response(code=0xff)

    def _device_id(self, request, session):
        data = [self.deviceid, self.revision, self.firmwaremajor, self.firmwareminor,
                self.ipmiversion, self.additionaldevices]
        data += list(struct.pack('<I', self.mfgid)[:3]) + list(struct.pack('<H', self.prodid))
        data += [0, 0, 0, 0]  # auxiliary firmware revision
        session.send_ipmi_response(data=data)

    def _cold_reset(self, request, session):
        session.send_ipmi_response(code=self.cold_reset())

    def _system_guid(self, request, session):
        session.send_ipmi_response(data=bytearray(self.uuid.bytes_le))

    def _channel_info(self, request, session):
        channel = request['data'][0] & 0x0f if request['data'] else 0x0e
        if channel not in (0x0e, 1):
            return session.send_ipmi_response(code=0xcc)
        # channel 1: 802.3 LAN, IPMB-1.0 protocol, multi-session, IANA 7154 (IPMI forum)
        session.send_ipmi_response(data=[1, 4, 1, 0x80 | len(self.sessions), 0xf2, 0x1b, 0, 0, 0])

    def _chassis_status(self, request, session):
        self.get_chassis_status(session)

    def _chassis_control(self, request, session):
        self.control_chassis(request, session)

    def _set_boot_options(self, request, session):
        data = request['data']
        param = data[0] & 0x7f if data else None
        if param in (0, 3, 4):  # set-in-progress, ack, boot info: accepted, not modelled
            return session.send_ipmi_response()
        if param != 5 or len(data) < 3:
            return session.send_ipmi_response(code=0x80)  # parameter not supported
        flags, selector = data[1], (data[2] >> 2) & 0x0f
        if not flags & 0x80:  # "boot flags valid" clear: no override
            self.set_boot_device('default')
            return session.send_ipmi_response()
        if selector not in BOOT_CODES:
            return session.send_ipmi_response(code=0xcc)
        self.set_boot_device(BOOT_CODES[selector], persistent=flags & 0x40, uefi=flags & 0x20)
        session.send_ipmi_response()

    def _get_boot_options(self, request, session):
        data = request['data']
        param = data[0] & 0x7f if data else None
        if param != 5:
            return session.send_ipmi_response(code=0x80)
        if self.boot == 'default':
            return session.send_ipmi_response(data=[1, 5, 0, 0, 0, 0, 0])
        flags = 0x80 | (0x40 if self.persistent else 0) | (0x20 if self.uefi else 0)
        session.send_ipmi_response(data=[1, 5, flags, BOOT_NUMBERS[self.boot] << 2, 0, 0, 0])

    def _fru_info(self, request, session):
        if request['data'][:1] != bytearray([0]):
            return session.send_ipmi_response(code=0xcb)  # requested data not present
        session.send_ipmi_response(data=list(struct.pack('<H', len(self.fru))) + [0])

    def _fru_read(self, request, session):
        data = request['data']
        if len(data) < 4 or data[0] != 0:
            return session.send_ipmi_response(code=0xcb)
        offset, count = data[1] | (data[2] << 8), data[3]
        chunk = self.fru[offset:offset + min(count, 224)]
        session.send_ipmi_response(data=bytearray([len(chunk)]) + bytearray(chunk))

    def _lan_config(self, request, session):
        data = request['data']
        if len(data) < 2 or (data[0] & 0x0f) not in (1, 0x0e):
            return session.send_ipmi_response(code=0xcc)
        param = data[1]
        values = {
            3: socket.inet_aton(self.address) if ':' not in self.address else b'\0' * 4,
            4: b'\x01',                      # address source: static
            5: self.mac,
            6: socket.inet_aton(self.spec.get('netmask', '255.0.0.0')),
            12: b'\0' * 4, 13: b'\0' * 6,    # no gateway
            14: b'\0' * 4, 15: b'\0' * 6,
            0x14: b'\0\0',                   # no VLAN
        }
        if param not in values:
            return session.send_ipmi_response(code=0x80)
        session.send_ipmi_response(data=bytearray([0x11]) + bytearray(values[param]))

    HANDLERS = {
        (6, 0x01): _device_id,
        (6, 0x02): _cold_reset,
        (6, 0x37): _system_guid,
        (6, 0x42): _channel_info,
        (0, 0x01): _chassis_status,
        (0, 0x02): _chassis_control,
        (0, 0x08): _set_boot_options,
        (0, 0x09): _get_boot_options,
        (0x0a, 0x10): _fru_info,
        (0x0a, 0x11): _fru_read,
        (0x0c, 0x02): _lan_config,
    }

    # --- packets

    def receive(self, limit=64):
        """Read and answer up to ``limit`` queued datagrams."""
        for _attempt in range(limit):
            try:
                # MSG_DONTWAIT: pyghmi's send helper flips the socket back to blocking.
                data, addr = self.serversocket.recvfrom(3000, socket.MSG_DONTWAIT)
            except OSError:  # nothing more queued (or the socket was closed)
                return
            self.handle_packet(data, addr)

    def handle_packet(self, data, addr):
        self.received += 1
        if self.dead:
            return
        if self.drop_rate and self.rng.random() < self.drop_rate:
            self.dropped += 1
            return
        data = bytearray(data)
        if len(data) < 16 or data[0:4] != RMCP_HEADER:
            return
        if data[4] == 6:  # IPMI 2.0 / RMCP+
            ptype = data[5] & 0x3f
            sessionid = struct.unpack('<I', bytes(data[6:10]))[0]
            if ptype == 0x10:  # open session request: a new session replaces the old one
                session = SimSession(self, addr, data[16:])
                if session.accepted:
                    self.sessions[addr] = session
                return
            if ptype in (0x12, 0x14) or (ptype in (0, 1) and sessionid):
                session = self.sessions.get(addr)
                if session is not None:
                    session.last_seen = time.monotonic()
                    session._handle_ipmi_packet(data, sockaddr=addr)
                return
        # sessionless: Get Channel Auth Capabilities, Get Channel Cipher Suites
        self.sessionless_data(data, addr)

    def expire_sessions(self, now):
        for addr, session in list(self.sessions.items()):
            if now - session.last_seen > SESSION_IDLE_TIMEOUT:
                del self.sessions[addr]


# ---------------------------------------------------------------- worker process

def _raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _control(bmcs, message):
    """Apply one control message; return (ok, result)."""
    op, args = message[0], message[1:]
    if op == 'ping':
        return True, len(bmcs)
    bmc = bmcs.get(args[0]) if args else None
    if bmc is None:
        return False, 'no BMC named %r here' % (args[0] if args else None)
    if op == 'state':
        return True, bmc.state()
    if op == 'stats':
        return True, bmc.stats()
    if op == 'set_power':
        {'on': bmc.power_on, 'off': bmc.power_off}[args[1]]()
        return True, bmc.state()
    if op == 'set_boot':
        if args[1] not in BOOT_NUMBERS:
            return False, 'unknown boot device %r' % (args[1],)
        bmc.set_boot_device(args[1], args[2], args[3])
        return True, bmc.state()
    if op == 'kill':
        bmc.dead = True
        bmc.sessions.clear()
        return True, bmc.state()
    if op == 'revive':
        bmc.dead = False
        return True, bmc.state()
    return False, 'unknown control operation %r' % (op,)


class _Channel(object):
    """JSON lines over a pair of file descriptors (the worker's stdin/stdout)."""

    def __init__(self, read_fd, write_fd):
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.buffer = b''

    def fileno(self):
        return self.read_fd

    def send(self, obj):
        data = (json.dumps(obj) + '\n').encode('utf-8')
        while data:
            data = data[os.write(self.write_fd, data):]

    def pending(self):
        """Complete lines already buffered or readable now; None at end of file."""
        chunk = os.read(self.read_fd, 65536)
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b'\n')
        return [json.loads(line) for line in lines if line.strip()]

    def recv(self, timeout):
        """Wait up to ``timeout`` seconds for one message; None on timeout or end of file."""
        deadline = time.monotonic() + timeout
        while b'\n' not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                return None
            chunk = os.read(self.read_fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\n', 1)
        return json.loads(line)


def _worker_main(bmc_class=None):
    """Worker process: read its config from stdin, serve its BMCs, obey control lines.

    ``bmc_class``: the BMC class to build from each spec (``SimBmc`` by default; a
    subclass such as ``lab.qemubmc.QemuBmc`` takes the same arguments).
    """
    bmc_class = bmc_class or SimBmc
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _raise_fd_limit()
    # Keep the real stdout for the channel; stray prints go to stderr instead.
    channel = _Channel(sys.stdin.fileno(), os.dup(sys.stdout.fileno()))
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    config = channel.recv(60)
    if config is None:
        return 1
    bmcs = {}
    for spec in config['specs']:
        try:
            bmcs[spec['name']] = bmc_class(spec, config['username'], config['password'],
                                           config['drop_rate'], config['seed'])
        except OSError as err:
            channel.send(['error', 'cannot bind %s:%s: %s' % (spec['address'], spec['port'], err)])
            return 1
    selector = selectors.DefaultSelector()  # epoll: no 1024-descriptor cap
    for bmc in bmcs.values():
        selector.register(bmc.serversocket, selectors.EVENT_READ, bmc)
    selector.register(channel, selectors.EVENT_READ, None)
    channel.send(['ready', len(bmcs)])
    next_sweep = time.monotonic() + 10
    while True:
        for key, _events in selector.select(timeout=5):
            if key.data is not None:
                key.data.receive()
                continue
            messages = channel.pending()
            if messages is None:
                return 0  # parent closed our stdin: it is gone or done
            for message in messages:
                if message[0] == 'stop':
                    for bmc in bmcs.values():
                        bmc.close()
                    channel.send([True, None])
                    return 0
                try:
                    channel.send(list(_control(bmcs, message)))
                except Exception as err:
                    channel.send([False, repr(err)])
        now = time.monotonic()
        if now > next_sweep:
            next_sweep = now + 10
            for bmc in bmcs.values():
                bmc.expire_sessions(now)


# ---------------------------------------------------------------- readiness probe

def auth_cap_request(seq=0):
    """A sessionless IPMI 1.5 Get Channel Authentication Capabilities request."""
    head = bytearray([0x20, 6 << 2])
    body = bytearray([0x81, (seq & 0x3f) << 2, 0x38, 0x8e, 0x04])
    msg = head + bytearray([_checksum(head)]) + body + bytearray([_checksum(body)])
    return bytes(RMCP_HEADER + bytearray([0]) + b'\0' * 8 + bytearray([len(msg)]) + msg)


def probe_bmcs(targets, timeout=10.0, interval=0.25):
    """Return the set of (address, port) in ``targets`` that answer a sessionless IPMI ping."""
    targets = set((addr, int(port)) for addr, port in targets)
    answered = set()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        deadline = time.monotonic() + timeout
        packet = auth_cap_request()
        while answered != targets and time.monotonic() < deadline:
            for target in targets - answered:
                try:
                    sock.sendto(packet, target)
                except OSError:
                    pass
            round_end = min(deadline, time.monotonic() + interval)
            while answered != targets:
                left = round_end - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                try:
                    data, addr = sock.recvfrom(512)
                except (socket.timeout, OSError):
                    break
                if data[:4] == RMCP_HEADER:
                    answered.add((addr[0], addr[1]))
    finally:
        sock.close()
    return answered & targets


# ---------------------------------------------------------------- the farm

class BmcFarm(object):
    """Run simulated BMCs in ``processes`` worker processes; control them out of band.

    ``specs``: list of dicts (name, address, port, serial, vendor, model, uuid, mac,
    power, boot, persistent, uefi; see ``make_specs``). ``drop_rate``: share of
    incoming packets each BMC silently drops (deterministic for a given seed).
    Subclasses serve other BMC classes by naming a module whose ``--worker`` entry
    point runs ``_worker_main(their class)`` (see ``lab.qemubmc``).
    """

    worker_module = 'lab.virtbmc'

    def __init__(self, specs, username='admin', password='password', processes=1,
                 drop_rate=0.0, seed=0, ready_timeout=60.0):
        self.specs = [normalize_spec(spec, index) for index, spec in enumerate(specs)]
        names = [spec['name'] for spec in self.specs]
        if len(set(names)) != len(names):
            raise ValueError('BMC names must be unique')
        endpoints = [(spec['address'], spec['port']) for spec in self.specs]
        if len(set(endpoints)) != len(endpoints):
            raise ValueError('BMC address:port pairs must be unique')
        self.username = username
        self.password = password
        self.processes = max(1, min(int(processes), len(self.specs) or 1))
        self.drop_rate = drop_rate
        self.seed = seed
        self.ready_timeout = ready_timeout
        self._workers = []   # (process, connection, lock)
        self._owner = {}     # BMC name -> index in _workers

    def spec(self, name):
        for spec in self.specs:
            if spec['name'] == name:
                return dict(spec)
        raise KeyError(name)

    def start(self):
        # Plain subprocesses (python -m lab.virtbmc --worker) rather than
        # multiprocessing: nothing depends on the caller's __main__ or threads.
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [LAB_ROOT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
        try:
            for index in range(self.processes):
                share = self.specs[index::self.processes]
                proc = subprocess.Popen([sys.executable, '-m', self.worker_module, '--worker'],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=env, cwd=LAB_ROOT)
                channel = _Channel(proc.stdout.fileno(), proc.stdin.fileno())
                self._workers.append((proc, channel, threading.Lock()))
                channel.send({'specs': share, 'username': self.username,
                              'password': self.password, 'drop_rate': self.drop_rate,
                              'seed': self.seed})
                for spec in share:
                    self._owner[spec['name']] = index
            for index, (proc, channel, _lock) in enumerate(self._workers):
                answer = channel.recv(self.ready_timeout)
                if answer is None:
                    raise RuntimeError('virtbmc worker %d did not start' % index)
                if answer[0] != 'ready':
                    raise RuntimeError('virtbmc worker %d: %s' % (index, answer[1]))
            targets = [(spec['address'], spec['port']) for spec in self.specs]
            missing = set(targets) - probe_bmcs(targets, timeout=self.ready_timeout)
            if missing:
                raise RuntimeError('%d BMCs do not answer, e.g. %s:%s'
                                   % ((len(missing),) + sorted(missing)[0]))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for proc, channel, lock in self._workers:
            try:
                with lock:
                    channel.send(['stop'])
                    channel.recv(5)
            except OSError:
                pass
            proc.stdin.close()
        for proc, _channel, _lock in self._workers:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(5)
            proc.stdout.close()
        self._workers = []
        self._owner = {}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _call(self, name, *message):
        if name not in self._owner:
            raise KeyError('no BMC named %r in this farm' % (name,))
        proc, channel, lock = self._workers[self._owner[name]]
        with lock:
            channel.send(list(message))
            answer = channel.recv(10)
        if answer is None:
            raise RuntimeError('virtbmc worker %d (serving %s) does not answer' % (proc.pid, name))
        ok, result = answer
        if not ok:
            raise ValueError(result)
        return result

    def state(self, name):
        """{'power', 'boot', 'persistent', 'uefi', 'booted_from', 'boots', 'dead'} of one BMC."""
        return self._call(name, 'state', name)

    def stats(self, name):
        """{'received', 'dropped', 'sessions'} packet counters of one BMC."""
        return self._call(name, 'stats', name)

    def set_power(self, name, power):
        """Switch the host on or off out of band (on boots it, like a power button)."""
        if power not in ('on', 'off'):
            raise ValueError('power must be on or off')
        return self._call(name, 'set_power', name, power)

    def set_boot(self, name, boot, persistent=False, uefi=False):
        return self._call(name, 'set_boot', name, boot, bool(persistent), bool(uefi))

    def kill(self, name):
        """The BMC stops answering (its socket stays bound, packets vanish)."""
        return self._call(name, 'kill', name)

    def revive(self, name):
        return self._call(name, 'revive', name)


# ---------------------------------------------------------------- CLI

def main(argv=None):
    parser = argparse.ArgumentParser(description='Serve simulated IPMI BMCs on loopback.')
    parser.add_argument('--count', type=int, default=10)
    parser.add_argument('--network', default='127.1.0.0/22')
    parser.add_argument('--port', type=int, default=623)
    parser.add_argument('--processes', type=int, default=1)
    parser.add_argument('--username', default='admin')
    parser.add_argument('--password', default='password')
    parser.add_argument('--drop-rate', type=float, default=0.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--prefix', default='sim')
    parser.add_argument('--spec-file', default='virtbmc-farm.json',
                        help='where to write the JSON list of served BMCs')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker_main()

    if not ipaddress.ip_network(args.network).subnet_of(ipaddress.ip_network('127.0.0.0/8')):
        parser.error('--network must be inside 127.0.0.0/8 (loopback only)')
    specs = make_specs(args.count, args.network, args.port, args.prefix)
    # SIGTERM -> SystemExit, so the farm's context manager stops the workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started = time.monotonic()
    with BmcFarm(specs, args.username, args.password, args.processes,
                 args.drop_rate, args.seed) as farm:
        document = {'username': args.username, 'password': args.password,
                    'processes': farm.processes, 'bmcs': farm.specs}
        tmp = args.spec_file + '.tmp'
        with open(tmp, 'w') as handle:
            json.dump(document, handle, indent=1)
        os.replace(tmp, args.spec_file)
        print('serving %d BMCs in %d processes (ready in %.1f s); specs in %s'
              % (len(specs), farm.processes, time.monotonic() - started, args.spec_file),
              flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
