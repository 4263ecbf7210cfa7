# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks and normal forms for what users type: MACs, node names, IPs, address sweeps.

Every function raises InputError naming the bad value, so a module can hand the
message to the user as it is.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, InputError

try:
    import netaddr
    HAS_NETADDR = True
    NETADDR_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    HAS_NETADDR = False
    NETADDR_IMPORT_ERROR = exc

NODE_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')
MAX_TARGETS = 65536

# aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff (Cisco), aabbccddeeff
_MAC_FORMS = (
    re.compile(r'^([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})[:]([0-9a-f]{2})$'),
    re.compile(r'^([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})$'),
    re.compile(r'^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$'),
    re.compile(r'^([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$'),
)
_HOST_LABEL_RE = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')


def _require_netaddr():
    if not HAS_NETADDR:
        raise IaasError('the netaddr Python library is required: %s' % NETADDR_IMPORT_ERROR)


def normalize_mac(value):
    """Return ``value`` as a lower-case, colon-separated MAC address."""
    if isinstance(value, str):
        text = value.strip().lower()
        for form in _MAC_FORMS:
            match = form.match(text)
            if match:
                return ':'.join(match.groups())
    raise InputError('%r is not a MAC address (expected e.g. 52:54:00:aa:bb:07)' % (value,))


def validate_node_name(name):
    """Return ``name`` if it is a valid node name; it becomes a file and host name, so be strict."""
    if not isinstance(name, str) or not NODE_NAME_RE.match(name) or '..' in name:
        raise InputError('%r is not a valid node name: 1-63 letters, digits, "_", "." or "-", starting with a '
                         'letter or digit, without ".."' % (name,))
    return name


def _ip(value):
    """Parse one address strictly (no '10.1', no leading zeros, no spaces); None if it is not one."""
    if not isinstance(value, str):
        return None
    _require_netaddr()
    try:
        return netaddr.IPAddress(value, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def validate_ip(value):
    """Return the canonical text of the IPv4 or IPv6 address ``value``."""
    address = _ip(value)
    if address is None:
        raise InputError('%r is not an IP address' % (value,))
    return str(address)


def validate_host(value):
    """Return an IP address (canonical) or a DNS host name (lower-case); BMCs may be reached by either."""
    address = _ip(value)
    if address is not None:
        return str(address)
    if isinstance(value, str) and 0 < len(value) <= 253:
        labels = value.rstrip('.').split('.')
        # An all-numeric last label means a mistyped IP, not a name.
        if all(_HOST_LABEL_RE.match(label) for label in labels) and not labels[-1].isdigit():
            return value.rstrip('.').lower()
    raise InputError('%r is neither an IP address nor a host name' % (value,))


def _span(spec):
    """One target spec as ``(version, first, last, network)``: ints, and the IPNetwork of a CIDR (else None)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError('%r is not an address, a range (a-b) or a CIDR' % (spec,))
    text = spec.strip()
    if '/' in text:
        address, _sep, prefix = text.partition('/')
        first = _ip(address.strip())
        if first is None or not prefix.strip().isdigit():
            raise InputError('%r is not a CIDR (expected e.g. 10.0.0.0/24)' % spec)
        bits = int(prefix)
        if bits > (32 if first.version == 4 else 128):
            raise InputError('%r: prefix /%d is too long for IPv%d' % (spec, bits, first.version))
        network = netaddr.IPNetwork('%s/%d' % (first, bits))
        if network.network != first:
            raise InputError('%r has host bits set; did you mean %s?' % (spec, network.cidr))
        return first.version, network.first, network.last, network
    if '-' in text:
        low, _sep, high = text.partition('-')
        first, last = _ip(low.strip()), _ip(high.strip())
        if first is None or last is None:
            raise InputError('%r is not a range (expected e.g. 10.0.0.5-10.0.0.20, full addresses on both sides)'
                             % spec)
        if first.version != last.version:
            raise InputError('%r mixes IPv4 and IPv6' % spec)
        if first > last:
            raise InputError('%r runs backwards: %s comes after %s' % (spec, first, last))
        return first.version, int(first), int(last), None
    address = _ip(text)
    if address is None:
        raise InputError('%r is not an IP address, a range (a-b) or a CIDR' % spec)
    return address.version, int(address), int(address), None


def parse_targets(specs, exclude=None):
    """Expand addresses, ranges and CIDRs into an ordered list of unique IP strings.

    A CIDR yields its host addresses (no network or broadcast address for
    IPv4 prefixes shorter than /31), like the lab's BMC farm uses them.
    Anything inside an ``exclude`` spec (same forms) is left out. More than
    MAX_TARGETS addresses is refused before anything is expanded, so a typo
    like /8 cannot eat the controller's memory.
    """
    _require_netaddr()
    if isinstance(specs, str):
        specs = [specs]
    if isinstance(exclude, str):
        exclude = [exclude]
    spans = [_span(spec) for spec in specs or []]
    total = sum(last - first + 1 for _version, first, last, _network in spans)
    if total > MAX_TARGETS:
        raise InputError('%s: %d addresses; at most %d can be swept at once'
                         % (', '.join(str(spec) for spec in specs), total, MAX_TARGETS))
    skipped = [span[:3] for span in (_span(spec) for spec in exclude or [])]

    targets = []
    seen = set()
    for version, first, last, network in spans:
        if network is not None:
            addresses = network.iter_hosts()
        else:
            addresses = netaddr.iter_iprange(netaddr.IPAddress(first, version), netaddr.IPAddress(last, version))
        for address in addresses:
            value = int(address)
            if any(version == ex_version and low <= value <= high for ex_version, low, high in skipped):
                continue
            if (version, value) not in seen:
                seen.add((version, value))
                targets.append(str(address))
    return targets
