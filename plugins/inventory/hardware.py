# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: hardware
short_description: The datacenter.iaas hardware registry as an inventory
version_added: 0.1.0
author:
  - datacenter.iaas developers (!UNKNOWN)
description:
  - Makes every node of a hardware registry (see C(docs/architecture.md)) a host, named like the node, in sorted order.
  - 'Uses a YAML configuration file whose name ends with C(hardware.yml) or C(hardware.yaml), with
    C(plugin: datacenter.iaas.hardware).'
  - 'Host variables are namespaced with O(host_vars_prefix) (default V(iaas_)) so they never collide with
    variables from roles, facts or other inventories: C(iaas_state), C(iaas_role) (V(null) when unassigned),
    C(iaas_protected), and the record''s sections C(iaas_bmc), C(iaas_hardware), C(iaas_provisioning),
    C(iaas_properties) (each V({}) when the registry has nothing for it). C(ansible_host) is set from
    C(provisioning.ip) when the registry has one.'
  - C(iaas_bmc) holds C(address), C(port), C(protocol) and C(credential) (the name of a credential set).
    It holds C(username) and C(password) (and C(kg) when the set has one) only with O(expose_credentials=true).
  - 'Groups: C(role_controller), C(role_network), C(role_compute), C(role_storage) (always created, possibly empty,
    with nodes of any state); C(state_<state>) for each lifecycle state in use (for example C(state_active));
    C(vendor_<vendor>), the vendor lower-cased with runs of other characters than letters and digits
    turned into C(_) (V(Dell Inc.) gives C(vendor_dell_inc)).'
  - There are deliberately no plain C(controller), C(network), C(compute) or C(storage) groups, since those names
    belong to kolla-ansible (see O(kolla_groups)) and to other inventories. Combine groups in patterns instead,
    for example C(role_compute:&state_active).
  - Registry content is untrusted, like any remote data. Its strings are marked unsafe, so Ansible never
    evaluates templates found in them.
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: The name of this plugin; always V(datacenter.iaas.hardware).
    type: str
    required: true
    choices: [datacenter.iaas.hardware]
  registry:
    description:
      - Path of the registry file. A relative path is relative to the directory of this configuration file,
        so the configuration and the registry can live side by side in one repository.
    type: str
    required: true
  host_vars_prefix:
    description:
      - Prefix of the host variables this plugin sets (other than C(ansible_host)). Must be a valid variable name.
      - Change it only to avoid a clash with variables you already use; O(compose), O(groups) and
        O(keyed_groups) see the prefixed names.
    type: str
    default: iaas_
  credentials:
    description:
      - 'BMC credential sets, C({NAME: {username: ..., password: ..., kg: ...}}); a node''s C(bmc.credential)
        names its set (V(default) when it names none).'
      - Used by O(live_power), and added to C(iaas_bmc) only with O(expose_credentials=true).
      - String values may be templates, rendered when a set is needed, so secrets can come from the
        environment or from vault instead of being written in clear (see the AWX example).
    type: dict
    default: {}
  expose_credentials:
    description:
      - Add the C(username), C(password) (and C(kg)) of each node's credential set to its C(iaas_bmc), for plays
        that talk to BMCs from inventory variables.
      - Off by default, so C(ansible-inventory --list), C(--graph --vars) and AWX's host views never show them.
        A node whose set is missing from O(credentials) gets a warning (an error with O(strict=true)).
    type: bool
    default: false
  kolla_groups:
    description:
      - Also put nodes into the kolla-ansible groups C(control) (role controller), C(network), C(compute) and
        C(storage), always created. Only nodes in state C(active) are members, since only they run an
        operating system that kolla-ansible can reach.
    type: bool
    default: false
  live_power:
    description:
      - Ask every node's BMC for its power state while building the inventory, concurrently, and set
        C(iaas_power) (V(on), V(off), or V(null) when the BMC did not answer) and C(iaas_power_error)
        (V(null), or why there is no answer), and the groups C(power_on), C(power_off) and C(power_unknown).
      - Needs O(credentials) and the pyghmi Python library. With O(cache), the answers are cached with the registry.
    type: bool
    default: false
  live_power_concurrency:
    description: How many BMCs O(live_power) asks at once.
    type: int
    default: 32
  live_power_timeout:
    description: Seconds each BMC has to answer O(live_power).
    type: float
    default: 5.0
notes:
  - 'Caching (O(cache=true)): the cache holds the registry records and, with O(live_power), the power answers;
    never credentials. Its key is the standard one of this configuration file. An entry also records the
    registry file''s path, modification time and size, and is used only while they are unchanged, so an
    edited registry is read again at once, whatever O(cache_timeout) says; the timeout then only bounds
    how old the O(live_power) answers may be. C(--flush-cache) (or C(meta: refresh_inventory)) forces a new read.
    Use a persistent cache plugin such as C(ansible.builtin.jsonfile) for it to help across runs.'
  - 'AWX / Ansible Automation Platform: keep this configuration file and the registry in the same git
    repository (an AWX project), for example C(inventory/prod.hardware.yml) with C(registry: registry.yml)
    beside C(inventory/registry.yml). Add an inventory source I(Sourced from a Project) that names that
    project and the file C(inventory/prod.hardware.yml); the collection must be installed in the execution
    environment or listed in the project''s C(collections/requirements.yml). Each sync reads the registry of
    the checked-out revision: commit the changes that playbooks make to the registry back to the repository.'
  - 'AWX credentials: create a custom credential type whose injector puts the BMC user name and password into
    environment variables (for example C(IAAS_BMC_USERNAME) and C(IAAS_BMC_PASSWORD)), attach a credential of
    that type to the inventory source, and let O(credentials) read them with the C(ansible.builtin.env)
    lookup. Job templates can get the same credential injected as extra variables, for the C(credentials)
    parameter of the modules.'
seealso:
  - name: kolla-ansible inventory
    description: The groups kolla-ansible expects.
    link: https://docs.openstack.org/kolla-ansible/latest/user/multinode.html
'''

EXAMPLES = r'''
---
# inventory/lab.hardware.yml: every node of the registry next to this file
plugin: datacenter.iaas.hardware
registry: example-registry.yml

---
# kolla-ansible groups, a monitoring group of active controllers, and groups by rack and disk type
plugin: datacenter.iaas.hardware
registry: /srv/datacenter/registry.yml
kolla_groups: true
groups:
  monitoring: iaas_role == 'controller' and iaas_state == 'active'
  protected: iaas_protected
  all_flash: iaas_hardware.disks | default([]) | selectattr('rotational') | list | length == 0
keyed_groups:
  - prefix: rack
    key: iaas_properties.rack | default(None)
compose:
  ansible_user: "'debian' if iaas_provisioning.image | default('') is match('debian') else 'cloud-user'"

---
# Live power states, cached for five minutes in JSON files
plugin: datacenter.iaas.hardware
registry: registry.yml
live_power: true
live_power_concurrency: 64
credentials:
  default:
    username: admin
    password: !vault |
      $ANSIBLE_VAULT;1.1;AES256
      ...
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/datacenter-iaas-inventory
cache_timeout: 300

---
# AWX: inventory/prod.hardware.yml in the project repository, beside inventory/registry.yml.
# The custom credential type "BMC credentials" has
#   inputs:    {fields: [{id: username, type: string, label: Username},
#                        {id: password, type: string, label: Password, secret: true}]}
#   injectors: {env: {IAAS_BMC_USERNAME: '{{ username }}', IAAS_BMC_PASSWORD: '{{ password }}'},
#               extra_vars: {bmc_username: '{{ username }}', bmc_password: '{{ password }}'}}
# and a credential of that type is attached to the inventory source (it reads the environment variables) and
# to job templates (modules get credentials: {default: {username: "{{ bmc_username }}", password: ...}}).
plugin: datacenter.iaas.hardware
registry: registry.yml
kolla_groups: true
live_power: true
credentials:
  default:
    username: "{{ lookup('ansible.builtin.env', 'IAAS_BMC_USERNAME') }}"
    password: "{{ lookup('ansible.builtin.env', 'IAAS_BMC_PASSWORD') }}"
'''

import contextlib
import gc
import os
import re

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
# Kept for ansible-core < 2.19; from 2.19 on it only strips template trust, which registry strings never have.
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, RegistryError
from ansible_collections.datacenter.iaas.plugins.module_utils.registry import ROLES, Registry

KOLLA_GROUPS = {'controller': 'control', 'network': 'network', 'compute': 'compute', 'storage': 'storage'}
POWER_GROUPS = {'on': 'power_on', 'off': 'power_off', None: 'power_unknown'}
SECTIONS = ('bmc', 'hardware', 'provisioning', 'properties')
SECRET_KEYS = ('username', 'password', 'kg')
PREFIX_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
NOT_SLUG_RE = re.compile(r'[^a-z0-9]+')


def make_unsafe(value):
    """A copy of registry data in which no string can be evaluated as a template.

    Every Jinja delimiter starts with '{', so only strings holding one need the
    wrapper; the rest stay plain str, which keeps 10,000 nodes cheap.
    """
    if isinstance(value, dict):
        return dict((make_unsafe(key), make_unsafe(item)) for key, item in value.items())
    if isinstance(value, list):
        return [make_unsafe(item) for item in value]
    if isinstance(value, str) and '{' in value:
        return wrap_var(value)
    return value


@contextlib.contextmanager
def gc_paused():
    """Hold Python's cyclic garbage collector while millions of small objects are made.

    Otherwise it scans every live object again and again as they pile up: two thirds of the
    time of reading a 10,000-node registry. Registry data has no reference cycles to collect.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def slug(text):
    """``Dell Inc.`` -> ``dell_inc``: a safe group name part."""
    return NOT_SLUG_RE.sub('_', text.lower()).strip('_')


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'datacenter.iaas.hardware'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('hardware.yml', 'hardware.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        prefix = self.get_option('host_vars_prefix')
        if not PREFIX_RE.match(prefix or ''):
            raise AnsibleParserError('%s: host_vars_prefix %r is not a valid start of a variable name' % (path, prefix))
        registry = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(self.get_option('registry')))
        self._credentials = None
        source = self._load(path, registry, cache)
        power = source.get('power') if self.get_option('live_power') else None
        # Without a cache nothing else needs the records: each one goes once its host is built (less peak memory).
        with gc_paused():
            self._populate(source['nodes'], power, prefix, consume=not self.get_option('cache'))

    # --- reading ------------------------------------------------------------------------------------------------

    def _load(self, path, registry, cache):
        """``{'stamp', 'nodes', 'power'}`` from the cache while the registry file is unchanged, else fresh."""
        try:
            info = os.stat(registry)
        except OSError as exc:
            raise AnsibleParserError('%s: cannot read registry %s: %s' % (self.NAME, registry, exc.strerror or exc))
        # A list, not a tuple: it must compare equal after a round trip through a JSON cache.
        stamp = [os.path.realpath(registry), info.st_mtime_ns, info.st_size]
        live_power = self.get_option('live_power')
        use_cache = self.get_option('cache')
        key = self.get_cache_key(path)

        if use_cache and cache:
            cached = self._cache.get(key)
            if isinstance(cached, dict) and cached.get('stamp') == stamp and (cached.get('power') is not None or not live_power):
                return cached

        try:
            with gc_paused():
                nodes = Registry(registry).read()['nodes']
        except RegistryError as exc:
            raise AnsibleParserError('%s: %s' % (self.NAME, to_native(exc)))
        source = {'stamp': stamp, 'nodes': nodes, 'power': self._live_power(nodes) if live_power else None}
        if use_cache:
            self._cache[key] = source
        return source

    def _credential_sets(self):
        """The credential sets, templates rendered (environment lookups, vault), checked once."""
        if self._credentials is None:
            sets = self.get_option('credentials') or {}
            if sets:
                sets = self.templar.template(sets)
            for name, entry in sets.items():
                if not isinstance(entry, dict) or not isinstance(entry.get('username'), str) or not isinstance(entry.get('password'), str):
                    raise AnsibleParserError('%s: credentials.%s must be a mapping with username and password strings' % (self.NAME, name))
            self._credentials = sets
        return self._credentials

    def _live_power(self, nodes):
        # Imported here: it pulls in pyghmi, which only this option needs.
        try:
            from ansible_collections.datacenter.iaas.plugins.module_utils.fleet import power_states
            return power_states(nodes, self._credential_sets(), concurrency=self.get_option('live_power_concurrency'),
                                timeout=self.get_option('live_power_timeout'))
        except (ImportError, IaasError) as exc:
            raise AnsibleParserError('%s: live_power: %s' % (self.NAME, to_native(exc)))

    # --- building -----------------------------------------------------------------------------------------------

    def _populate(self, nodes, power, prefix, consume=False):
        inventory = self.inventory
        strict = self.get_option('strict')
        compose, conditional_groups, keyed_groups = (self.get_option('compose'), self.get_option('groups'),
                                                     self.get_option('keyed_groups'))
        kolla = self.get_option('kolla_groups')
        credentials = self._credential_sets() if self.get_option('expose_credentials') else None
        self._missing_sets = {}

        # Plays aimed at these groups must find them even when they are empty.
        known = set()
        for group in ['role_' + role for role in ROLES] + (sorted(set(KOLLA_GROUPS.values())) if kolla else []):
            known.add(inventory.add_group(group))

        for name in sorted(nodes):
            node = make_unsafe(nodes.pop(name) if consume else nodes[name])
            hostvars = self._host_vars(name, node, prefix, credentials, strict)
            groups = ['state_' + node['state']]
            if node.get('role'):
                groups.append('role_' + node['role'])
                if kolla and node['state'] == 'active':
                    groups.append(KOLLA_GROUPS[node['role']])
            vendor = slug(node.get('hardware', {}).get('vendor') or '')
            if vendor:
                groups.append('vendor_' + vendor)
            if power is not None:
                answer = power.get(name) or {}
                hostvars[prefix + 'power'] = answer.get('power')
                hostvars[prefix + 'power_error'] = answer.get('error')
                groups.append(POWER_GROUPS.get(answer.get('power'), 'power_unknown'))

            inventory.add_host(name)
            for key, value in hostvars.items():
                inventory.set_variable(name, key, value)
            for group in groups:
                if group not in known:
                    known.add(inventory.add_group(group))
                inventory.add_host(name, group=group)

            # Constructed features see the host's variables as set above; skipped when unused, since each
            # of them merges the host's variables again.
            if compose:
                self._set_composite_vars(compose, hostvars, name, strict=strict)
            if conditional_groups:
                self._add_host_to_composed_groups(conditional_groups, hostvars, name, strict=strict)
            if keyed_groups:
                self._add_host_to_keyed_groups(keyed_groups, hostvars, name, strict=strict)

        # One warning per missing set, not one per node: a fleet can have thousands.
        for set_name, names in sorted(self._missing_sets.items()):
            shown = ', '.join(names[:5]) + (', ...' if len(names) > 5 else '')
            self.display.warning('%s: credential set %r is not in credentials; the BMC variables of %d node(s) (%s) '
                                 'have no user name or password' % (self.NAME, set_name, len(names), shown))

    def _host_vars(self, name, node, prefix, credentials, strict):
        hostvars = {
            prefix + 'state': node['state'],
            prefix + 'role': node.get('role'),
            prefix + 'protected': node.get('protected', False),
        }
        for section in SECTIONS:
            hostvars[prefix + section] = node.get(section, {})
        if credentials is not None:
            hostvars[prefix + 'bmc'] = self._with_secrets(name, hostvars[prefix + 'bmc'], credentials, strict)
        address = hostvars[prefix + 'provisioning'].get('ip')
        if address:
            hostvars['ansible_host'] = address
        return hostvars

    def _with_secrets(self, name, bmc, credentials, strict):
        set_name = bmc.get('credential') or 'default'
        entry = credentials.get(set_name)
        if entry is None:
            message = 'node %s names credential set %r, which credentials does not have' % (name, set_name)
            if strict:
                raise AnsibleParserError('%s: %s' % (self.NAME, message))
            self._missing_sets.setdefault(set_name, []).append(name)
            return bmc
        bmc = dict(bmc)
        for key in SECRET_KEYS:
            if entry.get(key) is not None:
                bmc[key] = entry[key]
        return bmc
