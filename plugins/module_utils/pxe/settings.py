# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The call-wide options of one pxe_config run, validated before anything is read or written."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import checks
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.pool import Pool
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.server import BootServer

MODES = ('discover', 'deploy', 'install', 'local')
STATES = ('present', 'absent')
BOOT_MODES = ('bios', 'uefi')
TEMPLATE_KINDS = ('ipxe', 'pxelinux', 'grub', 'preseed', 'autoinstall')
DEFAULT_KERNEL = 'ramdisk/vmlinuz'
DEFAULT_INITRD = 'ramdisk/initramfs.cpio.gz'
DEFAULT_HOSTS_FILE = 'dnsmasq/hosts'

# The keyword arguments of Settings, which are also pxe_config's option names.
OPTIONS = ('root', 'server', 'pool', 'network', 'gateway', 'reserved', 'state', 'mode', 'kernel', 'initrd',
           'report_url', 'kernel_args', 'templates', 'discover_unknown', 'hosts_file', 'image', 'image_sha256',
           'disk', 'install')


class Settings(object):
    """The validated call-wide options of one run."""

    def __init__(self, root, server, pool=None, network=None, gateway=None, reserved=None, state='present',
                 mode='discover', kernel=DEFAULT_KERNEL, initrd=DEFAULT_INITRD, report_url=None, kernel_args='',
                 templates=None, discover_unknown=True, hosts_file=DEFAULT_HOSTS_FILE, image=None, image_sha256=None,
                 disk=None, install=None):
        if not isinstance(root, str) or not root:
            raise InputError('root (the boot server root) must be a directory path, got %r' % (root,))
        self.root = os.path.abspath(root)
        boot = BootServer(server)
        self.server, self.grub_server, self.grub_prefix = boot.base, boot.grub_device, boot.grub_prefix
        if network and not pool:
            raise InputError('network is given without a pool')
        self.pool = Pool(pool, network, gateway, reserved, server=boot.ipv4) if pool else None
        if state not in STATES:
            raise InputError('state must be one of %s, got %r' % (', '.join(STATES), state))
        self.state = state
        if mode not in MODES:
            raise InputError('mode must be one of %s, got %r' % (', '.join(MODES), mode))
        self.mode = mode
        self.kernel = checks.relpath(kernel, 'kernel')
        self.initrd = checks.relpath(initrd, 'initrd')
        self.report_url = checks.url(report_url, 'report_url') if report_url else boot.default_report_url()
        self.kernel_args = checks.kernel_args(kernel_args, 'kernel_args')
        self.templates = {}
        for kind, path in (templates or {}).items():
            if path is None:
                continue
            if kind not in TEMPLATE_KINDS:
                raise InputError('templates: unknown kind %r (kinds: %s)' % (kind, ', '.join(TEMPLATE_KINDS)))
            self.templates[kind] = path
        self.discover_unknown = bool(discover_unknown)
        self.hosts_file, self.hosts_path = _hosts_file(hosts_file, self.root)
        self.image = image
        self.image_sha256 = checks.sha256(image_sha256, 'image_sha256') if image_sha256 else None
        self.disk = checks.disk(disk)
        self.install = dict(install or {})

    @classmethod
    def from_params(cls, params):
        """Settings from pxe_config's parameters (those named in OPTIONS)."""
        return cls(**dict((name, params[name]) for name in OPTIONS if name in params))


def _hosts_file(value, root):
    """(the hosts file as given, its absolute path): absolute, or a plain path under root."""
    if not isinstance(value, str) or not value:
        raise InputError('hosts_file must be a path, got %r' % (value,))
    if os.path.isabs(value):
        path = os.path.normpath(value)
        return path, path
    if not all(checks.PATH_PART_RE.match(part) for part in value.split('/')):
        raise InputError('hosts_file %r must be an absolute path or a path under root without ".."' % value)
    return value, os.path.join(root, value)
