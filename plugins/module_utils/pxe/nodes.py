# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nodes of one run, validated: identity, state, boot mode, and what their boot files need."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import os

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import checks
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.install import install_values
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.settings import BOOT_MODES, MODES, STATES
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import normalize_mac, validate_node_name


class Node(object):
    """One node to configure. ``mode`` is None for an absent node (it keeps no files)."""

    __slots__ = ('name', 'mac', 'ip', 'known_ips', 'hostname', 'state', 'mode', 'boot_mode', 'image', 'image_sha256',
                 'disk', 'install', 'kernel_args', 'registry')

    def __init__(self, **kwargs):
        for slot in self.__slots__:
            setattr(self, slot, kwargs.get(slot))

    @property
    def absent(self):
        return self.state == 'absent'

    @property
    def dashed(self):
        return self.mac.replace(':', '-')


def prepare_node(entry, settings, index=0):
    """Validate one node dict (name, mac, ip, hostname, state, mode, boot_mode, image, image_sha256, disk,
    install, kernel_args; registry nodes also bring known_ips) into a Node."""
    if not isinstance(entry, dict):
        raise InputError('nodes[%d] must be a mapping, got %r' % (index, entry))
    name = entry.get('name')
    try:
        validate_node_name(name)
    except InputError as exc:
        raise InputError('nodes[%d]: %s' % (index, exc.message))
    if entry.get('mac') is None:
        raise InputError('no MAC address: give mac (registry: provisioning.mac or a NIC with pxe: true)', node=name)
    try:
        mac = normalize_mac(entry['mac'])
    except InputError as exc:
        raise InputError(exc.message, node=name)
    state = entry.get('state') or settings.state
    if state not in STATES:
        raise InputError('state must be one of %s, got %r' % (', '.join(STATES), state), node=name)
    mode = None
    if state == 'present':
        mode = entry.get('mode') or settings.mode
        if mode not in MODES:
            raise InputError('mode must be one of %s, got %r' % (', '.join(MODES), mode), node=name)
    boot_mode = entry.get('boot_mode')
    if boot_mode is not None and boot_mode not in BOOT_MODES:
        raise InputError('boot_mode must be bios or uefi, got %r' % (boot_mode,), node=name)
    node = Node(name=name, mac=mac, state=state, mode=mode, boot_mode=boot_mode, registry=bool(entry.get('registry')),
                known_ips=[ip for ip in entry.get('known_ips') or [] if ip])
    node.hostname = checks.validate_hostname(entry['hostname'], name) if entry.get('hostname') else None
    if node.hostname is None:
        try:
            node.hostname = checks.validate_hostname(name)
        except InputError:
            raise InputError('its name %r is not a valid host name (DNS label): give hostname' % name, node=name)
    if entry.get('ip'):
        node.ip = checks.ipv4(entry['ip'], 'ip', name)
    node.kernel_args = checks.kernel_args(entry.get('kernel_args'), 'kernel_args', name)
    node.disk = checks.disk(entry['disk'], name) if entry.get('disk') is not None else settings.disk
    if mode == 'deploy':
        _prepare_image(node, entry, settings)
    if mode == 'install':
        node.install = install_values(entry.get('install'), settings, name)
    return node


def _prepare_image(node, entry, settings):
    own = entry.get('image')
    image = own or settings.image
    if not image:
        raise InputError('deploy needs an image (a URL, or a path under the HTTP root like images/debian-12.qcow2)',
                         node=node.name)
    if '/' not in image:
        image = 'images/' + image  # a bare file name (as registry provisioning.image often is) lives in images/
    node.image = checks.http_ref(image, 'image', settings.server, node.name)
    if entry.get('image_sha256'):
        node.image_sha256 = checks.sha256(entry['image_sha256'], 'image_sha256', node.name)
    elif not own and settings.image_sha256:
        node.image_sha256 = settings.image_sha256
    elif not image.startswith(('http://', 'https://')):
        node.image_sha256 = _sidecar_sha256(settings, image, node.name)
    if not node.image_sha256:
        raise InputError('deploy of image %s needs image_sha256 (the image\'s own, or a %s.sha256 file beside an '
                         'image under the HTTP root)' % (image, image), node=node.name)


def _sidecar_sha256(settings, image, name):
    path = os.path.join(settings.root, 'http', image + '.sha256')
    try:
        with io.open(path, 'r', encoding='utf-8') as handle:
            words = handle.read(4096).split()
    except (IOError, OSError, UnicodeDecodeError):
        return None
    return checks.sha256(words[0], 'checksum in %s' % path, name) if words else None


def prepare_nodes(entries, settings):
    """Validate all node dicts; refuse duplicate names and MACs, and duplicate host names and explicit IPs
    among the nodes that are present."""
    nodes = [prepare_node(entry, settings, index) for index, entry in enumerate(entries or [])]
    for attribute, what in (('name', 'name'), ('mac', 'MAC'), ('hostname', 'host name'), ('ip', 'IP address')):
        seen = {}
        for node in nodes:
            value = getattr(node, attribute)
            if value is None or (attribute in ('hostname', 'ip') and node.absent):
                continue
            if value in seen:
                raise InputError('%s %s is given to both node %s and node %s' % (what, value, seen[value], node.name))
            seen[value] = node.name
    return nodes
