#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: node
short_description: Enroll, describe, move through its lifecycle and remove one node of the hardware registry
version_added: 0.1.0
description:
  - Manages the record of one machine in the hardware registry file. Enrolls it (O(state=present) on a new
    name gives a node in state C(enrolled)), sets its role, protection, BMC, hardware, provisioning data and
    properties, moves it through the lifecycle with O(action), and removes it (O(state=absent)).
  - Only the node's record changes; no BMC is contacted.
  - Dicts are merged into the record key by key (nested dicts too); lists are replaced; a key set to V(null)
    is removed. MAC addresses are stored lower-case and colon-separated, whatever form they are given in.
  - Idempotent. Asking for what is already there changes nothing, including an O(action) whose target state
    the node is already in, like V(provide) on an C(available) node.
  - The registry is changed under an exclusive lock and replaced atomically; if anything is invalid
    (a bad name, a duplicate serial or MAC, a transition that is not allowed), nothing is written.
author:
  - datacenter.iaas developers (!UNKNOWN)
options:
  registry:
    description:
      - Path of the hardware registry file. Created when the first node is enrolled.
    type: path
    required: true
  name:
    description:
      - Name of the node, 1-63 letters, digits, V(_), V(.) or V(-), starting with a letter or digit, never V(..).
    type: str
    required: true
  state:
    description:
      - V(present) enrolls the node if it is new and applies the other options.
      - V(absent) removes the record. Only a C(retired) node is removed, unless O(force=true).
        No other option than O(force) may be given with it.
    type: str
    choices: [present, absent]
    default: present
  action:
    description:
      - Lifecycle action to apply after the other options.
      - V(manage) (from C(enrolled), C(available), C(maintenance), C(failed)) to C(manageable);
        V(provide) (from C(manageable)) to C(available);
        V(deploy) (from C(available), or C(active) with O(force) to redeploy) to C(deploying);
        V(activate) and V(fail) (from C(deploying)) to C(active) and C(failed);
        V(undeploy) (from C(active) with O(force), or C(failed)) to C(available);
        V(maintenance) (from any state but C(retired)) to C(maintenance);
        V(retire) (from any state; C(active) needs O(force)) to C(retired).
      - V(deploy), V(undeploy) and V(retire) of a C(protected) node need O(force=true).
    type: str
    choices: [manage, provide, deploy, activate, fail, undeploy, maintenance, retire]
  role:
    description:
      - Role of the node in the cloud. V(none) clears it.
    type: str
    choices: [controller, network, compute, storage, none]
  protected:
    description:
      - Protect the node from destructive actions (deploy, undeploy, retire, power off) unless they are forced.
    type: bool
  bmc:
    description:
      - How to reach the node's BMC. Only the suboptions given are changed.
    type: dict
    suboptions:
      address:
        description: IP address or DNS name of the BMC.
        type: str
      port:
        description: Port of the BMC.
        type: int
      protocol:
        description: Protocol the BMC speaks.
        type: str
        choices: [ipmi, redfish]
      credential:
        description:
          - Name of the credential set to log in with. Passwords never live in the registry; modules that
            talk to BMCs take the sets in their C(credentials) option.
        type: str
  hardware:
    description:
      - Hardware facts, merged into the record. Keys C(vendor), C(model), C(serial), C(uuid), C(cpus),
        C(cpu_model), C(memory_mb), C(disks) (list of C(name), C(size_gb), C(rotational), C(serial)) and
        C(nics) (list of C(name), C(mac), C(pxe)).
      - The serial and the NIC MACs must not belong to another node.
    type: dict
  provisioning:
    description:
      - How the node is provisioned, merged into the record. Keys C(mac), C(ip), C(hostname),
        C(boot_mode) (V(uefi) or V(bios)) and C(image).
    type: dict
  properties:
    description:
      - Free-form operator attributes (strings, numbers, bools), merged into the record.
        A property set to V(null) is removed.
    type: dict
  force:
    description:
      - Allow guarded transitions (see O(action)), and removing a node that is not C(retired).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the registry.
    support: full
  diff_mode:
    description: Returns the node's registry record before and after the change, as YAML.
    support: full
'''

EXAMPLES = r'''
- name: Enroll a machine with its BMC
  datacenter.iaas.node:
    registry: /srv/datacenter/registry.yml
    name: rack1-u07
    bmc:
      address: 10.10.0.7
      protocol: ipmi
      credential: default

- name: Record its hardware and make it a compute node
  datacenter.iaas.node:
    registry: /srv/datacenter/registry.yml
    name: rack1-u07
    role: compute
    hardware:
      vendor: Dell Inc.
      serial: 7XK2M93
      nics:
        - {name: eno1, mac: "52:54:00:aa:bb:07", pxe: true}
    properties:
      rack: rack1

- name: Make it manageable, then available for deployment
  datacenter.iaas.node:
    registry: /srv/datacenter/registry.yml
    name: rack1-u07
    action: "{{ item }}"
  loop: [manage, provide]

- name: Retire an active node (needs force)
  datacenter.iaas.node:
    registry: /srv/datacenter/registry.yml
    name: rack1-u07
    action: retire
    force: true

- name: Remove the record of the retired node
  datacenter.iaas.node:
    registry: /srv/datacenter/registry.yml
    name: rack1-u07
    state: absent
'''

RETURN = r'''
node:
  description: The node's record as it is now (or would be, in check mode); empty when it is not in the registry.
  returned: always
  type: dict
  sample:
    state: manageable
    role: compute
    protected: false
    bmc: {address: 10.10.0.7, protocol: ipmi, credential: default}
    hardware:
      serial: 7XK2M93
      nics: [{name: eno1, mac: "52:54:00:aa:bb:07", pxe: true}]
previous_state:
  description: Lifecycle state of the node before the task; V(null) if it was not in the registry.
  returned: always
  type: str
  sample: enrolled
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, InputError, TransitionError
from ansible_collections.datacenter.iaas.plugins.module_utils.registry import (
    ACTIONS, HAS_YAML, ROLES, YAML_IMPORT_ERROR, Registry, merge, transition)
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import (
    HAS_NETADDR, NETADDR_IMPORT_ERROR, validate_node_name)

SECTIONS = ('bmc', 'hardware', 'provisioning', 'properties')


def argument_spec():
    return dict(
        registry=dict(type='path', required=True),
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        action=dict(type='str', choices=list(ACTIONS)),
        role=dict(type='str', choices=list(ROLES) + ['none']),
        protected=dict(type='bool'),
        bmc=dict(type='dict', options=dict(
            address=dict(type='str'),
            port=dict(type='int'),
            protocol=dict(type='str', choices=['ipmi', 'redfish']),
            credential=dict(type='str'),
        )),
        hardware=dict(type='dict'),
        provisioning=dict(type='dict'),
        properties=dict(type='dict'),
        force=dict(type='bool', default=False),
    )


def remove(nodes, name, force):
    node = nodes.get(name)
    if node is None:
        return
    if node['state'] != 'retired' and not force:
        raise TransitionError('only a retired node is removed, this one is %s: retire it first, or use force: true'
                              % node['state'], node=name)
    del nodes[name]


def apply(nodes, params):
    """Make the record of ``params['name']`` in ``nodes`` what ``params`` ask for (in place)."""
    name = params['name']
    node = nodes.setdefault(name, {'state': 'enrolled'})
    if params['role'] is not None:
        node['role'] = None if params['role'] == 'none' else params['role']
    if params['protected'] is not None:
        node['protected'] = params['protected']
    updates = dict((key, params[key]) for key in SECTIONS if params[key] is not None)
    if 'bmc' in updates:
        # Suboptions left out arrive as None, which would remove them: drop them instead.
        updates['bmc'] = dict((key, value) for key, value in updates['bmc'].items() if value is not None)
    merge(node, updates)
    if params['action']:
        node['state'] = transition(name, node, params['action'], params['force'])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=str(YAML_IMPORT_ERROR))
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib('netaddr'), exception=str(NETADDR_IMPORT_ERROR))
    params = module.params
    name = params['name']
    try:
        validate_node_name(name)
        if params['state'] == 'absent':
            extra = [key for key in ('action', 'role', 'protected') + SECTIONS if params[key] is not None]
            if extra:
                raise InputError('state=absent removes the record and takes no %s' % ', '.join(extra))
        update = Registry(params['registry'], create=True).update(check_mode=module.check_mode)
        with update as data:
            node = data['nodes'].get(name)
            previous_state = node['state'] if node else None
            if params['state'] == 'absent':
                remove(data['nodes'], name, params['force'])
            else:
                apply(data['nodes'], params)
    except IaasError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)

    result = dict(changed=update.changed, node=update.data['nodes'].get(name, {}), previous_state=previous_state)
    if module._diff:
        result['diff'] = update.diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
