#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_info
short_description: What BMCs tell about their machines, for one node or a whole fleet
version_added: 0.1.0
description:
  - Reads, never changes, what a BMC knows about its machine. That is the power state, the next boot device,
    the identity (vendor, model, serial, UUID), MAC addresses and a health summary. IPMI 2.0 or Redfish.
  - One node, a list of O(nodes), or registry nodes picked by O(limit), concurrently; a dead BMC fails its
    own node only.
author:
  - datacenter.iaas developers (!UNKNOWN)
extends_documentation_fragment:
  - datacenter.iaas.bmc
options:
  gather:
    description:
      - Which facts to read. Fewer facts, fewer round trips.
    type: list
    elements: str
    choices: [power, boot, identity, macs, health]
    default: [power, boot, identity, macs]
  max_failed_nodes:
    description:
      - How many nodes may fail before the task fails.
    type: int
    default: 0
attributes:
  check_mode:
    description: Can run in check mode.
    support: full
    details: The module only reads.
  diff_mode:
    description: Would show changes.
    support: none
'''

EXAMPLES = r'''
- name: Read one BMC
  datacenter.iaas.bmc_info:
    bmc_address: 10.10.0.21
    username: admin
    password: "{{ vault_bmc_password }}"
  register: bmc

- name: Identity and health of every registry node
  datacenter.iaas.bmc_info:
    registry: /srv/datacenter/registry.yml
    credentials: "{{ vault_bmc_credentials }}"
    gather: [identity, health]
    max_failed_nodes: 5
  register: fleet_info

- name: Show the nodes whose health is not ok
  ansible.builtin.debug:
    msg: "{{ fleet_info.nodes | selectattr('health', 'defined') | rejectattr('health.health', 'eq', 'ok') | map(attribute='name') }}"
'''

RETURN = r'''
nodes:
  description: One entry per node, in name order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
    address:
      description: BMC address and port.
      type: str
    failed:
      description: Whether reading this node failed.
      type: bool
    power:
      description: V(on) or V(off).
      type: str
    boot_device:
      description: Next boot device, with C(device), C(persistent) and C(uefi).
      type: dict
    identity:
      description: C(vendor), C(model), C(serial) and C(uuid) as the BMC reports them (null where it does not).
      type: dict
    macs:
      description: MAC addresses with C(name), C(mac) and C(source) (V(host) NICs on Redfish, the V(bmc) port on IPMI).
      type: list
      elements: dict
    health:
      description: C(health) (V(ok), V(warning), V(critical), V(failed)) and the C(problems) behind it.
      type: dict
    msg:
      description: Why reading failed.
      type: str
    error_kind:
      description: Class of the failure.
      type: str
  sample:
    - name: rack1-u07
      address: 10.10.0.7:623
      failed: false
      power: 'on'
      identity: {vendor: Acme, model: R100, serial: SN0007, uuid: 5c1f0a8e-41f4-4f6f-9a36-3a4a1cbbd107}
failed_nodes:
  description: Names of the nodes that could not be read.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.datacenter.iaas.plugins.module_utils.bmc import HAS_PYGHMI, PYGHMI_IMPORT_ERROR, connect
from ansible_collections.datacenter.iaas.plugins.module_utils.bmc_options import (
    BMC_ARGUMENT_SPEC, BMC_MUTUALLY_EXCLUSIVE, select_targets)
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError
from ansible_collections.datacenter.iaas.plugins.module_utils.fleet import run
from ansible_collections.datacenter.iaas.plugins.module_utils.registry import Registry

READERS = (
    ('power', 'power', lambda client: client.power_state()),
    ('boot', 'boot_device', lambda client: client.boot_device()),
    ('identity', 'identity', lambda client: client.identity()),
    ('macs', 'macs', lambda client: client.macs()),
    ('health', 'health', lambda client: client.health()),
)


def read_node(target, gather):
    def call():
        report = {'name': target.name, 'address': target.endpoint, 'protocol': target.protocol, 'failed': False}
        with connect(target) as client:
            for fact, key, reader in READERS:
                if fact in gather:
                    report[key] = reader(client)
        return report
    return call


def main():
    spec = dict(BMC_ARGUMENT_SPEC)
    spec.update(
        gather=dict(type='list', elements='str', choices=['power', 'boot', 'identity', 'macs', 'health'],
                    default=['power', 'boot', 'identity', 'macs']),
        max_failed_nodes=dict(type='int', default=0),
    )
    module = AnsibleModule(argument_spec=spec, mutually_exclusive=BMC_MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    if not HAS_PYGHMI:
        module.fail_json(msg=missing_required_lib('pyghmi'), exception=str(PYGHMI_IMPORT_ERROR))
    params = module.params
    try:
        registry_data = Registry(params['registry']).read() if params['registry'] else None
        selected = select_targets(params, registry_data)
        addresses = dict((name, target.endpoint) for name, target, _node in selected)
        tasks = [(name, read_node(target, params['gather'])) for name, target, _node in selected]
        outcomes = run(tasks, concurrency=params['concurrency'], deadline=params['timeout'], addresses=addresses)
    except IaasError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)

    nodes = []
    for name in sorted(outcomes):
        outcome = outcomes[name]
        if outcome.ok:
            nodes.append(outcome.value)
        else:
            nodes.append({'name': name, 'address': addresses.get(name), 'failed': True,
                          'msg': str(outcome.error), 'error_kind': outcome.error.kind})
    failed = [node['name'] for node in nodes if node['failed']]
    result = dict(changed=False, nodes=nodes, failed_nodes=failed)
    if len(failed) > params['max_failed_nodes']:
        details = '; '.join(node['msg'] for node in nodes if node['failed'])
        module.fail_json(msg='%d of %d nodes could not be read: %s' % (len(failed), len(nodes), details), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
