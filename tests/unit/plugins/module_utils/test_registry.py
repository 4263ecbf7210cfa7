# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import multiprocessing
import os
import stat

import pytest
import yaml

from ansible_collections.datacenter.iaas.plugins.module_utils import registry as reg
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError, RegistryError, TransitionError

STATES = ['enrolled', 'manageable', 'available', 'deploying', 'active', 'maintenance', 'failed', 'retired']

FULL_NODE = {
    'state': 'active',
    'role': 'compute',
    'protected': True,
    'bmc': {'address': '127.0.1.7', 'port': 623, 'protocol': 'ipmi', 'credential': 'default'},
    'hardware': {'vendor': 'Dell Inc.', 'model': 'PowerEdge R650', 'serial': 'SN7', 'uuid': 'u-7', 'cpus': 64,
                 'cpu_model': 'Xeon', 'memory_mb': 262144,
                 'disks': [{'name': 'sda', 'size_gb': 480, 'rotational': False, 'serial': 'D7'}],
                 'nics': [{'name': 'eno1', 'mac': '52:54:00:aa:bb:07', 'pxe': True}]},
    'provisioning': {'mac': '52:54:00:aa:bb:07', 'ip': '172.16.0.7', 'hostname': 'rack1-u07.dc1',
                     'boot_mode': 'uefi', 'image': 'debian-12'},
    'properties': {'rack': 'rack1', 'unit': 7, 'weight': 21.5, 'hot_swap': True},
}


def registry_text(nodes):
    return yaml.safe_dump({'version': 1, 'nodes': nodes})


def write_registry(path, nodes):
    with open(str(path), 'w') as handle:
        handle.write(registry_text(nodes))


# --- parse ---------------------------------------------------------------------------------------------------------

def test_parse_full_node_round_trips():
    data = reg.parse(registry_text({'rack1-u07': FULL_NODE}))
    assert data == {'version': 1, 'nodes': {'rack1-u07': FULL_NODE}}


def test_parse_fills_defaults_and_normalizes():
    data = reg.parse(registry_text({'n1': {
        'bmc': {'address': 'BMC1.Example.Net'},
        'hardware': {'nics': [{'mac': '52-54-00-AA-BB-01'}], 'uuid': None},
        'provisioning': {'mac': '5254.00aa.bb01', 'ip': 'FD00::0:1'},
        'properties': {},
    }}))
    assert data['nodes']['n1'] == {
        'state': 'enrolled', 'role': None, 'protected': False,
        'bmc': {'address': 'bmc1.example.net'},
        'hardware': {'nics': [{'mac': '52:54:00:aa:bb:01'}]},
        'provisioning': {'mac': '52:54:00:aa:bb:01', 'ip': 'fd00::1'},
    }


def test_parse_empty_nodes():
    assert reg.parse('version: 1\n') == {'version': 1, 'nodes': {}}
    assert reg.parse('version: 1\nnodes: {}\n') == {'version': 1, 'nodes': {}}


@pytest.mark.parametrize('text, message', [
    ('version: 1\nnodes:\n  a: {state: enrolled\n', 'line 4, column 1'),
    ('version: 1\nnodes:\n  a:\n    state: [enrolled\n', 'line 5, column 1'),
    ('version: 1\nnodes:\n\ta: {}\n', 'line 3, column 1'),
    ('version: 1\nnodes:\n  a: {}\n  a: {}\n', "line 4, column 3: YAML error: found duplicate key 'a'"),
    ('version: 1\n  nodes: {}\n', 'line 2, column 8'),
])
def test_parse_malformed_yaml_names_line_and_column(text, message):
    with pytest.raises(RegistryError) as info:
        reg.parse(text, 'reg.yml')
    assert str(info.value).startswith('reg.yml:')
    assert message in str(info.value)


@pytest.mark.parametrize('text', ['', '   \n', '# only a comment\n', '---\n'])
def test_parse_empty_or_truncated_text_is_an_error(text):
    with pytest.raises(RegistryError, match='truncated'):
        reg.parse(text, 'reg.yml')


@pytest.mark.parametrize('text, message', [
    ('version: 2\nnodes: {}\n', 'unknown registry version 2'),
    ('version: "1"\nnodes: {}\n', "unknown registry version '1'"),
    ('version: true\nnodes: {}\n', 'unknown registry version True'),
    ('nodes: {}\n', 'has no version'),
    ('- version: 1\n', 'must be a mapping'),
    ('version: 1\nnodes: []\n', 'nodes must be a mapping'),
    ('version: 1\nnodes: {}\nextra: 1\n', 'unknown top-level key extra'),
    # cut short after a node name: the record is missing
    ('version: 1\nnodes:\n  rack1-u07:\n', 'node rack1-u07: the record must be a mapping'),
])
def test_parse_refuses_bad_documents(text, message):
    with pytest.raises(RegistryError, match=message):
        reg.parse(text, 'reg.yml')


@pytest.mark.parametrize('name', ['a/b', '../etc', 'a..b', '-x', 'x' * 64, 7])
def test_parse_refuses_bad_node_names(name):
    with pytest.raises(RegistryError, match='not a valid node name'):
        reg.parse(registry_text({name: {}}))


@pytest.mark.parametrize('record, message', [
    ({'state': 'running'}, 'state must be one of enrolled'),
    ({'role': 'db'}, 'role must be one of controller'),
    ({'role': 'none'}, 'role must be one of'),
    ({'protected': 'yes'}, 'protected must be true or false'),
    ({'bmc': {'protocol': 'telnet'}}, 'bmc.protocol must be one of ipmi, redfish'),
    ({'bmc': {'port': '623'}}, "bmc.port must be a port number from 1 to 65535, got '623'"),
    ({'bmc': {'port': 0}}, 'bmc.port must be a port number'),
    ({'bmc': {'port': 70000}}, 'bmc.port must be a port number'),
    ({'bmc': {'port': True}}, 'bmc.port must be a port number'),
    ({'bmc': {'address': '10.0.0.300'}}, "bmc.address: '10.0.0.300' is neither an IP address nor a host name"),
    ({'bmc': {'password': 'x'}}, 'bmc has unknown key password'),
    ({'bmc': 'x'}, 'bmc must be a mapping'),
    ({'hardware': {'cpus': -1}}, 'hardware.cpus must be a whole number'),
    ({'hardware': {'memory_mb': 1.5}}, 'hardware.memory_mb must be a whole number'),
    ({'hardware': {'serial': 123}}, 'hardware.serial must be a string'),
    ({'hardware': {'nics': {'mac': 'x'}}}, 'hardware.nics must be a list'),
    ({'hardware': {'nics': [{'mac': '52:54:00:aa:bb:07'}, {'mac': 'zz'}]}}, r"hardware.nics\[1\].mac: 'zz' is not a MAC"),
    ({'hardware': {'disks': [{'size_gb': 'big'}]}}, r'hardware.disks\[0\].size_gb must be a number'),
    ({'hardware': {'disks': [{'rotational': 1}]}}, r'hardware.disks\[0\].rotational must be true or false'),
    ({'provisioning': {'ip': '10.0.0'}}, "provisioning.ip: '10.0.0' is not an IP address"),
    ({'provisioning': {'mac': '52:54:00'}}, 'provisioning.mac'),
    ({'provisioning': {'boot_mode': 'legacy'}}, 'provisioning.boot_mode must be one of uefi, bios'),
    ({'properties': {'tags': ['a']}}, 'properties.tags must be a string, number or bool'),
    ({'properties': {'bought': yaml.safe_load('2024-01-02')}}, 'quote dates'),
    ({'colour': 'red'}, 'has unknown key colour'),
])
def test_parse_refuses_invalid_fields_and_names_node_and_field(record, message):
    with pytest.raises(RegistryError, match='^reg.yml: node rack1-u07: .*' + message):
        reg.parse(registry_text({'rack1-u07': record}), 'reg.yml')


@pytest.mark.parametrize('first, second, message', [
    ({'hardware': {'serial': 'SN1'}}, {'hardware': {'serial': 'SN1'}}, 'serial SN1 is on both node a and node b'),
    ({'hardware': {'nics': [{'mac': '52:54:00:00:00:01'}]}}, {'hardware': {'nics': [{'mac': '52-54-00-00-00-01'}]}},
     'MAC 52:54:00:00:00:01 is on both node a and node b'),
    ({'provisioning': {'mac': '52:54:00:00:00:01'}}, {'hardware': {'nics': [{'mac': '52:54:00:00:00:01'}]}},
     'MAC 52:54:00:00:00:01 is on both node a and node b'),
])
def test_parse_refuses_duplicates_across_nodes(first, second, message):
    with pytest.raises(RegistryError, match=message):
        reg.parse(registry_text({'a': first, 'b': second}))


def test_same_mac_twice_in_one_node_is_fine():
    node = {'hardware': {'nics': [{'mac': '52:54:00:00:00:01'}]}, 'provisioning': {'mac': '52:54:00:00:00:01'}}
    assert reg.parse(registry_text({'a': node}))['nodes']['a']['provisioning']['mac'] == '52:54:00:00:00:01'


# --- dump ----------------------------------------------------------------------------------------------------------

DUMPED = """\
version: 1
nodes:
  a:
    state: enrolled
  b:
    state: active
    role: compute
    protected: true
    bmc:
      address: 127.0.1.7
      port: 623
      protocol: ipmi
      credential: default
    hardware:
      vendor: Dell Inc.
      model: PowerEdge R650
      serial: SN7
      uuid: u-7
      cpus: 64
      cpu_model: Xeon
      memory_mb: 262144
      disks:
      - name: sda
        size_gb: 480
        rotational: false
        serial: D7
      nics:
      - name: eno1
        mac: 52:54:00:aa:bb:07
        pxe: true
    provisioning:
      mac: 52:54:00:aa:bb:07
      ip: 172.16.0.7
      hostname: rack1-u07.dc1
      boot_mode: uefi
      image: debian-12
    properties:
      hot_swap: true
      rack: rack1
      unit: 7
      weight: 21.5
"""


def reverse_keys(value):
    if isinstance(value, dict):
        return dict((key, reverse_keys(value[key])) for key in reversed(list(value)))
    if isinstance(value, list):
        return [reverse_keys(item) for item in value]
    return value


def test_dump_sorts_nodes_and_keeps_schema_key_order():
    # Insertion order of nodes and keys does not matter: same data, same bytes.
    assert reg.dump({'version': 1, 'nodes': {'b': FULL_NODE, 'a': {'state': 'enrolled'}}}) == DUMPED
    assert reg.dump(reverse_keys({'version': 1, 'nodes': {'a': {'state': 'enrolled'}, 'b': FULL_NODE}})) == DUMPED


def test_dump_parse_round_trip():
    data = reg.parse(DUMPED)
    assert reg.dump(data) == reg.dump(reg.parse(reg.dump(data)))
    assert data['nodes']['b'] == FULL_NODE


def test_dump_quotes_strings_that_yaml_would_read_as_something_else():
    node = {'hardware': {'serial': '0123', 'nics': [{'mac': '52:54:00:12:34:56'}]},
            'properties': {'flag': 'yes', 'date': '2024-01-02', 'ver': '1.10', 'off': 'off'}}
    data = reg.parse(reg.dump({'version': 1, 'nodes': {'n': node}}))
    assert data['nodes']['n']['hardware'] == node['hardware']
    assert data['nodes']['n']['properties'] == node['properties']


def test_dump_empty_registry():
    assert reg.parse(reg.dump(reg.empty())) == {'version': 1, 'nodes': {}}


# --- Registry: read ------------------------------------------------------------------------------------------------

def test_read_missing_file(tmp_path):
    path = str(tmp_path / 'reg.yml')
    with pytest.raises(RegistryError, match='does not exist'):
        reg.Registry(path).read()
    assert reg.Registry(path, create=True).read() == {'version': 1, 'nodes': {}}


def test_read_existing_empty_file_is_an_error_even_with_create(tmp_path):
    path = tmp_path / 'reg.yml'
    path.write_text('')
    with pytest.raises(RegistryError, match='empty'):
        reg.Registry(str(path), create=True).read()


def test_read_not_utf8(tmp_path):
    path = tmp_path / 'reg.yml'
    path.write_bytes(b'version: 1\nnodes:\n  a: {role: \xff}\n')
    with pytest.raises(RegistryError, match='not UTF-8'):
        reg.Registry(str(path)).read()


# --- Registry: update ----------------------------------------------------------------------------------------------

def leftovers(directory):
    return sorted(name for name in os.listdir(str(directory)) if name not in ('reg.yml', 'reg.yml.lock'))


def test_update_creates_the_file_atomically_with_mode_0600(tmp_path):
    path = str(tmp_path / 'reg.yml')
    update = reg.Registry(path, create=True).update()
    with update as data:
        data['nodes']['rack1-u07'] = {'bmc': {'address': '127.0.1.7'}}
    assert update.changed
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert leftovers(tmp_path) == []
    assert reg.Registry(path).read()['nodes']['rack1-u07']['state'] == 'enrolled'
    assert update.data['nodes']['rack1-u07']['bmc'] == {'address': '127.0.1.7'}


def test_update_rewrites_with_mode_0600_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / 'reg.yml'
    write_registry(path, {'a': {}})
    os.chmod(str(path), 0o644)
    with reg.Registry(str(path)).update() as data:
        data['nodes']['a']['role'] = 'compute'
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    assert leftovers(tmp_path) == []
    assert reg.Registry(str(path)).read()['nodes']['a']['role'] == 'compute'


def test_update_without_change_does_not_write(tmp_path):
    path = tmp_path / 'reg.yml'
    write_registry(path, {'a': {'hardware': {'nics': [{'mac': '52:54:00:00:00:01'}]}}})
    before = os.stat(str(path))
    update = reg.Registry(str(path)).update()
    with update as data:
        # the same MAC in another form is no change
        data['nodes']['a']['hardware']['nics'][0]['mac'] = '52-54-00-00-00-01'
    assert not update.changed
    assert update.diff['before'] == update.diff['after'] == ''
    assert os.stat(str(path)).st_ino == before.st_ino


def test_update_exception_inside_leaves_the_file_untouched(tmp_path):
    path = tmp_path / 'reg.yml'
    write_registry(path, {'a': {}})
    original = path.read_bytes()
    update = reg.Registry(str(path)).update()
    with pytest.raises(ZeroDivisionError):
        with update as data:
            data['nodes']['a']['role'] = 'compute'
            data['nodes']['b'] = {}
            1 / 0
    assert path.read_bytes() == original
    assert not update.changed
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize('change, message', [
    (lambda nodes: nodes['b'].update(hardware={'serial': 'SN1'}), 'serial SN1 is on both node a and node b'),
    (lambda nodes: nodes.update({'bad/name': {}}), 'not a valid node name'),
    (lambda nodes: nodes['a'].update(state='running'), 'state must be one of'),
])
def test_update_invalid_change_is_input_error_and_writes_nothing(tmp_path, change, message):
    path = tmp_path / 'reg.yml'
    write_registry(path, {'a': {'hardware': {'serial': 'SN1'}}, 'b': {}})
    original = path.read_bytes()
    with pytest.raises(InputError, match=message):
        with reg.Registry(str(path)).update() as data:
            change(data['nodes'])
    assert path.read_bytes() == original
    assert leftovers(tmp_path) == []


def test_update_check_mode_writes_nothing(tmp_path):
    path = tmp_path / 'reg.yml'
    update = reg.Registry(str(path), create=True).update(check_mode=True)
    with update as data:
        data['nodes']['a'] = {}
    assert update.changed
    assert update.data['nodes']['a']['state'] == 'enrolled'
    assert os.listdir(str(tmp_path)) == []  # not even a lock file

    write_registry(path, {'a': {}})
    original = path.read_bytes()
    update = reg.Registry(str(path)).update(check_mode=True)
    with update as data:
        data['nodes']['a']['role'] = 'storage'
    assert update.changed
    assert 'role: storage' in update.diff['after']
    assert path.read_bytes() == original


def test_update_diff_holds_only_changed_nodes(tmp_path):
    path = tmp_path / 'reg.yml'
    write_registry(path, dict(('n%02d' % i, {}) for i in range(50)))
    update = reg.Registry(str(path)).update()
    with update as data:
        data['nodes']['n07']['role'] = 'compute'
        del data['nodes']['n08']
        data['nodes']['new'] = {}
    assert update.changed
    assert sorted(yaml.safe_load(update.diff['before'])) == ['n07', 'n08']
    assert sorted(yaml.safe_load(update.diff['after'])) == ['n07', 'new']
    assert yaml.safe_load(update.diff['after'])['n07']['role'] == 'compute'


def test_update_lock_timeout(tmp_path):
    path = str(tmp_path / 'reg.yml')
    write_registry(path, {})
    with open(path + '.lock', 'w') as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(RegistryError, match='still locked by another writer'):
            with reg.Registry(path, lock_timeout=0.2).update():
                pass
    with reg.Registry(path, lock_timeout=0.2).update() as data:  # released: fine again
        data['nodes']['a'] = {}
    assert 'a' in reg.Registry(path).read()['nodes']


def test_update_unwritable_directory_is_a_registry_error(tmp_path):
    path = str(tmp_path / 'missing-dir' / 'reg.yml')
    with pytest.raises(RegistryError, match='lock file'):
        with reg.Registry(path, create=True).update() as data:
            data['nodes']['a'] = {}


def _add_then_update(path, index, barrier):
    barrier.wait()
    name = 'node%02d' % index
    with reg.Registry(path).update() as data:
        data['nodes'][name] = {'hardware': {'serial': 'SN%02d' % index}}
    with reg.Registry(path).update() as data:
        data['nodes'][name]['properties'] = {'worker': index}


def test_concurrent_updates_lose_nothing(tmp_path):
    path = str(tmp_path / 'reg.yml')
    write_registry(path, {})
    context = multiprocessing.get_context('fork')
    barrier = context.Barrier(20)
    workers = [context.Process(target=_add_then_update, args=(path, index, barrier)) for index in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0] * 20
    nodes = reg.Registry(path).read()['nodes']
    assert sorted(nodes) == ['node%02d' % index for index in range(20)]
    assert all(nodes['node%02d' % index]['properties'] == {'worker': index} for index in range(20))
    assert leftovers(tmp_path) == []


# --- lifecycle -----------------------------------------------------------------------------------------------------

# The table of docs/architecture.md, written out again: action -> (from, to, states that need force,
# whether protected needs force).
CONTRACT = {
    'manage': (['enrolled', 'available', 'maintenance', 'failed'], 'manageable', [], False),
    'provide': (['manageable'], 'available', [], False),
    'deploy': (['available', 'active'], 'deploying', ['active'], True),
    'activate': (['deploying'], 'active', [], False),
    'fail': (['deploying'], 'failed', [], False),
    'undeploy': (['active', 'failed'], 'available', ['active'], True),
    'maintenance': ([s for s in STATES if s != 'retired'], 'maintenance', [], False),
    'retire': (STATES, 'retired', ['active'], True),
}


def test_actions_table_matches_the_contract():
    assert sorted(reg.ACTIONS) == sorted(CONTRACT)
    assert list(reg.STATES) == STATES


@pytest.mark.parametrize('protected', [False, True])
@pytest.mark.parametrize('state', STATES)
@pytest.mark.parametrize('action', sorted(CONTRACT))
def test_every_action_from_every_state(action, state, protected):
    sources, target, force_states, force_if_protected = CONTRACT[action]
    node = {'state': state, 'protected': protected}
    if state == target:  # already there: nothing to do, nothing to guard
        assert reg.transition('n', node, action) == target
    elif state not in sources:
        for force in (False, True):
            with pytest.raises(TransitionError) as info:
                reg.transition('n', node, action, force=force)
            assert str(info.value) == 'node n: cannot %s a node that is %s: %s is allowed from %s' % (
                action, state, action, ', '.join(sources))
    elif state in force_states or (protected and force_if_protected):
        with pytest.raises(TransitionError, match='needs force: true'):
            reg.transition('n', node, action)
        assert reg.transition('n', node, action, force=True) == target
    else:
        assert reg.transition('n', node, action) == target
    assert node == {'state': state, 'protected': protected}  # the record is not changed


@pytest.mark.parametrize('action, state, protected, message', [
    ('deploy', 'active', False, 'deploy of an active node needs force'),
    ('deploy', 'available', True, 'deploy of a protected node needs force'),
    ('undeploy', 'failed', True, 'undeploy of a protected node needs force'),
    ('retire', 'active', False, 'retire of an active node needs force'),
    ('retire', 'enrolled', True, 'retire of a protected node needs force'),
    ('maintenance', 'retired', False, 'maintenance is allowed from enrolled, manageable, available, deploying, '
                                      'active, maintenance, failed'),
])
def test_transition_messages(action, state, protected, message):
    with pytest.raises(TransitionError, match=message):
        reg.transition('n', {'state': state, 'protected': protected}, action)


def test_transition_unknown_action():
    with pytest.raises(TransitionError, match="unknown action 'explode' .actions: activate, deploy"):
        reg.transition('n', {'state': 'enrolled'}, 'explode')


@pytest.mark.parametrize('power', ['off', 'shutdown', 'reset', 'cycle'])
@pytest.mark.parametrize('state, protected, refused', [
    ('active', False, True), ('available', True, True), ('active', True, True), ('available', False, False),
    ('deploying', False, False), ('maintenance', False, False),
])
def test_guard_power(power, state, protected, refused):
    node = {'state': state, 'protected': protected}
    if refused:
        with pytest.raises(TransitionError, match='power %s of a .* node needs force: true' % power):
            reg.guard_power('n', node, power, False)
    else:
        reg.guard_power('n', node, power, False)
    reg.guard_power('n', node, power, True)


@pytest.mark.parametrize('power', ['on', 'query'])
def test_guard_power_lets_harmless_states_through(power):
    reg.guard_power('n', {'state': 'active', 'protected': True}, power, False)


# --- helpers -------------------------------------------------------------------------------------------------------

def test_find_by_serial_and_mac():
    data = reg.parse(registry_text({'a': FULL_NODE, 'b': {'provisioning': {'mac': '52:54:00:00:00:0b'}}}))
    assert reg.find_by_serial(data, 'SN7') == 'a'
    assert reg.find_by_serial(data, 'nope') is None
    assert reg.find_by_mac(data, '52-54-00-AA-BB-07') == 'a'
    assert reg.find_by_mac(data, '5254.0000.000b') == 'b'
    assert reg.find_by_mac(data, '52:54:00:00:00:99') is None
    with pytest.raises(InputError):
        reg.find_by_mac(data, 'zz')


@pytest.mark.parametrize('node, updates, changed, expected', [
    ({'a': 1}, {'a': 1}, False, {'a': 1}),
    ({'a': 1}, {'a': 2}, True, {'a': 2}),
    ({'a': 1}, {'b': 2}, True, {'a': 1, 'b': 2}),
    ({'a': 1}, {'a': None}, True, {}),
    ({'a': 1}, {'b': None}, False, {'a': 1}),
    ({'d': {'x': 1, 'y': 2}}, {'d': {'y': 3}}, True, {'d': {'x': 1, 'y': 3}}),
    ({'d': {'x': 1, 'y': 2}}, {'d': {'y': 2}}, False, {'d': {'x': 1, 'y': 2}}),
    ({'d': {'x': 1}}, {'d': {'x': None}}, True, {'d': {}}),
    ({'l': [1, 2]}, {'l': [3]}, True, {'l': [3]}),
    ({'l': [1, 2]}, {'l': [1, 2]}, False, {'l': [1, 2]}),
    ({'a': 1}, {'a': True}, True, {'a': True}),
    ({'a': 'x'}, {'a': {'b': 1}}, True, {'a': {'b': 1}}),
])
def test_merge(node, updates, changed, expected):
    assert reg.merge(node, updates) is changed
    assert node == expected


def test_merge_copies_what_it_stores():
    updates = {'l': [{'x': 1}]}
    node = {}
    reg.merge(node, updates)
    updates['l'][0]['x'] = 2
    assert node == {'l': [{'x': 1}]}
