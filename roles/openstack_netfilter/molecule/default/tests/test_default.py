# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netfilter role in a container, seen from inside it (testinfra, podman backend): ebtables does what
Neutron's Linux bridge agent asks of it, in a network namespace of the test's own."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess

import pytest

CONTAINER = 'iaas-netfilter'
PROBE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'files', 'iaas-netfilter-probe.py')
PATHS = {'nft': '/usr/sbin/ebtables-nft', 'legacy': '/usr/sbin/ebtables-legacy',
         'nft_compat': '/usr/local/sbin/iaas-ebtables-nft'}

# What the agent does (neutron/plugins/ml2/drivers/linuxbridge/agent/arp_protect.py): a chain per port, a
# rule with an among match, then, when the port changes or goes, the same rule deleted by its listing.
AGENT_STEPS = '''
set -e
ebtables -t nat --concurrent -N neutronMAC-tap1 -P DROP
ebtables -t nat --concurrent -A neutronMAC-tap1 -j DROP
ebtables -t nat --concurrent -I PREROUTING -i tap1 -j neutronMAC-tap1
ebtables -t nat --concurrent -I neutronMAC-tap1 -i tap1 --among-src fa:16:3e:00:00:01,fa:16:3e:00:00:02 -j RETURN
rule=$(ebtables -t nat -L neutronMAC-tap1 | grep -e --among-src)
ebtables -t nat --concurrent -D neutronMAC-tap1 $rule
! ebtables -t nat -L neutronMAC-tap1 | grep -e --among-src
ebtables -t nat --concurrent -D PREROUTING -i tap1 -j neutronMAC-tap1
ebtables -t nat --concurrent -F neutronMAC-tap1
ebtables -t nat --concurrent -X neutronMAC-tap1
'''


def in_new_netns(host, script):
    """Run a shell script in a network namespace of its own inside the container."""
    return host.run('unshare --net sh -c %s' % _quote(script))


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.fixture(scope='module')
def probe():
    with open(PROBE, 'rb') as handle:
        out = subprocess.run(['podman', 'exec', '-i', CONTAINER, 'python3', '-'], input=handle.read(),
                             capture_output=True, check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize('name', ['ebtables', 'iptables', 'ipset'])
def test_packages_installed(host, name):
    assert host.package(name).is_installed


def test_the_first_working_choice_is_the_system_ebtables(host, probe):
    working = [choice for choice in ('nft', 'legacy', 'nft_compat') if probe['works'][choice]]
    assert working, probe
    query = host.check_output('update-alternatives --query ebtables')
    assert 'Value: %s' % PATHS[working[0]] in query, query
    assert host.file('/usr/sbin/ebtables').linked_to == PATHS[working[0]]


def test_the_agents_rules_are_added_and_deleted(host):
    """Fails on a host the role has not prepared where ebtables-nft cannot delete an among rule by name."""
    result = in_new_netns(host, AGENT_STEPS)
    assert result.rc == 0, result.stdout + result.stderr


def test_a_failed_delete_still_fails(host):
    """The repair hides no error: a rule that is not there cannot be deleted."""
    result = in_new_netns(host, 'ebtables -t nat -N c1 && ebtables -t nat -D c1 -i tap9 --among-src '
                                'fa:16:3e:00:00:09 -j RETURN')
    assert result.rc != 0
    assert result.stderr


def test_listing_and_save_pass_through(host):
    result = in_new_netns(host, 'ebtables -t nat -N c1 && ebtables -t nat -L c1 && ebtables-save')
    assert result.rc == 0, result.stderr
    assert 'Bridge chain: c1' in result.stdout
    assert '*nat' in result.stdout


def test_bridge_netfilter_sysctls(host):
    # This machine's kernel has bridge netfilter (a kernel without it only gets a warning from the role).
    assert host.sysctl('net.bridge.bridge-nf-call-iptables') == 1
    content = host.file('/etc/sysctl.d/60-iaas-neutron.conf').content_string
    assert 'net.bridge.bridge-nf-call-iptables=1' in content
