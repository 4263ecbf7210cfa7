# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One pxe_config run: nodes (given, or from the registry) validated, planned and, unless in check mode,
applied, under the lock of the boot server root. Check mode and the real run take the same path and stop
only before ``apply``, so they fail alike."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.files import FileError, Flock
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.apply import apply
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.nodes import prepare_nodes
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.plan import plan
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.registry_nodes import record, registry_entries
from ansible_collections.datacenter.iaas.plugins.module_utils.registry import Registry

LOCK_TIMEOUT = 60.0


class RootLock(Flock):
    """An exclusive flock on the root directory itself, held from plan to apply: two runs on one boot server
    would otherwise both read the old hosts file and one would lose the other's lines. Creates no file."""

    def __init__(self, root, timeout=LOCK_TIMEOUT):
        super(RootLock, self).__init__(root, timeout, what='boot server root %s' % root)

    def __enter__(self):
        try:
            return super(RootLock, self).__enter__()
        except FileError as exc:
            raise IaasError(exc.message)


def configure(settings, entries, registry_data=None, check_mode=False):
    """Validate ``entries`` (node dicts), plan and (unless in check mode) apply; return the Plan."""
    nodes = prepare_nodes(entries, settings)
    if not os.path.isdir(settings.root):
        raise InputError('root %s is not a directory' % settings.root)
    with RootLock(settings.root):
        result = plan(settings, nodes, registry_data=registry_data)
        if not check_mode:
            apply(result)
    return result


def run(settings, nodes=None, registry=None, states=None, roles=None, update_registry=False, check_mode=False,
        diff=False):
    """pxe_config's result: ``nodes`` (node dicts) or the ``registry`` nodes in ``states`` and ``roles``
    (with ``update_registry``, their addresses and host names are recorded under the registry's lock)."""
    skipped, registry_diff = [], None
    if not registry:
        result = configure(settings, nodes, check_mode=check_mode)
    elif update_registry:
        update = Registry(registry).update(check_mode=check_mode)
        with update as data:
            entries, skipped = registry_entries(data, states, roles)
            result = configure(settings, entries, data, check_mode)
            record(data, result.nodes)
        registry_diff = update.diff if update.changed else None
    else:
        data = Registry(registry).read()
        entries, skipped = registry_entries(data, states, roles)
        result = configure(settings, entries, data, check_mode)
    output = dict(
        changed=result.changed or registry_diff is not None,
        nodes=result.nodes,
        changed_files=result.changed_files(),
        removed_files=result.removed_files(),
        hosts_changed=result.hosts_changed,
        skipped_nodes=skipped,
    )
    if diff:
        output['diff'] = result.diff() + ([registry_diff] if registry_diff else [])
    return output


def skipped_warning(skipped):
    return ('%d registry node(s) without a boot MAC (provisioning.mac or a NIC with pxe: true) skipped: %s%s'
            % (len(skipped), ', '.join(skipped[:10]), ', ...' if len(skipped) > 10 else ''))
