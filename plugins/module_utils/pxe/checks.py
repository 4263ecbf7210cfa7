# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validators of the values that end up in boot files and paths; each returns the value or raises InputError.

MACs, node names, host names and IP addresses follow ``validation`` (the collection's one set of those rules);
what is here is what only boot files need: paths under the HTTP root, URLs and kernel arguments that iPXE,
PXELINUX and GRUB take without quoting, checksums and disks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
from urllib.parse import urlsplit

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import validate_host, validate_ip

PATH_PART_RE = re.compile(r'^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*$')
# Characters safe in a URL or kernel argument inside iPXE, PXELINUX and GRUB scripts: no blanks, quotes,
# '$' (iPXE/GRUB expansion), ';' or '#' (GRUB), '\\', braces.
_ARG_RE = re.compile(r'^[A-Za-z0-9._~:/?=&%+,@\[\]-]+$')
_URL_RE = re.compile(r'^https?://[A-Za-z0-9._~:/?=&%+,@\[\]-]+$')
_SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
_DISK_RE = re.compile(r'^/dev/[A-Za-z0-9._:+/-]+$')


def validate_hostname(value, node=None):
    """``value`` lower-case if it is a DNS name: validation's host rule, less IP addresses (it names files)."""
    try:
        text = validate_host(value)
    except InputError:
        text = None
    # validate_host gives an IP address back as it is; a name has no ':' and no all-digit last label.
    if text is not None and ':' not in text and not text.rsplit('.', 1)[-1].isdigit():
        return text
    raise InputError('%r is not a valid host name: DNS labels of 1-63 letters, digits and "-" (not at either '
                     'end), separated by "."' % (value,), node=node)


def is_ip(text):
    try:
        validate_ip(text)
    except InputError:
        return False
    return True


def ipv4(value, what, node=None):
    """The canonical text of an IPv4 address: DHCP hands out nothing else here."""
    try:
        text = validate_ip(value)
    except InputError:
        raise InputError('%s %r is not an IP address' % (what, value), node=node)
    if ':' in text:
        raise InputError('%s %r: only IPv4 addresses are handed out over DHCP here' % (what, value), node=node)
    return text


def relpath(value, what, node=None):
    """A relative path under the HTTP root: plain names, no '..', no leading '/' or '.'."""
    if isinstance(value, str) and value and not value.startswith('/'):
        if all(PATH_PART_RE.match(part) for part in value.split('/')):
            return value
    raise InputError('%s %r must be a relative path under the HTTP root (names of letters, digits, ".", "_", '
                     '"-", "+", "~", without ".." or a leading "/" or ".")' % (what, value), node=node)


def url(value, what, node=None):
    """An http(s) URL that boot scripts can carry as it is, with a port (if any) of 1-65535."""
    if not (isinstance(value, str) and _URL_RE.match(value)):
        raise InputError('%s %r is not a usable http(s) URL (no blanks, quotes, "$", ";" or "#")' % (what, value),
                         node=node)
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # an unclosed '[' of an IPv6 address
        raise InputError('%s %r is not a usable http(s) URL: %s' % (what, value, exc), node=node)
    try:
        port = parts.port
    except ValueError:  # not a number, or beyond 65535
        port = -1
    if port is not None and not 0 < port < 65536:
        raise InputError('%s %r: the port must be a number from 1 to 65535' % (what, value), node=node)
    return value


def http_ref(value, what, base, node=None):
    """An http(s) URL kept as it is, or a path under the HTTP root made into a URL on the boot server."""
    if isinstance(value, str) and value.startswith(('http://', 'https://')):
        return url(value, what, node)
    return '%s/%s' % (base, relpath(value, what, node))


def kernel_args(value, what, node=None):
    """The words of a kernel command line that iPXE, PXELINUX and GRUB all pass on unchanged."""
    if value is None:
        return []
    if not isinstance(value, str):
        raise InputError('%s must be a string, got %r' % (what, value), node=node)
    args = value.split()
    for arg in args:
        if not _ARG_RE.match(arg):
            raise InputError('%s: %r cannot be passed safely to iPXE, PXELINUX and GRUB (no quotes, "$", ";", '
                             '"#", "\\" or braces)' % (what, arg), node=node)
    return args


def sha256(value, what, node=None):
    if isinstance(value, str) and _SHA256_RE.match(value.strip().lower()):
        return value.strip().lower()
    raise InputError('%s %r is not a SHA-256 (64 hex digits)' % (what, value), node=node)


def disk(value, node=None):
    if value is None or value == 'auto':
        return 'auto'
    if isinstance(value, str) and _DISK_RE.match(value) and '/../' not in value + '/':
        return value
    raise InputError('disk %r must be "auto" or a device path like /dev/sda' % (value,), node=node)
