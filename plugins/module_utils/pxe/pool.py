# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IPv4 addresses pxe_config hands out, and the boot server's subnet they must lie in.

dnsmasq answers only on the boot server's own network: an address outside it is written to the hosts file
and never given to anyone. So every address option is checked against that subnet: ``network`` when given,
else the pool CIDR that holds the boot server's address (a pool of ranges only, with the server given by
name, cannot be checked).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import checks
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import _span

try:
    import netaddr
except ImportError:  # pragma: no cover - the module reports validation.NETADDR_IMPORT_ERROR
    netaddr = None


def address(text):
    """The IPv4 address of ``text`` (as kept in a registry or a hosts line), or None if it is not one."""
    try:
        return netaddr.IPAddress(checks.ipv4(text, 'address'))
    except InputError:
        return None


class _Spec(object):
    """One address, range or CIDR as the user wrote it: its addresses, and its network if it is a CIDR."""

    def __init__(self, text, what):
        version, first, last, network = _span(text)
        if version != 4:
            raise InputError('%s %r: only IPv4 addresses are handed out over DHCP here' % (what, text))
        self.text = text
        self.network = network
        self.addresses = netaddr.IPSet(netaddr.IPRange(netaddr.IPAddress(first, 4), netaddr.IPAddress(last, 4)))


def _ends(network):
    """Network and broadcast address of a subnet, which no host may have (none on a /31 or /32)."""
    if network.prefixlen >= 31:
        return {}
    return {network.network: 'the network address of %s' % network.cidr,
            network.broadcast: 'the broadcast address of %s' % network.cidr}


class Pool(object):
    """CIDRs and ranges, minus network, broadcast, gateway, boot server and reserved addresses.

    ``why_not(address)`` says why an address cannot be given (None if it can);
    ``free(taken)`` yields the usable addresses not in ``taken``, lowest first.
    ``server`` is the boot server's IPv4 address, or None when it is given by name.
    """

    def __init__(self, specs, network=None, gateway=None, reserved=None, server=None):
        if isinstance(specs, str):
            specs = [specs]
        if not specs:
            raise InputError('pool is empty: give a CIDR (198.18.0.0/24) or a range (198.18.0.10-198.18.0.250)')
        self.specs = list(specs)
        pool = [_Spec(spec, 'pool') for spec in self.specs]
        self.addresses = netaddr.IPSet()
        self.excluded = {}
        for spec in pool:
            self.addresses |= spec.addresses
            if spec.network is not None:
                for value, reason in _ends(spec.network).items():
                    self.excluded.setdefault(value, reason)
        self.network = self._subnet(pool, network, server)
        if self.network is not None:
            self.excluded.update(_ends(self.network))
        self.gateway = None
        if gateway:
            self.gateway = checks.ipv4(gateway, 'gateway')
            self._inside(netaddr.IPSet([self.gateway]), 'gateway %s' % self.gateway)
            self.excluded[netaddr.IPAddress(self.gateway)] = 'the gateway'
        if server:
            self.excluded.setdefault(netaddr.IPAddress(server), 'the boot server')
        self.reserved = []
        for text in reserved or []:
            spec = _Spec(text, 'reserved')
            self._inside(spec.addresses, 'reserved %s' % text)
            self.reserved.append(spec)
        usable = self.addresses - netaddr.IPSet(self.excluded)
        for spec in self.reserved:
            usable -= spec.addresses
        self.usable = usable

    def _subnet(self, pool, network, server):
        """The boot server's subnet (see the file's docstring); InputError if the pool or server leaves it."""
        if network:
            version, _first, _last, subnet = _span(network)
            if version != 4 or subnet is None:
                raise InputError('network %r must be an IPv4 CIDR like 198.18.0.0/24' % network)
            outside = [spec.text for spec in pool if not spec.addresses.issubset(netaddr.IPSet(subnet))]
            if outside:
                raise InputError('pool %s is not inside network %s' % (', '.join(outside), subnet.cidr))
            if server and netaddr.IPAddress(server) not in subnet:
                raise InputError('server %s is outside network %s: the boot server answers DHCP only on its own '
                                 'network' % (server, subnet.cidr))
            return subnet
        # A /31 or /32 is an address or two written as a CIDR, not the subnet of a boot network.
        cidrs = [spec.network for spec in pool if spec.network is not None and spec.network.prefixlen < 31]
        if server and cidrs:
            subnet = next((cidr for cidr in cidrs if netaddr.IPAddress(server) in cidr), None)
            if subnet is None:
                raise InputError('pool %s is outside the boot server\'s network: server %s is in none of its CIDRs '
                                 '(give network, the subnet of the boot server, when the pool is part of it)'
                                 % (', '.join(self.specs), server))
        elif not server and len(pool) == 1 and cidrs:
            subnet = cidrs[0]
        else:
            return None  # ranges only, or several CIDRs and a server known by name: nothing to check against
        outside = [spec.text for spec in pool if not spec.addresses.issubset(netaddr.IPSet(subnet))]
        if outside:
            raise InputError('pool %s is outside the boot server\'s network %s (give network when the pool spans '
                             'a larger subnet)' % (', '.join(outside), subnet.cidr))
        return subnet

    def _inside(self, addresses, label):
        if self.network is not None and not addresses.issubset(netaddr.IPSet(self.network)):
            raise InputError('%s is outside the boot server\'s network %s' % (label, self.network.cidr))

    def why_not(self, value):
        value = netaddr.IPAddress(value)
        if value not in self.addresses:
            return 'outside the pool %s' % ', '.join(self.specs)
        if value in self.excluded:
            return self.excluded[value]
        for spec in self.reserved:
            if value in spec.addresses:
                return 'reserved (%s)' % spec.text
        return None

    def free(self, taken):
        """Usable addresses (IPAddress) not in ``taken`` (a set of IPAddress), lowest first."""
        for value in self.usable:
            if value not in taken:
                yield value
