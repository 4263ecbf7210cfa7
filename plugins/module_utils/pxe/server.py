# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot server as the boot files name it: its HTTP base URL, its GRUB device, and its IPv4 address."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import checks
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import validate_host

# Port of the report receiver when report_url is not given (the boot_server role's boot_server_receiver_port).
REPORT_PORT = 8088


class BootServer(object):
    """``server`` given as a host, an IP address or an http(s) URL.

    ``base``: the URL boot scripts fetch from; ``grub_device`` and ``grub_prefix``: GRUB's ``(http,host)``
    and the path below it; ``host``: the host part of the URL (an IPv6 address in brackets); ``ipv4``: the
    server's IPv4 address when it is given as one (never handed to a node), else None.
    """

    def __init__(self, value):
        if not isinstance(value, str) or not value.strip():
            raise InputError('server must be the boot server\'s IP address, host name or http(s) URL, got %r'
                             % (value,))
        text = value.strip().rstrip('/')
        if '://' not in text:
            host = validate_host(text)
            netloc = '[%s]' % host if ':' in host else host
            self.base, prefix = 'http://%s' % netloc, ''
        else:
            self.base = checks.url(text, 'server')
            netloc, _sep, prefix = self.base.split('://', 1)[1].partition('/')
        self.host = _netloc_host(netloc)
        if not self.host:
            raise InputError('server %r has no host' % value)
        bare = self.host.strip('[]')
        if not self.host.startswith('['):
            validate_host(bare)
        self.ipv4 = bare if '.' in bare and checks.is_ip(bare) else None
        self.grub_device = '(http,%s)' % netloc
        self.grub_prefix = ('/' + prefix) if prefix else ''

    def default_report_url(self):
        """The report receiver on the boot server's host (docs/architecture.md: /v1/reports)."""
        return 'http://%s:%d/v1/reports' % (self.host, REPORT_PORT)


def _netloc_host(netloc):
    if netloc.startswith('['):
        return netloc[:netloc.index(']') + 1]
    return netloc.split(':', 1)[0]
