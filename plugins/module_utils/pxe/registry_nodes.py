# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pxe_config takes from the hardware registry (node entries, addresses other nodes hold) and gives back
(each configured node's address and host name)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.pool import address


def registry_entries(data, states=None, roles=None):
    """Node dicts (for prepare_nodes) of the registry nodes in ``states`` and ``roles``, and the names skipped
    because they have no boot MAC (neither provisioning.mac nor a NIC with pxe: true)."""
    entries, skipped = [], []
    for name in sorted(data.get('nodes') or {}):
        node = data['nodes'][name]
        if states and node.get('state') not in states:
            continue
        if roles and node.get('role') not in roles:
            continue
        prov = node.get('provisioning') or {}
        mac = prov.get('mac')
        if not mac:
            mac = next((nic['mac'] for nic in (node.get('hardware') or {}).get('nics') or []
                        if nic.get('pxe') and nic.get('mac')), None)
        if not mac:
            skipped.append(name)
            continue
        entries.append({'name': name, 'mac': mac, 'hostname': prov.get('hostname'), 'boot_mode': prov.get('boot_mode'),
                        'image': prov.get('image'), 'known_ips': [prov.get('ip')], 'registry': True})
    return entries, skipped


def registry_ips(data, exclude_names):
    """{IPAddress: who} of the IPv4 addresses registry nodes outside ``exclude_names`` hold in provisioning.ip:
    never hand them out."""
    taken = {}
    for name, node in (data.get('nodes') or {}).items():
        value = address((node.get('provisioning') or {}).get('ip'))
        if value is not None and name not in exclude_names:
            taken[value] = 'registry node %s' % name
    return taken


def record(data, nodes):
    """Write each present node's address and host name (``nodes``: a plan's results) into its provisioning
    section; absent nodes keep theirs."""
    for node in nodes:
        if node['state'] == 'absent':
            continue
        provisioning = data['nodes'][node['name']].setdefault('provisioning', {})
        provisioning['ip'] = node['ip']
        provisioning['hostname'] = node['hostname']
