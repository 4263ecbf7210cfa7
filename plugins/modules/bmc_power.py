#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: bmc_power
short_description: Power and next-boot device of one BMC or a whole fleet, in one call
version_added: 0.1.0
description:
  - Reads or changes the power state of machines through their BMCs (IPMI 2.0 or Redfish), optionally
    setting the next boot device first, so a node can be PXE-booted once and then boot its disk.
  - One node (O(bmc_address), or O(name) in a O(registry)), a list of O(nodes), or registry nodes picked by
    O(limit). Many BMCs are handled concurrently; a dead BMC fails its own node, the others go on.
  - Reports C(changed) only when something changed. V(on) on a machine that is on changes nothing;
    V(reset) and V(cycle) always change.
  - Refuses V(off), V(shutdown), V(reset) and V(cycle) of registry nodes that are C(active) or C(protected)
    unless O(force=true).
author:
  - datacenter.iaas developers (!UNKNOWN)
extends_documentation_fragment:
  - datacenter.iaas.bmc
options:
  state:
    description:
      - V(on), V(off) (hard), V(shutdown) (soft, ask the OS), V(reset) (hard reset; starts a machine that is off),
        V(cycle) (off then on; starts a machine that is off), or V(query) to leave the power as it is
        (only O(boot_device) is set, if given).
    type: str
    required: true
    choices: ['on', 'off', shutdown, reset, cycle, query]
  boot_device:
    description:
      - Device to boot from next, set before the power action and read back after it.
      - A one-shot setting is skipped when O(state=on) finds the machine already on, since it would fire at some later reboot.
    type: str
    choices: [pxe, disk, bios, cdrom, default]
  boot_persistent:
    description:
      - Keep O(boot_device) for every boot, not only the next one.
    type: bool
    default: false
  boot_mode:
    description:
      - Firmware boot mode to ask for with O(boot_device). Unset keeps the BMC's own choice where the protocol allows.
    type: str
    choices: [uefi, legacy]
  wait:
    description:
      - Wait until each machine reaches the power state asked for (V(off) for V(shutdown)).
    type: bool
    default: false
  wait_timeout:
    description:
      - How long O(wait) waits per node, in seconds; added to O(timeout) for that node's deadline.
    type: float
    default: 300.0
  stagger:
    description:
      - Pace power-ons so a rack does not draw its inrush current at once. Only machines that really power on
        take a place in the queue.
    type: dict
    suboptions:
      batch_size:
        description: How many machines may start together.
        type: int
        default: 10
      delay:
        description: Seconds between two batches.
        type: float
        default: 5.0
  force:
    description:
      - Allow V(off), V(shutdown), V(reset) and V(cycle) of C(active) or C(protected) registry nodes.
    type: bool
    default: false
  max_failed_nodes:
    description:
      - How many nodes may fail before the task fails. The other nodes are acted on either way.
    type: int
    default: 0
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Shows what changes, before and after.
    support: full
'''

EXAMPLES = r'''
- name: Power on one machine into a one-shot PXE boot
  datacenter.iaas.bmc_power:
    bmc_address: 10.10.0.21
    username: admin
    password: "{{ vault_bmc_password }}"
    boot_device: pxe
    state: "on"

- name: Query the power of the whole registry, 50 BMCs at a time
  datacenter.iaas.bmc_power:
    registry: /srv/datacenter/registry.yml
    credentials: "{{ vault_bmc_credentials }}"
    concurrency: 50
    state: query
  register: fleet

- name: Start rack 1, 8 machines every 10 seconds, and wait until all are on
  datacenter.iaas.bmc_power:
    registry: /srv/datacenter/registry.yml
    credentials: "{{ vault_bmc_credentials }}"
    limit: ['rack1-*']
    state: "on"
    stagger:
      batch_size: 8
      delay: 10
    wait: true
    max_failed_nodes: 2

- name: Power off an active node (needs force)
  datacenter.iaas.bmc_power:
    registry: /srv/datacenter/registry.yml
    credentials: "{{ vault_bmc_credentials }}"
    name: rack1-u07
    state: "off"
    force: true
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
    changed:
      description: Whether this node changed (or would, in check mode).
      type: bool
    failed:
      description: Whether this node failed.
      type: bool
    power_before:
      description: Power state found, V(on) or V(off).
      type: str
    power:
      description: Power state after the call (the state asked for, unless O(wait) confirmed it).
      type: str
    boot_device:
      description: Next boot device after the call, with C(device), C(persistent) and C(uefi).
      type: dict
    msg:
      description: Why the node failed.
      type: str
    error_kind:
      description: V(unreachable), V(timeout), V(bad_credentials), V(refused), V(unsupported), V(transition) or V(bmc).
      type: str
  sample:
    - name: rack1-u07
      address: 10.10.0.7:623
      changed: true
      failed: false
      power_before: 'off'
      power: 'on'
power:
  description: Power state of the node, when the call named exactly one node.
  returned: when one node was named
  type: str
  sample: 'on'
failed_nodes:
  description: Names of the nodes that failed.
  returned: always
  type: list
  elements: str
summary:
  description: Counts of nodes by outcome and power state, and the seconds the BMC work took.
  returned: always
  type: dict
  sample: {total: 500, changed: 12, failed: 1, 'on': 488, 'off': 11, seconds: 1.2}
'''

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.datacenter.iaas.plugins.module_utils.bmc import HAS_PYGHMI, PYGHMI_IMPORT_ERROR
from ansible_collections.datacenter.iaas.plugins.module_utils.bmc_options import (
    BMC_ARGUMENT_SPEC, BMC_MUTUALLY_EXCLUSIVE, select_targets)
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError
from ansible_collections.datacenter.iaas.plugins.module_utils.fleet import run
from ansible_collections.datacenter.iaas.plugins.module_utils.power import DESTRUCTIVE, Stagger, apply_power
from ansible_collections.datacenter.iaas.plugins.module_utils.registry import Registry, guard_power


def argument_spec():
    spec = dict(BMC_ARGUMENT_SPEC)
    spec.update(
        state=dict(type='str', required=True, choices=['on', 'off', 'shutdown', 'reset', 'cycle', 'query']),
        boot_device=dict(type='str', choices=['pxe', 'disk', 'bios', 'cdrom', 'default']),
        boot_persistent=dict(type='bool', default=False),
        boot_mode=dict(type='str', choices=['uefi', 'legacy']),
        wait=dict(type='bool', default=False),
        wait_timeout=dict(type='float', default=300.0),
        stagger=dict(type='dict', options=dict(
            batch_size=dict(type='int', default=10),
            delay=dict(type='float', default=5.0),
        )),
        force=dict(type='bool', default=False),
        max_failed_nodes=dict(type='int', default=0),
    )
    return spec


def _node_task(params, target, check_mode, stagger, warnings):
    uefi = {'uefi': True, 'legacy': False}.get(params['boot_mode'])

    def call():
        return apply_power(target, params['state'], boot_device=params['boot_device'],
                           boot_persistent=params['boot_persistent'], uefi=uefi, check_mode=check_mode,
                           wait=params['wait'], wait_timeout=params['wait_timeout'], stagger=stagger,
                           warnings=warnings)
    return call


def _diff(reports):
    before, after = {}, {}
    for report in reports:
        if report.get('changed') and not report.get('failed'):
            before[report['name']] = {'power': report.get('power_before'),
                                      'boot_device': (report.get('boot_before') or {}).get('device')}
            after[report['name']] = {'power': report.get('power'),
                                     'boot_device': (report.get('boot_device') or {}).get('device')}
    return {'before': before, 'after': after}


def main():
    module = AnsibleModule(argument_spec=argument_spec(), mutually_exclusive=BMC_MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    if not HAS_PYGHMI:
        module.fail_json(msg=missing_required_lib('pyghmi'), exception=str(PYGHMI_IMPORT_ERROR))
    params = module.params
    started = time.monotonic()
    try:
        registry_data = Registry(params['registry']).read() if params['registry'] else None
        selected = select_targets(params, registry_data)
    except IaasError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)

    stagger = None
    if params['stagger'] and params['state'] in ('on', 'reset', 'cycle'):
        stagger = Stagger(params['stagger']['batch_size'], params['stagger']['delay'])
    warnings = []
    reports = {}
    tasks = []
    for name, target, node in selected:
        if node is not None and params['state'] in DESTRUCTIVE:
            try:
                guard_power(name, node, params['state'], params['force'])
            except IaasError as exc:
                reports[name] = {'name': name, 'address': target.endpoint, 'changed': False, 'failed': True,
                                 'msg': str(exc), 'error_kind': exc.kind}
                continue
        tasks.append((name, _node_task(params, target, module.check_mode, stagger, warnings)))

    deadline = params['timeout'] + (params['wait_timeout'] if params['wait'] else 0)
    if stagger is not None:
        deadline += (len(tasks) // stagger.batch_size) * stagger.delay
    addresses = dict((name, target.endpoint) for name, target, _node in selected)
    try:
        outcomes = run(tasks, concurrency=params['concurrency'], deadline=deadline, addresses=addresses)
    except IaasError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)
    except Exception as exc:  # a bug: say so with the trace
        module.fail_json(msg='unexpected error: %s' % exc, exception=traceback.format_exc())

    for name, outcome in outcomes.items():
        if outcome.ok:
            report = dict(outcome.value, failed=False)
        else:
            report = {'name': name, 'address': addresses.get(name), 'changed': False, 'failed': True,
                      'msg': str(outcome.error), 'error_kind': outcome.error.kind}
        reports[name] = report

    ordered = [reports[name] for name in sorted(reports)]
    failed = [report['name'] for report in ordered if report['failed']]
    summary = {'total': len(ordered), 'changed': sum(1 for r in ordered if r['changed']), 'failed': len(failed),
               'seconds': round(time.monotonic() - started, 3)}
    for report in ordered:
        if report.get('power'):
            summary[report['power']] = summary.get(report['power'], 0) + 1
    result = dict(changed=summary['changed'] > 0, nodes=ordered, failed_nodes=failed, summary=summary)
    if module._diff:
        result['diff'] = _diff(ordered)
    if len(ordered) == 1 and not failed:
        result['power'] = ordered[0].get('power')
    for warning in warnings:
        module.warn(warning)
    if len(failed) > params['max_failed_nodes']:
        details = '; '.join(report['msg'] for report in ordered if report['failed'])
        if len(ordered) == 1:
            module.fail_json(msg=details, error_kind=ordered[0]['error_kind'], **result)
        module.fail_json(msg='%d of %d nodes failed: %s' % (len(failed), len(ordered), details), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
