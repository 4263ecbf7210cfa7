# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options every BMC module shares, and how they become targets.

One argument spec (documented once, in the ``datacenter.iaas.bmc`` doc
fragment) says how to reach BMCs: a single BMC by address, a list of
``nodes``, or registry nodes picked by ``limit``. ``select_targets`` turns any
of these into ``[(name, BmcTarget, registry_node_or_None)]``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fnmatch

from ansible_collections.datacenter.iaas.plugins.module_utils.bmc import BmcTarget
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.fleet import target_for_node

NODE_SPEC = dict(
    name=dict(type='str', required=True),
    address=dict(type='str', required=True),
    port=dict(type='int'),
    protocol=dict(type='str', choices=['ipmi', 'redfish'], default='ipmi'),
    credential=dict(type='str'),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
)

BMC_ARGUMENT_SPEC = dict(
    bmc_address=dict(type='str'),
    bmc_port=dict(type='int'),
    protocol=dict(type='str', choices=['ipmi', 'redfish'], default='ipmi'),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    kg=dict(type='str', no_log=True),
    cipher_suite=dict(type='int', choices=[3, 17], default=3),
    privilege=dict(type='str', choices=['user', 'operator', 'administrator'], default='administrator'),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    tls_fingerprint=dict(type='str'),
    name=dict(type='str'),
    nodes=dict(type='list', elements='dict', options=NODE_SPEC),
    registry=dict(type='path'),
    limit=dict(type='list', elements='str'),
    credentials=dict(type='dict', no_log=True),
    concurrency=dict(type='int', default=16),
    timeout=dict(type='float', default=30.0),
    retries=dict(type='int', default=2),
)

BMC_MUTUALLY_EXCLUSIVE = [('bmc_address', 'nodes', 'limit'), ('nodes', 'registry')]


def _target_options(params):
    return dict(cipher_suite=params['cipher_suite'], privilege=params['privilege'],
                validate_certs=params['validate_certs'], ca_path=params['ca_path'],
                tls_fingerprint=params['tls_fingerprint'], retries=params['retries'])


def _credentials(params, set_name):
    sets = params.get('credentials') or {}
    if set_name:
        if set_name not in sets:
            raise InputError('credential set %r is not in credentials' % set_name)
        return sets[set_name]
    return {'username': params.get('username'), 'password': params.get('password'), 'kg': params.get('kg')}


def _limit_matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def select_targets(params, registry_data=None):
    """Resolve the module's connection options to ``[(name, BmcTarget, registry_node_or_None)]``.

    ``registry_data`` is the loaded registry when ``registry`` was given.
    """
    options = _target_options(params)
    if params.get('bmc_address'):
        creds = _credentials(params, None)
        name = params.get('name') or params['bmc_address']
        target = BmcTarget(params['bmc_address'], creds['username'], creds['password'], name=name,
                           port=params.get('bmc_port'), protocol=params['protocol'], kg=creds.get('kg'), **options)
        node = (registry_data or {}).get('nodes', {}).get(name) if registry_data else None
        return [(name, target, node)]
    if params.get('nodes'):
        selected = []
        for entry in params['nodes']:
            if entry.get('username') is not None or entry.get('password') is not None:
                creds = {'username': entry.get('username'), 'password': entry.get('password')}
            else:
                creds = _credentials(params, entry.get('credential'))
            target = BmcTarget(entry['address'], creds.get('username'), creds.get('password'), name=entry['name'],
                               port=entry.get('port'), protocol=entry['protocol'], kg=creds.get('kg'), **options)
            selected.append((entry['name'], target, None))
        return selected
    if registry_data is None:
        raise InputError('say which BMCs: bmc_address, nodes, or registry (with name or limit)')
    nodes = registry_data.get('nodes', {})
    if params.get('name'):
        wanted = [params['name']]
        if params['name'] not in nodes:
            raise InputError('node %r is not in the registry' % params['name'])
    else:
        patterns = params.get('limit') or ['*']
        wanted = [name for name in sorted(nodes) if _limit_matches(name, patterns)]
        if not wanted:
            raise InputError('no registry node matches limit %s' % ', '.join(patterns))
    credentials = params.get('credentials') or {}
    if not credentials and params.get('username') is not None:
        credentials = {'default': {'username': params['username'], 'password': params.get('password'),
                                   'kg': params.get('kg')}}
    return [(name, target_for_node(name, nodes[name], credentials, **options), nodes[name]) for name in wanted]
