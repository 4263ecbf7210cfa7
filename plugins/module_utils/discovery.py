# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find BMCs in address ranges and merge what they say into the registry.

A sweep has two phases. First a presence probe: one UDP socket sends the
session-less IPMI "Get Channel Authentication Capabilities" request to every
address and listens for answers, so a /22 with hundreds of silent addresses
costs about two probe timeouts (one resend), not a login timeout per address. Then only
the addresses that answered are logged into (concurrently), trying the named
credential sets in order, and asked for their identity.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import select
import socket
import time

from ansible_collections.datacenter.iaas.plugins.module_utils.bmc import BmcTarget, connect
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import BmcAuthError, BmcError, InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.fleet import run

# RMCP header (v6, no ACK, class IPMI), IPMI 1.5 session header with no
# session, then Get Channel Authentication Capabilities (netfn App, cmd 0x38)
# for the current channel with the IPMI 2.0 bit, at administrator level.
GET_CHANNEL_AUTH_CAP = bytes(bytearray([
    0x06, 0x00, 0xff, 0x07,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
    0x20, 0x18, 0xc8, 0x81, 0x00, 0x38, 0x8e, 0x04, 0xb5,
]))


def probe_ipmi(addresses, port=623, timeout=1.0, attempts=2):
    """Return the subset of ``addresses`` (in the given order) whose port answers an IPMI ping."""
    answered = set()
    pending = list(addresses)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.setblocking(False)
        for _attempt in range(attempts):
            for address in pending:
                try:
                    sock.sendto(GET_CHANNEL_AUTH_CAP, (address, port))
                except (BlockingIOError, InterruptedError):
                    # Send buffer full: let the kernel drain it, then go on.
                    select.select([], [sock], [], 0.05)
                    try:
                        sock.sendto(GET_CHANNEL_AUTH_CAP, (address, port))
                    except OSError:
                        pass
                except OSError:
                    pass  # e.g. ICMP unreachable reported on this socket
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(answered) < len(addresses):
                ready, _w, _x = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    break
                while True:
                    try:
                        data, source = sock.recvfrom(512)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        continue
                    # Any RMCP IPMI answer from the port counts as a BMC.
                    if len(data) >= 4 and data[0] == 0x06 and data[3] & 0x0f == 0x07 and source[1] == port:
                        answered.add(source[0])
            pending = [address for address in pending if address not in answered]
            if not pending:
                break
    finally:
        sock.close()
    return [address for address in addresses if address in answered]


def probe_tcp(addresses, port=443, timeout=1.0, concurrency=64):
    """Addresses where something accepts a TCP connection on ``port`` (the Redfish presence probe)."""
    def attempt(address):
        def call():
            with socket.create_connection((address, port), timeout=timeout):
                return True
        return call
    outcomes = run([(address, attempt(address)) for address in addresses], concurrency=concurrency,
                   deadline=timeout * 2)
    return [address for address in addresses if outcomes[address].ok]


def identify(address, port, protocol, credentials, options):
    """Log in with each credential set in turn; the first that works reads identity and MACs.

    Returns ``{'credential': set_name, 'identity': {...}, 'macs': [...], 'power': ...}``.
    """
    refused = []
    for set_name in sorted(credentials):
        creds = credentials[set_name] or {}
        target = BmcTarget(address, creds.get('username'), creds.get('password'), port=port, protocol=protocol,
                           kg=creds.get('kg'), **options)
        try:
            with connect(target) as client:
                return {
                    'credential': set_name,
                    'identity': client.identity(),
                    'macs': client.macs(),
                    'power': client.power_state(),
                }
        except BmcAuthError:
            refused.append(set_name)
    raise BmcAuthError('answers, but refuses every credential set tried (%s)' % ', '.join(refused),
                       address='%s:%s' % (address, port))


_NAME_CLEAN = re.compile(r'[^A-Za-z0-9_.-]+')


def node_name_for(identity, address, prefix='node'):
    """A registry name for a new node: from its serial, else from its BMC address."""
    serial = (identity or {}).get('serial')
    base = _NAME_CLEAN.sub('-', serial).strip('-.').lower() if serial else ''
    if not base:
        base = 'bmc-' + address.replace('.', '-').replace(':', '-')
    name = '%s-%s' % (prefix, base) if prefix else base
    return re.sub(r'\.{2,}', '.', name)[:63].rstrip('.-')


def merge_sweep(data, found, swept, protocol, port, prefix='node'):
    """Merge sweep results into registry ``data`` (changed in place).

    ``found``: ``{address: identify() result}``; ``swept``: every address probed.
    Nodes are matched by serial first (a BMC that moved keeps its node), then by
    BMC address. Returns ``{'new': [...], 'changed': [...], 'unchanged': [...], 'missing': [...]}``.
    """
    nodes = data.setdefault('nodes', {})
    by_serial = {}
    by_address = {}
    for name, node in nodes.items():
        serial = (node.get('hardware') or {}).get('serial')
        if serial:
            by_serial[serial] = name
        bmc = node.get('bmc') or {}
        if bmc.get('address'):
            by_address[(bmc['address'], bmc.get('port') or port)] = name
    report = {'new': [], 'changed': [], 'unchanged': [], 'missing': []}
    seen = set()
    for address in sorted(found, key=_address_key):
        answer = found[address]
        identity = answer['identity'] or {}
        serial = identity.get('serial')
        name = by_serial.get(serial) if serial else None
        if name is None:
            # The node at this address is the same machine only if the serials
            # do not contradict that: a new machine where an old one stood is new.
            candidate = by_address.get((address, port))
            known_serial = (nodes[candidate].get('hardware') or {}).get('serial') if candidate else None
            if candidate and not (serial and known_serial and serial != known_serial):
                name = candidate
        if name in seen:
            raise InputError('two BMCs (the second at %s) claim registry node %s' % (address, name))
        bmc = {'address': address, 'port': port, 'protocol': protocol, 'credential': answer['credential']}
        facts = dict((key, value) for key, value in identity.items() if value)
        if name is None:
            name = node_name_for(identity, address, prefix)
            if name in nodes:
                raise InputError('a new BMC at %s would be named %s, which the registry already has for another '
                                 'machine' % (address, name))
            nodes[name] = {'state': 'enrolled', 'role': None, 'protected': False, 'bmc': bmc, 'hardware': facts}
            report['new'].append(name)
        else:
            node = nodes[name]
            before = (dict(node.get('bmc') or {}), dict(node.get('hardware') or {}))
            node_bmc = node.setdefault('bmc', {})
            node_bmc.update(bmc)
            node.setdefault('hardware', {}).update(facts)
            if before == (node_bmc, node['hardware']):
                report['unchanged'].append(name)
            else:
                report['changed'].append(name)
        seen.add(name)
    swept_set = set(swept)
    for name in sorted(nodes):
        bmc = nodes[name].get('bmc') or {}
        if name not in seen and bmc.get('address') in swept_set and (bmc.get('port') or port) == port:
            report['missing'].append(name)
    return report


def _address_key(address):
    try:
        return (0, socket.inet_aton(address))
    except OSError:
        return (1, address.encode())


def sweep(addresses, credentials, protocol='ipmi', port=None, concurrency=64, probe_timeout=1.0,
          login_timeout=20.0, options=None):
    """Probe ``addresses``, then identify the answering BMCs.

    Returns ``(found, failures)``: ``{address: identify() result}`` and
    ``{address: BmcError}`` for BMCs that answered but could not be read.
    """
    if not credentials:
        raise InputError('give at least one credential set to log in with')
    port = port or (623 if protocol == 'ipmi' else 443)
    if protocol == 'ipmi':
        alive = probe_ipmi(addresses, port=port, timeout=probe_timeout)
    else:
        alive = probe_tcp(addresses, port=port, timeout=probe_timeout, concurrency=concurrency)
    options = dict(options or {})

    def task(address):
        return lambda: identify(address, port, protocol, credentials, options)
    outcomes = run([(address, task(address)) for address in alive], concurrency=concurrency, deadline=login_timeout)
    found, failures = {}, {}
    for address, outcome in outcomes.items():
        if outcome.ok:
            found[address] = outcome.value
        else:
            error = outcome.error
            failures[address] = error if isinstance(error, BmcError) else BmcError(str(error), address=address)
    return found, failures
