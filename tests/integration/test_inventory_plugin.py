# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hardware inventory plugin through the real ``ansible-inventory`` command."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
ANSIBLE_INVENTORY = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), 'ansible-inventory')
PASSWORD = 'Inv3ntory-s3cret'


def inventory(source, *args, **env):
    """Run ansible-inventory on ``source``; return the finished process (text output)."""
    environ = dict(os.environ)
    environ.update({'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS, 'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true',
                    'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_LOCAL_TEMP': os.path.join(os.path.dirname(str(source)), 'tmp')})
    environ.update(env)
    return subprocess.run([ANSIBLE_INVENTORY, '-i', str(source)] + list(args), capture_output=True, text=True,
                          env=environ, timeout=300, check=False)


def plain(value):
    """``--list`` JSON without ansible-core 2.19's markers of untrusted strings."""
    if isinstance(value, dict):
        if list(value) == ['__ansible_unsafe']:
            return value['__ansible_unsafe']
        return dict((key, plain(item)) for key, item in value.items())
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def listing(source, **env):
    proc = inventory(source, '--list', **env)
    assert proc.returncode == 0, proc.stderr
    return plain(json.loads(proc.stdout)), proc


@pytest.fixture
def lab(tmp_path):
    """A copy of the shipped example (inventory/lab.hardware.yml and its registry) in a scratch folder."""
    for name in ('lab.hardware.yml', 'example-registry.yml'):
        shutil.copy(os.path.join(ROOT, 'inventory', name), str(tmp_path / name))
    return tmp_path


def write_config(folder, **options):
    config = {'plugin': 'datacenter.iaas.hardware', 'registry': 'example-registry.yml'}
    config.update(options)
    path = folder / 'test.hardware.yml'
    path.write_text(yaml.safe_dump(config))
    return path


def test_list_of_the_shipped_example(lab):
    data, proc = listing(lab / 'lab.hardware.yml')
    assert 'WARNING' not in proc.stderr, proc.stderr
    hostvars = data['_meta']['hostvars']
    assert sorted(hostvars) == ['rack1-u01', 'rack1-u02', 'rack1-u03', 'rack1-u04', 'rack1-u05']
    assert sorted(data['role_compute']['hosts']) == ['rack1-u03']
    assert data['state_active']['hosts'] == ['rack1-u01', 'rack1-u02', 'rack1-u03']
    assert data['vendor_dell_inc']['hosts'] == ['rack1-u01']
    # kolla_groups is on in the example: active nodes only, so the available storage node is not there.
    assert data['control']['hosts'] == ['rack1-u01'] and data['compute']['hosts'] == ['rack1-u03']
    assert 'storage' not in data or not data['storage'].get('hosts')
    assert data['monitoring']['hosts'] == ['rack1-u01']
    assert data['rack_rack1']['hosts'] == ['rack1-u01', 'rack1-u02', 'rack1-u03', 'rack1-u04']

    ctl = hostvars['rack1-u01']
    assert ctl['ansible_host'] == '198.18.0.11'
    assert ctl['iaas_role'] == 'controller' and ctl['iaas_state'] == 'active' and ctl['iaas_protected'] is True
    assert ctl['iaas_bmc'] == {'address': '10.10.0.1', 'port': 623, 'protocol': 'ipmi', 'credential': 'default'}
    assert [disk['size_gb'] for disk in ctl['iaas_hardware']['disks']] == [480, 1920]
    bare = hostvars['rack1-u05']
    assert bare['iaas_role'] is None and bare['iaas_hardware'] == {} and 'ansible_host' not in bare


def test_graph_of_the_shipped_example(lab):
    proc = inventory(lab / 'lab.hardware.yml', '--graph')
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip(' |-') for line in proc.stdout.splitlines()]
    for group in ('@role_controller:', '@role_network:', '@role_compute:', '@role_storage:', '@state_enrolled:',
                  '@vendor_supermicro:', '@control:'):
        assert group in lines
    supermicro = lines.index('@vendor_supermicro:')
    assert lines[supermicro + 1:supermicro + 3] == ['rack1-u02', 'rack1-u04']


def test_graph_of_the_example_from_the_repository_itself():
    """The README shows this command; it must work from any directory."""
    proc = inventory(os.path.join(ROOT, 'inventory', 'lab.hardware.yml'), '--graph', 'role_controller',
                     ANSIBLE_LOCAL_TEMP='/tmp')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['@role_controller:', '|--rack1-u01']


def test_credentials_stay_hidden_unless_exposed(lab):
    credentials = {'default': {'username': 'admin', 'password': "{{ lookup('ansible.builtin.env', 'IAAS_BMC_PASSWORD') }}"},
                   'legacy': {'username': 'root', 'password': "{{ lookup('ansible.builtin.env', 'IAAS_BMC_PASSWORD') }}"}}
    hidden = write_config(lab, credentials=credentials)
    data, _proc = listing(hidden, IAAS_BMC_PASSWORD=PASSWORD)
    assert PASSWORD not in json.dumps(data)
    graph = inventory(hidden, '--graph', '--vars', IAAS_BMC_PASSWORD=PASSWORD)
    assert graph.returncode == 0 and PASSWORD not in graph.stdout

    exposed = write_config(lab, credentials=credentials, expose_credentials=True)
    data, _proc = listing(exposed, IAAS_BMC_PASSWORD=PASSWORD)
    bmc = data['_meta']['hostvars']['rack1-u05']['iaas_bmc']
    assert bmc['credential'] == 'legacy' and bmc['username'] == 'root' and bmc['password'] == PASSWORD


def test_host_vars_prefix_and_constructed(lab):
    config = write_config(lab, host_vars_prefix='hw_', strict=True,
                          compose={'memory_gb': 'hw_hardware.memory_mb | default(0) // 1024'},
                          keyed_groups=[{'prefix': 'boot', 'key': "hw_provisioning.boot_mode | default('none')"}])
    data, _proc = listing(config)
    assert data['_meta']['hostvars']['rack1-u03']['memory_gb'] == 512
    assert 'iaas_role' not in data['_meta']['hostvars']['rack1-u03']
    assert data['boot_bios']['hosts'] == ['rack1-u04']
    assert data['boot_none']['hosts'] == ['rack1-u05']


def test_strict_compose_error_fails_the_source(lab):
    config = write_config(lab, strict=True, compose={'first_disk': 'iaas_hardware.disks[0].name'})
    proc = inventory(config, '--list')
    assert proc.returncode != 0
    assert 'Could not set first_disk for host rack1-u05' in proc.stderr


def test_bad_registry_is_reported_with_its_line(lab):
    (lab / 'example-registry.yml').write_text('version: 1\nnodes:\n  n1:\n    state: active\n   role: compute\n')
    proc = inventory(write_config(lab), '--list')
    assert proc.returncode != 0
    assert 'datacenter.iaas.hardware' in proc.stderr
    assert 'example-registry.yml: line 5' in proc.stderr


def test_jsonfile_cache_holds_no_credentials(lab):
    cache = lab / 'cache'
    config = write_config(lab, cache=True, cache_plugin='ansible.builtin.jsonfile', cache_connection=str(cache),
                          credentials={'default': {'username': 'admin', 'password': PASSWORD}})
    first, _proc = listing(config)
    files = os.listdir(str(cache))
    assert len(files) == 1
    with open(str(cache / files[0])) as handle:
        stored = handle.read()
    assert 'rack1-u03' in stored and PASSWORD not in stored
    again, _proc = listing(config)  # served from the cache: same answer
    assert again == first
