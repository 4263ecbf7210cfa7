# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who gets which IPv4 address.

An explicit ``ip`` must be usable (in the pool, not the network, broadcast, gateway, boot server or reserved)
and not held by a machine outside this run; else a node keeps the address it has (registry provisioning.ip,
then its line in the hosts file) while that is still usable and free; else it gets the lowest free address
of the pool. Addresses that other lines of the hosts file and other registry nodes hold are never handed out.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.pool import address


def allocate(pool, nodes, current, foreign_ips):
    """Set ``ip`` of every present node (see the docstring); InputError if impossible.

    ``pool``: a Pool or None; ``current``: {MAC: its HostsLine}; ``foreign_ips``: {IPAddress: who holds it}.
    """
    present = [node for node in nodes if not node.absent]
    if not present:
        return
    claimed = {}
    for node in present:
        if node.ip is None:
            continue
        if pool is None:
            raise InputError('ip %s is given but no pool: give pool (a CIDR or range the addresses come from)'
                             % node.ip, node=node.name)
        value = address(node.ip)
        reason = pool.why_not(value)
        if reason:
            raise InputError('ip %s is %s' % (node.ip, reason), node=node.name)
        if value in foreign_ips:
            raise InputError('ip %s is already given to %s' % (node.ip, foreign_ips[value]), node=node.name)
        claimed[value] = node.name
    waiting = []
    for node in present:
        if node.ip is not None:
            continue
        if pool is None:
            raise InputError('no pool to take an IP address from: give pool, or ip for every node', node=node.name)
        line = current.get(node.mac)
        for known in list(node.known_ips or []) + ([line.ip] if line is not None and line.ip else []):
            value = address(known)
            if value is not None and value not in claimed and value not in foreign_ips and not pool.why_not(value):
                node.ip = str(value)
                claimed[value] = node.name
                break
        if node.ip is None:
            waiting.append(node)
    if waiting:
        taken = set(claimed) | set(foreign_ips)
        free = pool.free(taken)
        for index, node in enumerate(waiting):
            value = next(free, None)
            if value is None:
                raise InputError('pool %s has no free address left for %d more node(s), starting with %s'
                                 % (', '.join(pool.specs), len(waiting) - index, node.name), node=node.name)
            node.ip = str(value)
