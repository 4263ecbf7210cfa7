# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run would change, computed without changing anything: the one decision of check mode and real runs.

``plan`` reads the hosts file and the files on disk, allocates addresses, renders every file in memory and
keeps only the differences: files to write, files to remove, the new hosts file. Everything a real run could
fail on (bad input, a path leaving its root, a directory it may not write in) fails here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import layout
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.allocate import allocate
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.checks import validate_hostname
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.hosts_file import hosts_line, new_hosts_text, parse_hosts
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.pool import address
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.registry_nodes import registry_ips
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.render import Renderer, boot_paths, install_paths

FILE_MODE = 0o644
MAX_DIFF_FILES = 20
MAX_DIFF_CHARS = 16384


class Plan(object):
    """What a run changes: ``writes`` [(path, new, old or None)] and ``removes`` [(path, old)], relative paths
    (the hosts file as given), and the result of every node."""

    def __init__(self, settings):
        self.settings = settings
        self.writes = []
        self.removes = []
        self.nodes = []
        self.hosts_changed = False

    @property
    def changed(self):
        return bool(self.writes or self.removes)

    def changed_files(self):
        return [path for path, _new, _old in self.writes]

    def removed_files(self):
        return [path for path, _old in self.removes]

    def diff(self, max_files=MAX_DIFF_FILES, max_chars=MAX_DIFF_CHARS):
        """Ansible diffs of the changed text files (the hosts file first), at most ``max_files``."""
        entries = [(path, old or '', new) for path, new, old in self.writes]
        entries += [(path, old, '') for path, old in self.removes]
        entries.sort(key=lambda item: (item[0] != self.settings.hosts_file, item[0]))
        out = []
        for path, before, after in entries[:max_files]:
            out.append({'before_header': path, 'after_header': path,
                        'before': _clip(before, max_chars), 'after': _clip(after, max_chars)})
        if len(entries) > max_files:
            out.append({'prepared': '... and %d more changed files, not shown\n' % (len(entries) - max_files)})
        return out


def _clip(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + '\n[... %d more characters not shown]\n' % (len(text) - limit)


def _holders(settings, lines, nodes, registry_data):
    """({MAC of ours: its line}, {IPAddress: who}, {hostname: who}) of the hosts file (and the registry)."""
    ours = set(node.mac for node in nodes)
    current, foreign_ips, foreign_names = {}, {}, {}
    for line in lines:
        if not line.macs:
            continue
        mine = [mac for mac in line.macs if mac in ours]
        if mine and len(mine) != len(line.macs):
            raise InputError('%s has a line for several MACs, some of them configured here (%s): split it by hand '
                             'first: %s' % (settings.hosts_file, ', '.join(mine), line.text.strip()))
        if mine:
            for mac in mine:
                current.setdefault(mac, line)
            continue
        label = 'MAC %s in %s' % (line.macs[0], settings.hosts_file)
        value = address(line.ip)
        if value is not None:
            foreign_ips.setdefault(value, label)
        if line.hostname:
            foreign_names.setdefault(line.hostname, label)
    if registry_data is not None:
        for value, label in registry_ips(registry_data, set(node.name for node in nodes if node.registry)).items():
            foreign_ips.setdefault(value, label)
    return current, foreign_ips, foreign_names


def _stale_paths(node, files, previous):
    """Files a node may have had (other boot modes, an old host name) that it no longer gets."""
    candidates = list(boot_paths(node.mac).values()) + install_paths(node.hostname)
    if previous and previous.hostname and previous.hostname != node.hostname:
        try:
            candidates += install_paths(validate_hostname(previous.hostname))
        except InputError:
            pass  # a hand-written line with an odd name: it never had our files
    return [path for path in candidates if path not in files]


def plan(settings, nodes, registry_data=None, renderer=None):
    """The Plan of configuring ``nodes`` (prepared Nodes; their ``ip`` is set here). See the file's docstring."""
    if not os.path.isdir(settings.root):
        raise InputError('root %s is not a directory' % settings.root)
    renderer = renderer or Renderer(settings)
    hosts_text, hosts_mode = layout.read(settings.hosts_path)
    lines = parse_hosts(hosts_text or '')
    current, foreign_ips, foreign_names = _holders(settings, lines, nodes, registry_data)

    allocate(settings.pool, nodes, current, foreign_ips)
    for node in nodes:
        if not node.absent and node.hostname in foreign_names:
            raise InputError('host name %s is already given to %s; remove that line (state absent) first'
                             % (node.hostname, foreign_names[node.hostname]), node=node.name)

    desired, owner, unwanted = {}, {}, {}  # path -> content; path -> node name (both for desired and unwanted)
    node_files = {}
    for node in nodes:
        files = renderer.node_files(node)
        desired.update(files)
        node_files[node.name] = sorted(files)
        for path in files:
            owner[path] = node.name
        for path in _stale_paths(node, files, current.get(node.mac)):
            unwanted[path] = node.name
    desired.update(renderer.fallback_files())
    if not settings.discover_unknown:
        unwanted['http/ipxe/discover.ipxe'] = None
    for path in desired:
        unwanted.pop(path, None)
    layout.check_no_clash(desired)

    result = Plan(settings)
    guard = layout.RootGuard(settings.root)
    changed_nodes = set()
    for path in sorted(desired):
        absolute = guard.check(path, layout.top(path))
        old, mode = layout.read(absolute)
        if old != desired[path] or mode != FILE_MODE:
            guard.writable(absolute)
            result.writes.append((path, desired[path], old))
            if path in owner:
                changed_nodes.add(owner[path])
    for path in sorted(unwanted):
        absolute = guard.check(path, layout.top(path))
        if os.path.lexists(absolute):
            guard.writable(absolute)
            old, _mode = layout.read(absolute)
            result.removes.append((path, old or ''))
            if unwanted[path] is not None:
                changed_nodes.add(unwanted[path])
    new_hosts = new_hosts_text(lines, nodes, hosts_text is not None)
    if new_hosts != hosts_text or hosts_mode != FILE_MODE:
        if not os.path.isabs(settings.hosts_file):
            guard.check(settings.hosts_file, '')
        elif os.path.isdir(settings.hosts_path):
            raise InputError('hosts_file %s is a directory' % settings.hosts_path)
        guard.writable(settings.hosts_path)
        result.writes.append((settings.hosts_file, new_hosts, hosts_text))
        result.hosts_changed = True

    for node in nodes:
        previous = current.get(node.mac)
        wanted = None if node.absent else hosts_line(node)
        if (previous.text.strip() if previous else None) != wanted:
            changed_nodes.add(node.name)
        result.nodes.append({
            'name': node.name, 'mac': node.mac, 'ip': node.ip, 'hostname': node.hostname, 'state': node.state,
            'mode': node.mode, 'boot_mode': node.boot_mode, 'changed': node.name in changed_nodes,
            'files': node_files[node.name],
        })
    return result
