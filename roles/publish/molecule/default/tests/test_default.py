# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the publish role made, read back through the APIs (openstacksdk from the host), and the users'
clouds.yaml it wrote. The values are the role's defaults (roles/publish/defaults/main.yml)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import openstack
import pytest
from openstack_checks import admin_connection

CONTROLLER = 'iaas-pub-controller'
CLOUDS_YAML = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'users', 'clouds.yaml')


@pytest.fixture(scope='module')
def cloud():
    conn = admin_connection(CONTROLLER)
    yield conn
    conn.close()


def test_external_network_and_pool(cloud):
    public = cloud.network.find_network('public', ignore_missing=False)
    assert public.is_router_external
    assert not public.is_shared
    assert (public.provider_network_type, public.provider_physical_network) == ('flat', 'physnet1')
    subnet = cloud.network.find_subnet('public-subnet', ignore_missing=False)
    assert subnet.network_id == public.id
    assert (subnet.cidr, subnet.gateway_ip, subnet.is_dhcp_enabled) == ('203.0.113.0/24', '203.0.113.1', False)
    assert subnet.allocation_pools == [{'start': '203.0.113.100', 'end': '203.0.113.200'}]


def test_tenant_network_routed_to_the_external_one(cloud):
    public = cloud.network.find_network('public', ignore_missing=False)
    private = cloud.network.find_network('private', ignore_missing=False)
    assert not private.is_router_external
    subnet = cloud.network.find_subnet('private-subnet', ignore_missing=False)
    assert subnet.cidr == '10.10.0.0/24'
    router = cloud.network.find_router('router1', ignore_missing=False)
    assert router.external_gateway_info['network_id'] == public.id
    interfaces = [port for port in cloud.network.ports(device_id=router.id)
                  if port.device_owner == 'network:router_interface']
    assert [ip['subnet_id'] for port in interfaces for ip in port.fixed_ips] == [subnet.id]


def test_floating_ip_allocated_to_admin(cloud):
    public = cloud.network.find_network('public', ignore_missing=False)
    ips = list(cloud.network.ips(floating_network_id=public.id))
    assert [ip.floating_ip_address for ip in ips] == ['203.0.113.100']
    assert ips[0].project_id == cloud.current_project_id


def test_security_group_rules(cloud):
    group = next(cloud.network.security_groups(name='default', project_id=cloud.current_project_id))
    ingress = {(rule.protocol, rule.port_range_min, rule.port_range_max, rule.remote_ip_prefix)
               for rule in cloud.network.security_group_rules(security_group_id=group.id, direction='ingress',
                                                              ethertype='IPv4')}
    assert ('icmp', None, None, '0.0.0.0/0') in ingress
    assert ('tcp', 22, 22, '0.0.0.0/0') in ingress


@pytest.mark.parametrize('name,vcpus,ram,disk', [('m1.nano', 1, 128, 1), ('m1.tiny', 1, 512, 1),
                                                 ('m1.small', 1, 2048, 20)])
def test_flavor(cloud, name, vcpus, ram, disk):
    flavor = cloud.compute.find_flavor(name, ignore_missing=False)
    assert (flavor.vcpus, flavor.ram, flavor.disk, flavor.is_public) == (vcpus, ram, disk, True)


def test_image_uploaded(cloud):
    image = cloud.image.find_image('iaas-pub-image', ignore_missing=False)
    assert (image.status, image.visibility, image.disk_format, image.size) == ('active', 'public', 'raw', 1048576)
    assert image.os_distro == 'none'


def test_clouds_yaml_private_and_working():
    assert os.stat(CLOUDS_YAML).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(CLOUDS_YAML)).st_mode & 0o777 == 0o700
    region = openstack.config.OpenStackConfig(config_files=[CLOUDS_YAML]).get_one(cloud='iaas')
    conn = openstack.connection.Connection(config=region)
    try:
        assert conn.authorize()
        assert conn.network.find_network('public') is not None
    finally:
        conn.close()
