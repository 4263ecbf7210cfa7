# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hardware inventory plugin on real registry files, through its real configuration path."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

import pytest
import yaml

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader
from ansible.template import Templar
from ansible.utils.collection_loader import AnsibleCollectionConfig
from ansible.utils.display import Display

try:
    from ansible.template import trust_as_template as trusted  # ansible-core >= 2.19: templates need trust
except ImportError:
    def trusted(text):
        return text

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
if os.path.basename(os.path.dirname(os.path.dirname(ROOT))) == 'ansible_collections':
    COLLECTIONS = os.path.dirname(os.path.dirname(os.path.dirname(ROOT)))  # ansible-test's copy of the tree
else:
    COLLECTIONS = os.path.join(ROOT, '.build', 'collections')  # the checkout, through its symlinked tree
# The plugin loader knows the documented options (with doc fragments) that _read_config_data() needs;
# it must be set up before the plugin is imported (ansible-test units has done it already).
if AnsibleCollectionConfig.collection_finder is None:
    if 'ansible_collections.datacenter.iaas' in sys.modules:
        raise ImportError('the collection was imported before Ansible\'s collection loader was set up: run these tests '
                          'first (pytest tests/unit collects them first) or under ansible-test units')
    init_plugin_loader([COLLECTIONS])

import ansible_collections.datacenter.iaas.plugins.inventory.hardware as hardware_module  # noqa: E402

PASSWORD = 's3cret-Pa55'


def node(state='active', role='compute', vendor='Dell Inc.', index=1, credential='default', **extra):
    record = {
        'state': state, 'role': role, 'protected': False,
        'bmc': {'address': '10.0.0.%d' % index, 'port': 623, 'protocol': 'ipmi', 'credential': credential},
        'hardware': {'vendor': vendor, 'model': 'M%d' % index, 'serial': 'SN%d' % index, 'cpus': 8, 'memory_mb': 16384,
                     'disks': [{'name': 'sda', 'size_gb': 480, 'rotational': False},
                               {'name': 'sdb', 'size_gb': 4000, 'rotational': True}],
                     'nics': [{'name': 'eno1', 'mac': '52:54:00:00:00:%02x' % index, 'pxe': True}]},
        'provisioning': {'ip': '198.18.0.%d' % index, 'hostname': 'n%d.example' % index, 'boot_mode': 'uefi'},
        'properties': {'rack': 'r%d' % (index % 2 + 1)},
    }
    record.update(extra)
    return record


NODES = {
    'n05-ctl': node(role='controller', index=5, vendor='HPE'),
    'n02-net': node(role='network', index=2, vendor='Supermicro'),
    'n03-cmp': node(role='compute', index=3),
    'n01-cmp': node(role='compute', index=1, state='available'),
    'n04-sto': node(role='storage', index=4, credential='legacy'),
    'n00-new': {'state': 'enrolled', 'bmc': {'address': '10.0.0.100'}},
}


def write_registry(tmp_path, nodes=None, text=None):
    path = tmp_path / 'registry.yml'
    path.write_text(text if text is not None else yaml.safe_dump({'version': 1, 'nodes': NODES if nodes is None else nodes}))
    return path


def run(tmp_path, nodes=None, registry_text=None, read_cache=False, **options):
    """Parse a config file (``options`` on top of the plugin name and registry); return (plugin, inventory).

    ``read_cache`` is parse()'s ``cache`` argument: false for --flush-cache and refresh_inventory.
    """
    if not (tmp_path / 'registry.yml').exists() or nodes is not None or registry_text is not None:
        write_registry(tmp_path, nodes, registry_text)
    config = {'plugin': 'datacenter.iaas.hardware', 'registry': 'registry.yml'}
    config.update(options)
    path = tmp_path / 'test.hardware.yml'
    path.write_text(yaml.safe_dump(config))
    plugin = inventory_loader.get('datacenter.iaas.hardware')
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=read_cache)
    inventory.reconcile_inventory()  # as the inventory manager does after each source
    return plugin, inventory


def no_read(self):
    raise AssertionError('the registry was read')


def members(inventory, group):
    return [host.name for host in inventory.groups[group].get_hosts()]


def hostvars(inventory, name):
    return inventory.get_host(name).vars


def test_verify_file_wants_a_hardware_config(tmp_path):
    plugin = inventory_loader.get('datacenter.iaas.hardware')
    for name in ('lab.hardware.yml', 'hardware.yaml', 'x.yml', 'hardware.yml.bak'):
        (tmp_path / name).write_text('plugin: datacenter.iaas.hardware\n')
    assert plugin.verify_file(str(tmp_path / 'lab.hardware.yml'))
    assert plugin.verify_file(str(tmp_path / 'hardware.yaml'))
    assert not plugin.verify_file(str(tmp_path / 'x.yml'))
    assert not plugin.verify_file(str(tmp_path / 'hardware.yml.bak'))
    assert not plugin.verify_file(str(tmp_path / 'missing.hardware.yml'))


def test_groups_by_role_state_and_vendor(tmp_path):
    _plugin, inventory = run(tmp_path)
    assert members(inventory, 'role_controller') == ['n05-ctl']
    assert members(inventory, 'role_compute') == ['n01-cmp', 'n03-cmp']
    assert members(inventory, 'role_storage') == ['n04-sto']
    assert members(inventory, 'state_active') == ['n02-net', 'n03-cmp', 'n04-sto', 'n05-ctl']
    assert members(inventory, 'state_enrolled') == ['n00-new']
    assert members(inventory, 'vendor_dell_inc') == ['n01-cmp', 'n03-cmp', 'n04-sto']
    assert members(inventory, 'vendor_hpe') == ['n05-ctl']
    # The kolla-ansible names stay free unless asked for.
    for name in ('controller', 'control', 'network', 'compute', 'storage', 'power_on'):
        assert name not in inventory.groups


def test_role_groups_exist_even_when_empty(tmp_path):
    _plugin, inventory = run(tmp_path, nodes={'solo': node(role=None)})
    for role in ('controller', 'network', 'compute', 'storage'):
        assert members(inventory, 'role_' + role) == []
    assert members(inventory, 'state_active') == ['solo']


def test_empty_registry_gives_empty_role_groups(tmp_path):
    _plugin, inventory = run(tmp_path, registry_text='version: 1\nnodes: {}\n')
    assert not inventory.hosts
    assert members(inventory, 'role_compute') == []


def test_host_vars_are_namespaced(tmp_path):
    _plugin, inventory = run(tmp_path)
    got = hostvars(inventory, 'n05-ctl')
    assert got['ansible_host'] == '198.18.0.5'
    assert got['iaas_state'] == 'active' and got['iaas_role'] == 'controller' and got['iaas_protected'] is False
    assert got['iaas_bmc'] == {'address': '10.0.0.5', 'port': 623, 'protocol': 'ipmi', 'credential': 'default'}
    assert got['iaas_hardware']['vendor'] == 'HPE'
    assert [disk['name'] for disk in got['iaas_hardware']['disks']] == ['sda', 'sdb']
    assert got['iaas_provisioning']['hostname'] == 'n5.example'
    assert got['iaas_properties'] == {'rack': 'r2'}
    assert not set(got) & {'bmc', 'hardware', 'provisioning', 'role', 'state', 'protected', 'properties'}


def test_sparse_record_gets_every_variable(tmp_path):
    _plugin, inventory = run(tmp_path)
    got = hostvars(inventory, 'n00-new')
    assert got['iaas_role'] is None
    assert got['iaas_hardware'] == {} and got['iaas_provisioning'] == {} and got['iaas_properties'] == {}
    assert 'ansible_host' not in got


def test_custom_prefix(tmp_path):
    _plugin, inventory = run(tmp_path, host_vars_prefix='hw_')
    got = hostvars(inventory, 'n03-cmp')
    assert got['hw_role'] == 'compute' and 'iaas_role' not in got


def test_invalid_prefix_is_refused(tmp_path):
    with pytest.raises(AnsibleParserError, match='host_vars_prefix'):
        run(tmp_path, host_vars_prefix='9-bad')


def test_hosts_are_sorted(tmp_path):
    _plugin, inventory = run(tmp_path)
    assert list(inventory.hosts) == sorted(NODES)
    for group in set(inventory.groups) - {'all'}:  # all lists its hosts group by group
        assert members(inventory, group) == sorted(members(inventory, group)), group


def test_no_password_without_expose_credentials(tmp_path):
    creds = {'default': {'username': 'admin', 'password': PASSWORD}, 'legacy': {'username': 'root', 'password': PASSWORD}}
    _plugin, inventory = run(tmp_path, credentials=creds)
    for name in NODES:
        dumped = json.dumps(hostvars(inventory, name), default=str)
        assert PASSWORD not in dumped and 'admin' not in dumped
        assert 'password' not in hostvars(inventory, name)['iaas_bmc']


def test_expose_credentials(tmp_path):
    creds = {'default': {'username': 'admin', 'password': PASSWORD}, 'legacy': {'username': 'root', 'password': 'old', 'kg': 'k'}}
    _plugin, inventory = run(tmp_path, credentials=creds, expose_credentials=True)
    bmc = hostvars(inventory, 'n03-cmp')['iaas_bmc']
    assert bmc['username'] == 'admin' and bmc['password'] == PASSWORD and 'kg' not in bmc
    assert hostvars(inventory, 'n04-sto')['iaas_bmc']['kg'] == 'k'
    # A node without a credential name uses the set named default.
    assert hostvars(inventory, 'n00-new')['iaas_bmc']['password'] == PASSWORD


def test_expose_credentials_with_a_missing_set_warns_once(tmp_path, monkeypatch):
    creds = {'default': {'username': 'admin', 'password': PASSWORD}}
    warnings = []
    monkeypatch.setattr(Display, 'warning', lambda self, msg, *args, **kwargs: warnings.append(msg))
    _plugin, inventory = run(tmp_path, credentials=creds, expose_credentials=True)
    assert 'password' not in hostvars(inventory, 'n04-sto')['iaas_bmc']
    assert hostvars(inventory, 'n03-cmp')['iaas_bmc']['password'] == PASSWORD
    assert len(warnings) == 1
    assert "'legacy'" in warnings[0] and 'n04-sto' in warnings[0] and PASSWORD not in warnings[0]


def test_expose_credentials_with_a_missing_set_fails_when_strict(tmp_path):
    creds = {'default': {'username': 'admin', 'password': PASSWORD}}
    with pytest.raises(AnsibleParserError, match="n04-sto names credential set 'legacy'"):
        run(tmp_path, credentials=creds, expose_credentials=True, strict=True)


def test_credentials_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv('IAAS_TEST_BMC_PASSWORD', PASSWORD)
    creds = {'default': {'username': 'admin', 'password': "{{ lookup('ansible.builtin.env', 'IAAS_TEST_BMC_PASSWORD') }}"},
             'legacy': {'username': 'root', 'password': 'x'}}
    _plugin, inventory = run(tmp_path, credentials=creds, expose_credentials=True)
    assert hostvars(inventory, 'n03-cmp')['iaas_bmc']['password'] == PASSWORD


def test_malformed_credentials_are_refused(tmp_path):
    with pytest.raises(AnsibleParserError, match='credentials.default must be a mapping'):
        run(tmp_path, credentials={'default': 'admin:secret'}, expose_credentials=True)


def test_kolla_groups_hold_active_nodes_only(tmp_path):
    _plugin, inventory = run(tmp_path, kolla_groups=True)
    assert members(inventory, 'control') == ['n05-ctl']
    assert members(inventory, 'network') == ['n02-net']
    assert members(inventory, 'compute') == ['n03-cmp']  # n01-cmp is only available: no OS to reach yet
    assert members(inventory, 'storage') == ['n04-sto']
    assert 'controller' not in inventory.groups


def test_constructed_features(tmp_path):
    _plugin, inventory = run(
        tmp_path,
        compose={'disk_count': 'iaas_hardware.disks | default([]) | length', 'bmc_ip': 'iaas_bmc.address'},
        groups={'big_disks': "iaas_hardware.disks | default([]) | selectattr('size_gb', 'gt', 1000) | list | length > 0",
                'unassigned': 'iaas_role is none'},
        keyed_groups=[{'prefix': 'rack', 'key': 'iaas_properties.rack | default(None)'},
                      {'prefix': 'boot', 'key': 'iaas_provisioning.boot_mode | default(None)'}])
    assert hostvars(inventory, 'n03-cmp')['disk_count'] == 2
    assert hostvars(inventory, 'n00-new')['disk_count'] == 0
    assert hostvars(inventory, 'n00-new')['bmc_ip'] == '10.0.0.100'
    assert members(inventory, 'big_disks') == ['n01-cmp', 'n02-net', 'n03-cmp', 'n04-sto', 'n05-ctl']
    assert members(inventory, 'unassigned') == ['n00-new']
    assert members(inventory, 'rack_r1') == ['n02-net', 'n04-sto']
    assert members(inventory, 'rack_r2') == ['n01-cmp', 'n03-cmp', 'n05-ctl']
    assert members(inventory, 'boot_uefi') == sorted(set(NODES) - {'n00-new'})


def test_compose_error_is_skipped_unless_strict(tmp_path):
    bad = {'compose': {'first_nic': 'iaas_hardware.nics[0].name'}}  # n00-new has no NICs
    _plugin, inventory = run(tmp_path, **bad)
    assert hostvars(inventory, 'n03-cmp')['first_nic'] == 'eno1'
    assert 'first_nic' not in hostvars(inventory, 'n00-new')
    with pytest.raises(AnsibleError, match='Could not set first_nic for host n00-new'):
        run(tmp_path, strict=True, **bad)


def test_keyed_group_error_when_strict(tmp_path):
    with pytest.raises(AnsibleParserError, match='n00-new'):
        run(tmp_path, strict=True, keyed_groups=[{'prefix': 'rack', 'key': 'iaas_properties.rack'}])


def test_registry_strings_are_never_templated(tmp_path):
    nodes = {'evil': node(properties={'note': '{{ 7 * 6 }}', '{{ key }}': 'x'})}
    _plugin, inventory = run(tmp_path, nodes=nodes)
    variables = dict(hostvars(inventory, 'evil'))
    templar = Templar(loader=DataLoader(), variables=variables)
    assert templar.template(trusted('{{ iaas_properties.note }}')) == '{{ 7 * 6 }}'
    assert templar.template(trusted('{{ 7 * 6 }}')) in (42, '42')  # the templar itself works


def test_live_power_off_sets_no_power_vars(tmp_path):
    _plugin, inventory = run(tmp_path, live_power=False)
    assert 'iaas_power' not in hostvars(inventory, 'n03-cmp')
    assert 'power_unknown' not in inventory.groups


def test_relative_registry_is_relative_to_the_config_file(tmp_path, monkeypatch):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(str(elsewhere))
    _plugin, inventory = run(tmp_path)
    assert 'n03-cmp' in inventory.hosts


def test_malformed_registry_yaml_names_the_line(tmp_path):
    text = 'version: 1\nnodes:\n  n1:\n    state: [active\n'
    with pytest.raises(AnsibleParserError) as error:
        run(tmp_path, registry_text=text)
    message = str(error.value)
    assert 'datacenter.iaas.hardware' in message and 'registry.yml' in message and 'line' in message


def test_invalid_registry_record_is_explained(tmp_path):
    with pytest.raises(AnsibleParserError, match='n1.*state must be one of'):
        run(tmp_path, nodes={'n1': {'state': 'on-fire'}})


def test_missing_registry(tmp_path):
    write_registry(tmp_path)
    (tmp_path / 'registry.yml').unlink()
    config = tmp_path / 'test.hardware.yml'
    config.write_text('plugin: datacenter.iaas.hardware\nregistry: nowhere.yml\n')
    with pytest.raises(AnsibleParserError, match='cannot read registry .*nowhere.yml'):
        inventory_loader.get('datacenter.iaas.hardware').parse(InventoryData(), DataLoader(), str(config), cache=False)


def test_cache_is_used_while_the_registry_is_unchanged(tmp_path, monkeypatch):
    options = {'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile', 'cache_connection': str(tmp_path / 'cache')}
    plugin, _inventory = run(tmp_path, read_cache=True, **options)
    plugin.update_cache_if_changed()  # what the inventory manager does after parse()

    # A new process (plugin) with the same registry: served from the JSON cache, the registry is not read.
    with monkeypatch.context() as patch:
        patch.setattr(hardware_module.Registry, 'read', no_read)
        _plugin, inventory = run(tmp_path, read_cache=True, **options)
    assert members(inventory, 'role_compute') == ['n01-cmp', 'n03-cmp']
    assert hostvars(inventory, 'n05-ctl')['iaas_hardware']['vendor'] == 'HPE'

    # The registry changed: read again at once, whatever the cache timeout.
    changed = dict(NODES, n06_new=node(index=6, role='storage'))
    _plugin, inventory = run(tmp_path, nodes=changed, read_cache=True, **options)
    assert 'n06_new' in inventory.hosts


def test_flush_cache_reads_the_registry(tmp_path, monkeypatch):
    options = {'cache': True, 'cache_plugin': 'ansible.builtin.jsonfile', 'cache_connection': str(tmp_path / 'cache')}
    plugin, _inventory = run(tmp_path, read_cache=True, **options)
    plugin.update_cache_if_changed()
    monkeypatch.setattr(hardware_module.Registry, 'read', no_read)
    with pytest.raises(AssertionError, match='registry was read'):
        run(tmp_path, read_cache=False, **options)  # --flush-cache / refresh_inventory
