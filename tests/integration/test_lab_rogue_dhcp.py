# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot_server role's rogue-DHCP pre-flight on the lab's provisioning bridge.

A second DHCP server (dnsmasq in a namespace of its own, joined to the lab's
bridge by a veth pair) answers on br-prov; the role's pre-flight, run inside
the lab namespace, must fail and name that server's address. Without it, the
same pre-flight passes.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys
import tempfile

import pytest
import yaml

from ansible_runner import ansible_env

from lab.qemu import Lab, load_machines

LAB_NETNS = 'iaas-roguetest'
ROGUE_NETNS = 'iaas-rogue'
ROGUE_ADDRESS = '198.18.0.254'


def sh(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=True)


def preflight(tmp_path):
    """Run the role's pre-flight inside the lab namespace; return the failed task's message or None.

    The probe listens 6 s: dnsmasq, like many DHCP servers, pings an address about 3 s before offering it.
    """
    play = [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'tasks': [{
        'name': 'Pre-flight of the boot server',
        'ansible.builtin.include_role': {'name': 'datacenter.iaas.boot_server', 'tasks_from': 'preflight'},
        'vars': {'boot_server_interface': 'br-prov', 'boot_server_address': '198.18.0.1',
                 'boot_server_dhcp_subnet': '198.18.0.0/24', 'boot_server_preflight_timeout': 6,
                 'boot_server_dhcp_range': {'start': '198.18.0.10', 'end': '198.18.0.99'}}}]}]
    path = str(tmp_path / 'preflight.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(play, handle)
    playbook = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    proc = subprocess.run(['ip', 'netns', 'exec', LAB_NETNS, playbook, '-i', 'localhost,', path],
                          env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(proc.stdout)
    for task in report['plays'][0]['tasks']:
        result = task['hosts'].get('localhost', {})
        if result.get('failed'):
            return result.get('msg', '')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return None


@pytest.fixture
def lab(tmp_path):
    run_dir = tempfile.mkdtemp(prefix='rogue-lab-')
    with Lab(load_machines()[:1], netns=LAB_NETNS, run_dir=os.path.join(run_dir, 'run'),
             bmc_network='127.88.3.0/24') as running:
        yield running


@pytest.fixture
def rogue(lab, tmp_path):
    """A DHCP server on the lab's bridge that is not ours."""
    subprocess.run(['ip', 'netns', 'delete', ROGUE_NETNS], capture_output=True, check=False)
    sh('ip', 'netns', 'add', ROGUE_NETNS)
    server = None
    try:
        sh('ip', 'link', 'add', 'rogue0', 'type', 'veth', 'peer', 'name', 'rogue1')
        sh('ip', 'link', 'set', 'rogue1', 'netns', LAB_NETNS)
        lab.netns_run(['ip', 'link', 'set', 'rogue1', 'master', 'br-prov', 'up'])
        sh('ip', 'link', 'set', 'rogue0', 'netns', ROGUE_NETNS)
        sh('ip', 'netns', 'exec', ROGUE_NETNS, 'ip', 'addr', 'add', ROGUE_ADDRESS + '/24', 'dev', 'rogue0')
        sh('ip', 'netns', 'exec', ROGUE_NETNS, 'ip', 'link', 'set', 'rogue0', 'up')
        server = subprocess.Popen(['ip', 'netns', 'exec', ROGUE_NETNS, 'dnsmasq', '--keep-in-foreground', '--port=0',
                                   '--interface=rogue0', '--bind-interfaces', '--no-resolv', '--no-hosts',
                                   '--dhcp-range=198.18.0.150,198.18.0.200,1h', '--dhcp-authoritative', '--log-dhcp', '--log-facility=-',
                                   '--pid-file=' + str(tmp_path / 'rogue.pid'),
                                   '--dhcp-leasefile=' + str(tmp_path / 'rogue.leases')],
                                  stdout=open(str(tmp_path / 'rogue.log'), 'w'), stderr=subprocess.STDOUT)
        yield server
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(['ip', 'netns', 'delete', ROGUE_NETNS], capture_output=True, check=False)


@pytest.mark.slow
def test_preflight_names_the_rogue_server_on_the_bridge(rogue, tmp_path):
    message = preflight(tmp_path)
    assert message is not None, 'the pre-flight passed although a rogue DHCP server answers on br-prov'
    assert 'Rogue DHCP server on br-prov' in message
    assert ROGUE_ADDRESS in message


@pytest.mark.slow
def test_preflight_passes_on_a_quiet_bridge(lab, tmp_path):
    assert preflight(tmp_path) is None
