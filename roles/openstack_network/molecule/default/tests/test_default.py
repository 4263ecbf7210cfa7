# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network node seen from inside (testinfra, podman backend) and through the APIs (openstacksdk)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest
from openstack_checks import admin_connection, container_address, wait_for

NETWORK = 'iaas-net-network'
CONTROLLER = 'iaas-net-controller'
AGENTS = ['Linux bridge agent', 'L3 agent', 'DHCP agent', 'Metadata agent']


@pytest.fixture(scope='module')
def cloud():
    conn = admin_connection(CONTROLLER)
    yield conn
    conn.close()


@pytest.mark.parametrize('unit', ['neutron-linuxbridge-agent.service', 'neutron-l3-agent.service',
                                  'neutron-dhcp-agent.service', 'neutron-metadata-agent.service',
                                  'iaas-provider-interface.service'])
def test_service_running_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running or unit == 'iaas-provider-interface.service'
    assert service.is_enabled


def test_provider_interface_up(host):
    out = host.check_output('ip -o link show provider0')
    assert 'state DOWN' not in out


def test_provider_peer_stands_in_for_the_upstream_router(host):
    assert 'inet 203.0.113.1/24 ' in host.check_output('ip -o -4 addr show provider0-peer')
    assert host.check_output('ip -o -4 addr show dev provider0') == ''


def test_agent_configuration(host):
    lines = host.file('/etc/neutron/plugins/ml2/linuxbridge_agent.ini').content_string.splitlines()
    assert 'physical_interface_mappings = physnet1:provider0' in lines
    assert 'local_ip = %s' % container_address(NETWORK) in lines
    metadata = host.file('/etc/neutron/metadata_agent.ini')
    assert 'nova_metadata_host = %s' % container_address(CONTROLLER) in metadata.content_string.splitlines()
    assert metadata.mode == 0o640


@pytest.mark.parametrize('agent_type', AGENTS)
def test_agent_alive(cloud, agent_type):
    def alive():
        return [a for a in cloud.network.agents(host=NETWORK) if a.agent_type == agent_type and a.is_alive]
    wait_for(agent_type, alive)


def test_router_and_dhcp_namespaces(host, cloud):
    """A tenant network with a subnet and a router: the DHCP and L3 agents build their namespaces."""
    net = cloud.network.create_network(name='iaas-net-test')
    try:
        subnet = cloud.network.create_subnet(network_id=net.id, ip_version=4, cidr='10.99.0.0/24',
                                             name='iaas-net-test')
        router = cloud.network.create_router(name='iaas-net-test')
        cloud.network.add_interface_to_router(router, subnet_id=subnet.id)
        try:
            wait_for('the DHCP namespace', lambda: 'qdhcp-%s' % net.id in host.check_output('ip netns list'))
            wait_for('the router namespace', lambda: 'qrouter-%s' % router.id in host.check_output('ip netns list'))
            wait_for('the router port up', lambda: [
                p for p in cloud.network.ports(device_id=router.id) if p.status == 'ACTIVE'])
        finally:
            cloud.network.remove_interface_from_router(router, subnet_id=subnet.id)
            cloud.network.delete_router(router)
    finally:
        cloud.network.delete_network(net)
