#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: node_discovery
short_description: Sweep address ranges for BMCs and enroll what answers into the hardware registry
version_added: 0.1.0
description:
  - Probes every address of O(ranges) for a BMC with one fast session-less IPMI request (or a TCP connect for
    Redfish), then logs into the BMCs that answered, trying the named O(credentials) sets in order, and reads
    their identity (vendor, model, serial, UUID) and MACs.
  - Every answering BMC becomes a registry node in state C(enrolled), or updates the node it already is.
    Nodes are matched by serial first, so a machine whose BMC changed address keeps its record, then by
    BMC address. A second sweep of an unchanged datacenter changes nothing.
  - Registry nodes whose BMC address was swept but did not answer are reported as C(missing), never deleted.
  - With O(reports), the hardware reports that the discovery ramdisk posted to the boot server's receiver are
    ingested in the same registry update. Nodes are matched by serial, then by any MAC, get their hardware filled in,
    and move from C(enrolled) to C(manageable); machines no BMC sweep found are enrolled from their report alone.
  - The registry is written atomically under a lock, so a sweep and other writers never lose each other's updates.
author:
  - datacenter.iaas developers (!UNKNOWN)
options:
  registry:
    description:
      - Path of the hardware registry. Created (mode 0600) when it does not exist.
    type: path
    required: true
  ranges:
    description:
      - Addresses to sweep, each a CIDR (V(10.10.0.0/22)), a range (V(10.10.0.5-10.10.0.90)) or one address.
      - At least one of O(ranges) and O(reports) is required.
    type: list
    elements: str
  exclude:
    description:
      - Addresses, ranges or CIDRs to leave out of O(ranges).
    type: list
    elements: str
    default: []
  protocol:
    description:
      - What to look for. V(ipmi) probes UDP with an IPMI ping; V(redfish) probes a TCP connect.
    type: str
    choices: [ipmi, redfish]
    default: ipmi
  port:
    description:
      - BMC port. Defaults to 623 for IPMI and 443 for Redfish.
    type: int
  credentials:
    description:
      - Named credential sets to try, in name order. Each key is a set name, each value a dictionary
        with C(username), C(password) and optionally C(kg). The set that works is recorded by name on the node, never its password. Never logged.
      - Required with O(ranges).
    type: dict
  reports:
    description:
      - Spool directory of the report receiver (C(<boot_server_root>/reports)) whose hardware reports to ingest.
      - Handled reports move to C(done/) and refused ones to C(refused/) in it, only after the registry was written,
        so a failure in between loses nothing (the next run ingests them again, changing nothing).
      - Deploy reports are recorded as C(provisioning.deployed) of the C(deploying) node with that MAC.
    type: path
  report_rules:
    description:
      - Give a role to reporting nodes that have none. The first rule whose conditions all hold wins;
        an empty O(report_rules[].when) matches every node.
    type: list
    elements: dict
    default: []
    suboptions:
      role:
        description: The role to give.
        type: str
        required: true
        choices: [controller, network, compute, storage]
      when:
        description: Conditions on the reported hardware.
        type: dict
        default: {}
        suboptions:
          min_disks:
            description: At least this many disks.
            type: int
          min_memory_mb:
            description: At least this much memory.
            type: int
          min_cpus:
            description: At least this many CPUs.
            type: int
          has_rotational:
            description: Whether the node has (V(true)) or lacks (V(false)) a rotational disk.
            type: bool
          vendor:
            description: One of these system vendors.
            type: list
            elements: str
  keep_reports:
    description:
      - Keep handled reports in C(done/) and C(refused/) of the spool instead of deleting them.
    type: bool
    default: true
  name_prefix:
    description:
      - Prefix of the names given to new nodes (V(node) gives C(node-<serial>)). Empty for none.
    type: str
    default: node
  concurrency:
    description:
      - How many BMCs are logged into at once.
    type: int
    default: 64
  probe_timeout:
    description:
      - Seconds to wait for answers to the presence probe (the probe is sent twice to silent addresses).
    type: float
    default: 1.0
  timeout:
    description:
      - Hard deadline in seconds for logging into and reading one BMC.
    type: float
    default: 20.0
  cipher_suite:
    description:
      - IPMI cipher suite to start with.
    type: int
    choices: [3, 17]
    default: 3
  validate_certs:
    description:
      - Verify Redfish TLS certificates.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CAs that sign the Redfish BMCs' certificates.
    type: path
  retries:
    description:
      - How many times a call that got no answer is tried again.
    type: int
    default: 1
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: The sweep runs (it only reads BMCs); the registry is not written.
  diff_mode:
    description: Shows the registry records of the nodes that change, before and after.
    support: full
'''

EXAMPLES = r'''
- name: Sweep the BMC network of two racks
  datacenter.iaas.node_discovery:
    registry: /srv/datacenter/registry.yml
    ranges:
      - 10.10.0.0/22
    exclude:
      - 10.10.0.1
    credentials: "{{ vault_bmc_credentials }}"
  register: sweep

- name: Ingest the discovery ramdisk's reports, storage nodes by their disks
  datacenter.iaas.node_discovery:
    registry: /srv/datacenter/registry.yml
    reports: /srv/iaas/reports
    report_rules:
      - role: storage
        when: {min_disks: 3}
      - role: compute
  register: ingest

- name: Say what is new
  ansible.builtin.debug:
    msg: "New: {{ sweep.new }}; missing: {{ sweep.missing }}; unreadable: {{ sweep.unreadable | list }}"
'''

RETURN = r'''
new:
  description: Names of the nodes this sweep enrolled.
  returned: always
  type: list
  elements: str
  sample: [node-sn0007]
changed_nodes:
  description: Names of known nodes whose BMC or identity facts changed.
  returned: always
  type: list
  elements: str
unchanged:
  description: Names of known nodes found as they were.
  returned: always
  type: list
  elements: str
missing:
  description: Registry nodes whose BMC address was swept but did not answer.
  returned: always
  type: list
  elements: str
unreadable:
  description: BMCs that answered the probe but could not be read, by address, with the reason.
  returned: always
  type: dict
  sample: {10.10.0.9: "BMC 10.10.0.9:623: answers, but refuses every credential set tried (default)"}
reports:
  description:
    - What O(reports) ingestion did, with C(matched) and C(enrolled) node names, C(deployed) (node to status),
      C(roles) (node to the role a rule gave), C(refused) (file to reason) and C(consumed) files.
  returned: when O(reports) is given
  type: dict
summary:
  description: Counts of addresses swept, BMCs answering, read, and unreadable.
  returned: always
  type: dict
  sample: {swept: 1024, answered: 500, read: 499, unreadable: 1, seconds: 4.2}
'''

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.datacenter.iaas.plugins.module_utils.bmc import HAS_PYGHMI, PYGHMI_IMPORT_ERROR
from ansible_collections.datacenter.iaas.plugins.module_utils.discovery import merge_sweep, sweep
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError
from ansible_collections.datacenter.iaas.plugins.module_utils.registry import Registry
from ansible_collections.datacenter.iaas.plugins.module_utils.reports import consume, ingest
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import parse_targets


def main():
    module = AnsibleModule(
        argument_spec=dict(
            registry=dict(type='path', required=True),
            ranges=dict(type='list', elements='str'),
            exclude=dict(type='list', elements='str', default=[]),
            protocol=dict(type='str', choices=['ipmi', 'redfish'], default='ipmi'),
            port=dict(type='int'),
            credentials=dict(type='dict', no_log=True),
            reports=dict(type='path'),
            report_rules=dict(type='list', elements='dict', default=[], options=dict(
                role=dict(type='str', required=True, choices=['controller', 'network', 'compute', 'storage']),
                when=dict(type='dict', default={}, options=dict(
                    min_disks=dict(type='int'),
                    min_memory_mb=dict(type='int'),
                    min_cpus=dict(type='int'),
                    has_rotational=dict(type='bool'),
                    vendor=dict(type='list', elements='str'),
                )),
            )),
            keep_reports=dict(type='bool', default=True),
            name_prefix=dict(type='str', default='node'),
            concurrency=dict(type='int', default=64),
            probe_timeout=dict(type='float', default=1.0),
            timeout=dict(type='float', default=20.0),
            cipher_suite=dict(type='int', choices=[3, 17], default=3),
            validate_certs=dict(type='bool', default=True),
            ca_path=dict(type='path'),
            retries=dict(type='int', default=1),
        ),
        required_one_of=[('ranges', 'reports')],
        required_by={'ranges': 'credentials'},
        supports_check_mode=True,
    )
    if not HAS_PYGHMI:
        module.fail_json(msg=missing_required_lib('pyghmi'), exception=str(PYGHMI_IMPORT_ERROR))
    params = module.params
    started = time.monotonic()
    port = params['port'] or (623 if params['protocol'] == 'ipmi' else 443)
    addresses, found, failures = [], {}, {}
    report = {'new': [], 'changed': [], 'unchanged': [], 'missing': []}
    ingested = None
    try:
        if params['ranges']:
            addresses = parse_targets(params['ranges'], exclude=params['exclude'])
            options = dict(cipher_suite=params['cipher_suite'], validate_certs=params['validate_certs'],
                           ca_path=params['ca_path'], retries=params['retries'])
            found, failures = sweep(addresses, params['credentials'], protocol=params['protocol'], port=port,
                                    concurrency=params['concurrency'], probe_timeout=params['probe_timeout'],
                                    login_timeout=params['timeout'], options=options)
        update = Registry(params['registry'], create=True).update(check_mode=module.check_mode)
        with update as data:
            if params['ranges']:
                report = merge_sweep(data, found, addresses, params['protocol'], port, prefix=params['name_prefix'])
            if params['reports']:
                ingested = ingest(data, params['reports'], rules=params['report_rules'] or None,
                                  prefix=params['name_prefix'])
        # Only now that the registry holds them may the reports leave the spool.
        if ingested is not None and not module.check_mode:
            consume(params['reports'], ingested, keep=params['keep_reports'])
    except IaasError as exc:
        module.fail_json(msg=str(exc), error_kind=exc.kind)

    result = dict(
        changed=update.changed,
        new=report['new'],
        changed_nodes=report['changed'],
        unchanged=report['unchanged'],
        missing=report['missing'],
        unreadable=dict((address, str(error)) for address, error in sorted(failures.items())),
        summary=dict(swept=len(addresses), answered=len(found) + len(failures), read=len(found),
                     unreadable=len(failures), seconds=round(time.monotonic() - started, 2)),
    )
    if ingested is not None:
        result['reports'] = ingested
        for name, reason in sorted((ingested.get('refused') or {}).items()):
            module.warn('report %s refused: %s' % (name, reason))
    if module._diff:
        result['diff'] = update.diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
