# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The installer settings of a node in install mode: defaults per system, merged and validated."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import checks

INSTALL_OS = ('debian', 'ubuntu')
# Installer defaults; ``install`` options override them key by key.
INSTALL_DEFAULTS = {
    'debian': {
        'kernel': 'images/debian-installer/linux', 'initrd': 'images/debian-installer/initrd.gz',
        'mirror': 'deb.debian.org', 'mirror_directory': '/debian', 'suite': 'bookworm', 'proxy': '',
    },
    'ubuntu': {
        'kernel': 'images/ubuntu-installer/vmlinuz', 'initrd': 'images/ubuntu-installer/initrd',
        'iso': 'images/ubuntu-installer/live-server-amd64.iso',
    },
}
INSTALL_COMMON = {
    'locale': 'en_US.UTF-8', 'keyboard': 'us', 'timezone': 'Etc/UTC', 'username': 'iaas', 'password_hash': '',
    'ssh_authorized_keys': [], 'packages': ['openssh-server'],
}
_USER_RE = re.compile(r'^[a-z_][a-z0-9_-]{0,31}$')
_PACKAGE_RE = re.compile(r'^[A-Za-z0-9.+:~_-]+$')


def install_values(own, settings, name):
    """The call-wide ``install`` with the node's own over it, on the defaults of its system."""
    merged = dict(settings.install)
    if own is not None:
        if not isinstance(own, dict):
            raise InputError('install must be a mapping, got %r' % (own,), node=name)
        merged.update(own)
    system = merged.get('os')
    if system not in INSTALL_OS:
        raise InputError('install needs os: %s, got %r' % (' or '.join(INSTALL_OS), system), node=name)
    values = dict(INSTALL_COMMON)
    values.update(INSTALL_DEFAULTS[system])
    values.update(dict((key, value) for key, value in merged.items() if value is not None))
    if not isinstance(values['username'], str) or not _USER_RE.match(values['username']):
        raise InputError('install.username %r is not a valid user name' % (values['username'],), node=name)
    for key in ('ssh_authorized_keys', 'packages'):
        if isinstance(values[key], str):
            values[key] = [values[key]]
        if not isinstance(values[key], list) or not all(isinstance(item, str) for item in values[key]):
            raise InputError('install.%s must be a list of strings' % key, node=name)
    for package in values['packages']:
        if not _PACKAGE_RE.match(package):
            raise InputError('install.packages: %r is not a package name' % package, node=name)
    for key in ('kernel', 'initrd', 'iso'):
        if key in values:
            checks.http_ref(values[key], 'install.%s' % key, settings.server, name)
    return values
