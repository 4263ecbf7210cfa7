# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cloud roles refuse bad settings before they touch anything: publish's address checks (a pool
outside its network is accepted by Neutron and breaks the cloud later) and its argument spec, run on
localhost with ansible-playbook, no cloud needed. The refusals that need a node (Open vSwitch without its
kernel module, a Xen compute node, a missing provider interface) are Molecule scenarios of their roles."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess

import pytest

from ansible_runner import ROOT, ansible_env, run_tasks

GOOD_NETWORK = {'name': 'public', 'physical_network': 'physnet1', 'network_type': 'flat',
                'cidr': '203.0.113.0/24', 'gateway': '203.0.113.1',
                'pool_start': '203.0.113.100', 'pool_end': '203.0.113.200'}


def publish_preflight(tmp_path, **variables):
    """Run the publish role's preflight on localhost; the results of its tasks. A variable given as None
    is left out."""
    extra = {'openstack_controller_address': '192.0.2.10', 'openstack_secrets_dir': str(tmp_path / 'secrets')}
    extra.update(variables)
    extra = dict((name, value) for name, value in extra.items() if value is not None)
    task = {'ansible.builtin.import_role': {'name': 'datacenter.iaas.publish', 'tasks_from': 'preflight'}}
    return run_tasks([task], extra_vars=extra)


def failures(results):
    """The messages of the failed tasks, and of the failed items of looped ones."""
    messages = []
    for result in results:
        if result.failed:
            messages.append(result.get('msg', ''))
            messages += [item.get('msg', '') for item in result.get('results', []) if item.get('failed')]
    return messages


def test_defaults_pass(tmp_path):
    results = publish_preflight(tmp_path)
    assert failures(results) == []
    # The admin password is generated once, private, and never printed.
    secret = tmp_path / 'secrets' / 'keystone_admin'
    assert os.stat(str(secret)).st_mode & 0o777 == 0o600
    password = secret.read_text().split()[0]
    assert not any(password in repr(result) for result in results)


@pytest.mark.parametrize('change,message', [
    ({'pool_start': '198.51.100.10'}, 'publish_external_network'),
    ({'pool_end': '203.0.113.255'}, 'publish_external_network'),
    ({'gateway': '203.0.113.150'}, 'publish_external_network'),
    ({'pool_start': '203.0.113.200', 'pool_end': '203.0.113.100'}, 'publish_external_network'),
    ({'cidr': 'not-a-network'}, 'publish_external_network'),
])
def test_bad_external_network_refused(tmp_path, change, message):
    network = dict(GOOD_NETWORK, **change)
    assert any(message in msg for msg in failures(publish_preflight(tmp_path, publish_external_network=network)))


def test_floating_ip_outside_the_pool_refused(tmp_path):
    msgs = failures(publish_preflight(tmp_path, publish_floating_ips=['203.0.113.50']))
    assert any('203.0.113.50 is not in the pool' in msg for msg in msgs), msgs


def test_overlapping_tenant_network_refused(tmp_path):
    msgs = failures(publish_preflight(tmp_path, publish_tenant_network={'name': 'private', 'cidr': '203.0.113.0/25'}))
    assert any('does not overlap' in msg for msg in msgs), msgs


def test_no_controller_refused(tmp_path):
    msgs = failures(publish_preflight(tmp_path, openstack_controller_address=None))
    assert any('no controller address' in msg for msg in msgs), msgs


def run_publish_step(tmp_path, tags):
    """Run playbooks/publish.yml on an inventory without a controller; the finished process."""
    return subprocess.run(
        [os.path.join(os.path.dirname(os.sys.executable), 'ansible-playbook'), '-i', 'localhost,',
         os.path.join(ROOT, 'playbooks', 'publish.yml'), '--tags', tags,
         '-e', 'openstack_secrets_dir=%s' % (tmp_path / 'secrets')],
        env=ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'default'}), capture_output=True, text=True,
        timeout=300, check=False)


def test_publish_step_quiet_under_other_tags(tmp_path):
    """make demo's first part runs site.yml with --tags discover,assign,provision on an inventory without a
    controller: the publish step's argument check is always tagged and must pass there, and nothing else
    of the step may run."""
    proc = run_publish_step(tmp_path, 'discover,assign,provision')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'failed=0' in proc.stdout and 'changed=0' in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / 'secrets').exists()


def test_publish_step_without_a_controller_refused(tmp_path):
    """The step itself, with no controller to learn the address of: the preflight's refusal, not a
    template error from the fact gathering before it, and nothing written."""
    proc = run_publish_step(tmp_path, 'publish')
    assert proc.returncode != 0
    assert 'no controller address' in proc.stdout, proc.stdout[-3000:]
    assert 'No first item' not in proc.stdout + proc.stderr
    assert not (tmp_path / 'secrets').exists()
