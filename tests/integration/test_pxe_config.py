# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""datacenter.iaas.pxe_config through ansible-playbook, on a boot server root in a temporary directory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

import pytest
import yaml

from ansible_runner import run_module, run_tasks

# ansible_runner resolves the interpreter with realpath, which leaves the virtualenv (and its netaddr) behind.
ENV = {'ANSIBLE_PYTHON_INTERPRETER': sys.executable}
SHA = '0123456789abcdef' * 4
NODES = [
    {'name': 'rack1-u07', 'mac': '52:54:00:AA:BB:07'},
    {'name': 'rack1-u08', 'mac': '52-54-00-aa-bb-08', 'mode': 'deploy', 'boot_mode': 'uefi', 'disk': '/dev/vda'},
    {'name': 'rack1-u09', 'mac': '5254.00aa.bb09', 'mode': 'install', 'hostname': 'rack1-u09.dc1.example',
     'install': {'os': 'debian'}},
]
BASE = {'server': '198.18.0.1', 'pool': ['198.18.0.0/24'], 'gateway': '198.18.0.1',
        'image': 'images/debian-12.qcow2', 'image_sha256': SHA}
FILES_07 = ['http/ipxe/52-54-00-aa-bb-07.ipxe', 'tftp/grub/grub.cfg-01-52-54-00-aa-bb-07',
            'tftp/pxelinux.cfg/01-52-54-00-aa-bb-07']


@pytest.fixture
def root(tmp_path):
    path = tmp_path / 'srv'
    path.mkdir()
    return str(path)


def args(root, **extra):
    out = dict(BASE, root=root, nodes=NODES)
    out.update(extra)
    return out


def tree(root):
    out = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                out[os.path.relpath(path, root)] = handle.read()
    return out


def hosts(root):
    with open(os.path.join(root, 'dnsmasq', 'hosts')) as handle:
        return [line for line in handle.read().splitlines() if line and not line.startswith('#')]


def test_write_then_nothing_changes(root):
    first, second = run_tasks([{'datacenter.iaas.pxe_config': args(root)},
                               {'datacenter.iaas.pxe_config': args(root)}], env=ENV)
    assert first.changed and not first.failed, first
    assert first['hosts_changed']
    assert [(n['name'], n['mac'], n['ip'], n['hostname'], n['mode']) for n in first['nodes']] == [
        ('rack1-u07', '52:54:00:aa:bb:07', '198.18.0.2', 'rack1-u07', 'discover'),
        ('rack1-u08', '52:54:00:aa:bb:08', '198.18.0.3', 'rack1-u08', 'deploy'),
        ('rack1-u09', '52:54:00:aa:bb:09', '198.18.0.4', 'rack1-u09.dc1.example', 'install'),
    ]
    assert first['nodes'][0]['files'] == FILES_07
    assert first['nodes'][1]['files'] == ['http/ipxe/52-54-00-aa-bb-08.ipxe', 'tftp/grub/grub.cfg-01-52-54-00-aa-bb-08']
    assert 'http/install/rack1-u09.dc1.example.preseed' in first['nodes'][2]['files']
    assert sorted(first['changed_files']) == sorted(tree(root))
    assert hosts(root) == ['52:54:00:aa:bb:07,198.18.0.2,rack1-u07',
                           '52:54:00:aa:bb:08,198.18.0.3,rack1-u08',
                           '52:54:00:aa:bb:09,198.18.0.4,rack1-u09.dc1.example']
    files = tree(root)
    assert b'iaas.mode=deploy' in files['http/ipxe/52-54-00-aa-bb-08.ipxe']
    assert b'iaas.sha256=' + SHA.encode() in files['tftp/grub/grub.cfg-01-52-54-00-aa-bb-08']
    assert b'LABEL discover' in files['tftp/pxelinux.cfg/01-52-54-00-aa-bb-07']

    assert not second.changed and not second.failed, second
    assert second['changed_files'] == [] and second['removed_files'] == [] and not second['hosts_changed']
    assert [n['ip'] for n in second['nodes']] == [n['ip'] for n in first['nodes']]
    assert tree(root) == files


def test_check_mode_writes_nothing_and_diff_shows_content(root):
    result = run_module('pxe_config', args(root), check=True, diff=True, env=ENV)
    assert result.changed and not result.failed, result
    assert tree(root) == {}
    assert 'dnsmasq/hosts' in result['changed_files']
    diff = result['diff']
    assert diff[0]['after_header'] == 'dnsmasq/hosts' and diff[0]['before'] == ''
    assert '52:54:00:aa:bb:07,198.18.0.2,rack1-u07' in diff[0]['after']
    ipxe = [entry for entry in diff if entry.get('after_header') == 'http/ipxe/52-54-00-aa-bb-07.ipxe']
    assert ipxe and ipxe[0]['after'].startswith('#!ipxe\n') and 'iaas.mode=discover' in ipxe[0]['after']


def test_change_diff_and_absent(root):
    steps = [
        args(root),
        args(root, nodes=[dict(NODES[0], mode='local')]),
        args(root, nodes=[dict(NODES[0], state='absent')]),
        args(root, nodes=[NODES[0]], state='absent'),
    ]
    results = run_tasks([{'datacenter.iaas.pxe_config': step} for step in steps], diff=True, env=ENV)
    assert not any(result.failed for result in results), results
    local = results[1]
    # The hosts line holds no boot mode, so a mode change leaves it alone.
    assert local.changed and sorted(local['changed_files']) == sorted(FILES_07)
    ipxe = [entry for entry in local['diff'] if entry.get('after_header') == FILES_07[0]][0]
    assert 'iaas.mode=discover' in ipxe['before'] and 'sanboot' in ipxe['after']

    absent = results[2]
    assert absent.changed and sorted(absent['removed_files']) == FILES_07
    assert absent['nodes'][0]['changed'] and absent['nodes'][0]['state'] == 'absent'
    assert absent['nodes'][0]['mode'] is None and absent['nodes'][0]['ip'] is None
    assert not any(os.path.exists(os.path.join(root, path)) for path in FILES_07)
    assert hosts(root) == ['52:54:00:aa:bb:08,198.18.0.3,rack1-u08',
                           '52:54:00:aa:bb:09,198.18.0.4,rack1-u09.dc1.example']
    assert os.path.exists(os.path.join(root, 'http/ipxe/52-54-00-aa-bb-08.ipxe'))
    assert not results[3].changed


BAD = [
    ({'mac': '52:54:00:aa:bb'}, 'not a MAC address'),
    ({'ip': '198.18.1.7'}, 'ip 198.18.1.7 is outside the pool'),
    ({'ip': '198.18.0.1'}, 'ip 198.18.0.1 is the gateway'),
    ({'mac': '52:54:00:aa:bb:07'}, 'MAC 52:54:00:aa:bb:07 is given to both node rack1-u07 and node rack1-u10'),
    ({'hostname': 'rack1_u10'}, 'not a valid host name'),
    ({'hostname': '../../etc/cron.d/x'}, 'not a valid host name'),
    ({'mode': 'deploy', 'image': '../../etc/shadow'}, 'relative path under the HTTP root'),
]


def test_bad_input_fails_and_writes_nothing(root):
    """Each task adds one bad node to three good ones: every task fails, and nothing at all is written."""
    tasks = []
    for bad, _message in BAD:
        if _message is None:
            continue
        nodes = NODES + [dict({'name': 'rack1-u10', 'mac': '52:54:00:aa:bb:10'}, **bad)]
        tasks.append({'datacenter.iaas.pxe_config': args(root, nodes=nodes)})
    duplicate_ip = NODES + [{'name': 'a', 'mac': '52:54:00:aa:bb:21', 'ip': '198.18.0.9'},
                            {'name': 'b', 'mac': '52:54:00:aa:bb:22', 'ip': '198.18.0.9'}]
    tasks.append({'datacenter.iaas.pxe_config': args(root, nodes=duplicate_ip)})
    messages = [message for _bad, message in BAD if message] + ['IP address 198.18.0.9 is given to both node a and node b']
    results = run_tasks(tasks, env=ENV)
    for result, message in zip(results, messages):
        assert result.failed, result
        assert message in result['msg']
        assert result['error_kind'] == 'invalid_input'
    assert len(results) == len(messages)
    assert tree(root) == {}


def test_registry_mode_records_addresses(root, tmp_path):
    registry = str(tmp_path / 'registry.yml')
    with open(registry, 'w') as handle:
        yaml.safe_dump({'version': 1, 'nodes': {
            'rack1-u07': {'state': 'available', 'role': 'compute',
                          'hardware': {'nics': [{'name': 'eno1', 'mac': '52:54:00:aa:bb:07', 'pxe': True}]}},
            'rack1-u08': {'state': 'available', 'role': 'compute',
                          'provisioning': {'mac': '52:54:00:aa:bb:08', 'ip': '198.18.0.50', 'boot_mode': 'bios'}},
            'rack1-u09': {'state': 'active', 'role': 'compute', 'provisioning': {'mac': '52:54:00:aa:bb:09',
                                                                                 'ip': '198.18.0.2'}},
            'rack1-u10': {'state': 'available', 'role': 'storage', 'provisioning': {'mac': '52:54:00:aa:bb:10'}},
        }}, handle)
    task = {'root': root, 'server': '198.18.0.1', 'pool': ['198.18.0.0/24'], 'gateway': '198.18.0.1',
            'registry': registry, 'states': ['available'], 'roles': ['compute'], 'update_registry': True}
    check, first, second = run_tasks([{'datacenter.iaas.pxe_config': task, 'check_mode': True, 'diff': True},
                                      {'datacenter.iaas.pxe_config': task},
                                      {'datacenter.iaas.pxe_config': task}], env=ENV)
    assert check.changed and not check.failed, check
    assert [entry for entry in check['diff'] if entry.get('before_header') == registry]
    assert first.changed and not first.failed, first
    # rack1-u09 (active, not selected) holds .2 in the registry: never handed out.
    assert [(n['name'], n['ip']) for n in first['nodes']] == [('rack1-u07', '198.18.0.3'), ('rack1-u08', '198.18.0.50')]
    assert first['nodes'][1]['files'] == ['http/ipxe/52-54-00-aa-bb-08.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-aa-bb-08']
    with open(registry) as handle:
        nodes = yaml.safe_load(handle)['nodes']
    assert nodes['rack1-u07']['provisioning'] == {'ip': '198.18.0.3', 'hostname': 'rack1-u07'}
    assert nodes['rack1-u08']['provisioning'] == {'mac': '52:54:00:aa:bb:08', 'ip': '198.18.0.50',
                                                  'hostname': 'rack1-u08', 'boot_mode': 'bios'}
    assert 'ip' not in nodes['rack1-u10'].get('provisioning', {})
    assert not second.changed and not second.failed, second


def test_registry_node_without_mac_is_skipped(root, tmp_path):
    registry = str(tmp_path / 'registry.yml')
    with open(registry, 'w') as handle:
        yaml.safe_dump({'version': 1, 'nodes': {'bare': {'state': 'enrolled'},
                                                'rack1-u07': {'provisioning': {'mac': '52:54:00:aa:bb:07'}}}}, handle)
    result = run_module('pxe_config', {'root': root, 'server': '198.18.0.1', 'pool': ['198.18.0.0/24'],
                                       'registry': registry}, env=ENV)
    assert result.changed and not result.failed, result
    assert result['skipped_nodes'] == ['bare'] and not result.get('skipped')
    assert [n['name'] for n in result['nodes']] == ['rack1-u07']
    assert any('bare' in warning for warning in result.get('warnings', []))


def test_the_boot_server_address_goes_to_no_node(root):
    """Issue 11, defect 2: with no gateway (or another one), the server's own address was the first handed out."""
    result = run_module('pxe_config', args(root, gateway=None), env=ENV)
    assert result.changed and not result.failed, result
    assert [n['ip'] for n in result['nodes']] == ['198.18.0.2', '198.18.0.3', '198.18.0.4']
    refused = run_module('pxe_config', args(root, gateway=None, nodes=[dict(NODES[0], ip='198.18.0.1')]), env=ENV)
    assert refused.failed and 'ip 198.18.0.1 is the boot server' in refused['msg'], refused


def test_pool_outside_the_boot_network_is_refused(root):
    """Issue 11, defect 5: a pool dnsmasq on the boot server could never hand out is refused, naming it."""
    result = run_module('pxe_config', args(root, pool=['10.0.0.0/24'], gateway=None), env=ENV)
    assert result.failed and result['error_kind'] == 'invalid_input', result
    assert "pool 10.0.0.0/24 is outside the boot server's network" in result['msg']
    assert tree(root) == {}


def test_check_mode_fails_where_the_real_run_fails(root):
    """A root that does not exist, or that the task may not write in, fails in check mode as in a real run."""
    missing = os.path.join(root, 'missing')
    results = run_tasks([{'datacenter.iaas.pxe_config': args(missing), 'check_mode': check} for check in (True, False)],
                        env=ENV)
    for result in results:
        assert result.failed and 'root %s is not a directory' % missing in result['msg'], result
    os.chmod(root, 0o555)
    immutable = os.geteuid() == 0 and subprocess.call(['chattr', '+i', root], stderr=subprocess.DEVNULL) == 0
    try:
        if os.geteuid() == 0 and not immutable:
            pytest.skip('root ignores modes and chattr +i does not work here')
        results = run_tasks([{'datacenter.iaas.pxe_config': args(root), 'check_mode': check} for check in (True, False)],
                            env=ENV)
    finally:
        if immutable:
            subprocess.check_call(['chattr', '-i', root])
        os.chmod(root, 0o755)
    for result in results:
        assert result.failed and 'no permission to write in %s' % root in result['msg'], result
    assert tree(root) == {}
