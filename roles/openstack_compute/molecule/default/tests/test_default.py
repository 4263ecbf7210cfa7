# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compute node seen from inside (testinfra, podman backend) and through the APIs (openstacksdk)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest
from openstack_checks import admin_connection, container_address, wait_for

COMPUTE = 'iaas-cmp-compute'
CONTROLLER = 'iaas-cmp-controller'


@pytest.fixture(scope='module')
def cloud():
    conn = admin_connection(CONTROLLER)
    yield conn
    conn.close()


@pytest.mark.parametrize('unit', ['libvirtd.service', 'nova-compute.service', 'neutron-linuxbridge-agent.service'])
def test_service_running_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running
    assert service.is_enabled


def test_virt_type_from_the_fact(host):
    conf = host.file('/etc/nova/nova-compute.conf')
    assert 'virt_type = qemu' in conf.content_string.splitlines()
    assert conf.group == 'nova'


def test_secrets_not_world_readable(host):
    for path in ('/etc/nova/nova.conf', '/etc/neutron/neutron.conf'):
        conf = host.file(path)
        assert conf.mode == 0o640
        assert conf.user == 'root'


def test_nova_conf(host):
    lines = host.file('/etc/nova/nova.conf').content_string.splitlines()
    address = container_address(COMPUTE)
    assert 'my_ip = %s' % address in lines
    assert 'server_proxyclient_address = %s' % address in lines
    assert 'novncproxy_base_url = http://%s:6080/vnc_auto.html' % container_address(CONTROLLER) in lines


def test_no_policy_rc_left_behind(host):
    assert not host.file('/usr/sbin/policy-rc.d').exists


def test_compute_service_up(cloud):
    def up():
        return [s for s in cloud.compute.services()
                if s.binary == 'nova-compute' and s.host == COMPUTE and s.state == 'up' and s.status == 'enabled']
    wait_for('nova-compute up', up)


def test_hypervisor_listed(cloud):
    def listed():
        return [h for h in cloud.compute.hypervisors(details=True)
                if h.name.startswith(COMPUTE) and h.state == 'up']
    hypervisors = wait_for('the hypervisor', listed)
    assert hypervisors[0].hypervisor_type == 'QEMU'


def test_linuxbridge_agent_alive(cloud):
    def alive():
        return [a for a in cloud.network.agents(host=COMPUTE)
                if a.agent_type == 'Linux bridge agent' and a.is_alive]
    wait_for('the Linux bridge agent', alive)


def test_boot_instance(cloud):
    """A server on a tenant VXLAN network goes ACTIVE on this node (QEMU/TCG). The image is 1 MiB of
    zeros (no image can be downloaded here): the guest finds nothing to boot, but nova, libvirt, the
    port binding and the vif-plugged event from the Linux bridge agent are all exercised."""
    image = cloud.image.create_image(name='iaas-cmp-test', disk_format='raw', container_format='bare',
                                     data=b'\0' * 1048576, allow_duplicates=True)
    flavor = cloud.compute.create_flavor(name='iaas-cmp-test', ram=64, vcpus=1, disk=1)
    net = cloud.network.create_network(name='iaas-cmp-test')
    server = None
    try:
        cloud.network.create_subnet(network_id=net.id, ip_version=4, cidr='10.98.0.0/24', name='iaas-cmp-test')
        server = cloud.compute.create_server(name='iaas-cmp-test', image_id=image.id, flavor_id=flavor.id,
                                             networks=[{'uuid': net.id}])
        server = cloud.compute.wait_for_server(server, status='ACTIVE', failures=['ERROR'], wait=300)
        assert server.hypervisor_hostname.startswith(COMPUTE) or server.compute_host == COMPUTE
    finally:
        if server is not None:
            cloud.compute.delete_server(server)
            cloud.compute.wait_for_delete(server, wait=120)
        cloud.network.delete_network(net)
        cloud.compute.delete_flavor(flavor)
        cloud.image.delete_image(image)
