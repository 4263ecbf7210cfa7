# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dnsmasq dhcp-hostsfile: lines read as they are, and our lines (``MAC,IP,hostname``) put in place.

No ``set:<tag>`` field: dnsmasq 2.90 (Debian 12) crashes on SIGHUP once a host of a tagged line has been
answered. Lines that are not ours (other MACs, comments) are kept as they are, where they are.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import checks
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.templates import MARKER

HEADER = '# %s\n# dnsmasq dhcp-hostsfile: MAC,IP,hostname (reread on SIGHUP)\n' % MARKER
_COLON_MAC_RE = re.compile(r'^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$')
_LEASE_RE = re.compile(r'^([0-9]+[smhdw]?|infinite)$')


class HostsLine(object):
    """One line of a dhcp-hostsfile: its text and, for a host line, its MACs, IPv4 address and host name."""

    __slots__ = ('text', 'macs', 'ip', 'hostname')

    def __init__(self, text, macs=(), ip=None, hostname=None):
        self.text, self.macs, self.ip, self.hostname = text, list(macs), ip, hostname


def parse_hosts(text):
    """The lines of a dnsmasq dhcp-hostsfile; lines that are not host lines are kept as they are."""
    lines = []
    for raw in text.splitlines():
        body = raw.strip()
        if not body or body.startswith('#'):
            lines.append(HostsLine(raw))
            continue
        macs, ip, hostname = [], None, None
        for field in body.split(','):
            field = field.strip()
            if _COLON_MAC_RE.match(field):
                macs.append(field.lower())
            elif field.startswith(('set:', 'tag:', 'net:', 'id:')) or field in ('ignore', '') or _LEASE_RE.match(field):
                continue
            elif field[0].isdigit() and field.count('.') == 3:
                try:
                    ip = checks.ipv4(field, 'ip')
                except InputError:
                    pass
            elif not field.startswith('['):
                hostname = field.lower()
        lines.append(HostsLine(raw, macs, ip, hostname))
    return lines


def hosts_line(node):
    return '%s,%s,%s' % (node.mac, node.ip, node.hostname)


def new_hosts_text(lines, nodes, existed):
    """The hosts file after this run: our lines replaced in place, new ones appended, absent ones dropped.

    ``lines``: the current file, parsed; ``existed``: whether there is a file (a new one gets the header).
    """
    out, placed = [], set()
    by_mac = dict((node.mac, node) for node in nodes)
    for line in lines:
        mine = [mac for mac in line.macs if mac in by_mac]
        if not mine:
            out.append(line.text)
            continue
        for mac in mine:
            if mac not in placed and not by_mac[mac].absent:
                out.append(hosts_line(by_mac[mac]))
            placed.add(mac)
    for node in nodes:
        if node.mac not in placed and not node.absent:
            out.append(hosts_line(node))
    return ('' if existed else HEADER) + ''.join(line + '\n' for line in out)
