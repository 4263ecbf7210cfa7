"""The deployed cloud, seen from outside with openstacksdk (as a user would), plus a look inside the nodes.

Runs as Molecule's testinfra verifier of extensions/molecule/cloud; the containers are on a rootful podman
network the host reaches directly.
"""
import os
import urllib.request

import openstack
from openstack_checks import podman_exec, wait_for

from lab import cloud_instance

FLOATING_IP = '203.0.113.100'


def test_token_from_keystone(cloud):
    assert cloud.authorize()


def test_every_service_in_the_catalog_answers(cloud):
    catalog = {entry['type'] for entry in cloud.service_catalog}
    assert {'identity', 'image', 'placement', 'compute', 'network', 'volumev3'} <= catalog
    assert any(project.name == 'service' for project in cloud.identity.projects())
    list(cloud.image.images())
    list(cloud.placement.resource_providers())
    list(cloud.compute.servers())
    list(cloud.network.networks())
    list(cloud.block_storage.volumes())


def test_nova_compute_up_in_the_hypervisor_list(cloud):
    services = wait_for('nova-compute up', lambda: [
        s for s in cloud.compute.services() if s.binary == 'nova-compute' and s.state == 'up'], 120)
    assert [s.host for s in services] == ['iaas-cloud-compute']
    hypervisors = [h.name for h in cloud.compute.hypervisors()]
    assert any(name.startswith('iaas-cloud-compute') for name in hypervisors), hypervisors


def test_neutron_agents_alive(cloud):
    def alive():
        agents = list(cloud.network.agents())
        return agents if agents and all(agent.is_alive for agent in agents) else None
    agents = wait_for('every neutron agent alive', alive, 120)
    kinds = {(agent.agent_type, agent.host) for agent in agents}
    for kind in ('L3 agent', 'DHCP agent', 'Metadata agent', 'Linux bridge agent'):
        assert (kind, 'iaas-cloud-network') in kinds, kinds
    assert ('Linux bridge agent', 'iaas-cloud-compute') in kinds, kinds


def test_volume_created_on_the_storage_node(cloud):
    volume = cloud.block_storage.create_volume(size=1, name='iaas-verify')
    try:
        volume = cloud.block_storage.wait_for_status(volume, status='available', failures=['error'], wait=180)
        assert volume.host.startswith('iaas-cloud-storage@'), volume.host
        assert 'volume-' + volume.id in podman_exec('iaas-cloud-storage', 'lvs', '--noheadings', '-o', 'lv_name')
    finally:
        cloud.block_storage.delete_volume(volume, ignore_missing=True)
        cloud.block_storage.wait_for_delete(volume, wait=120)


def test_published_network_router_and_floating_ip(cloud):
    public = cloud.network.find_network('public')
    assert public is not None and public.is_router_external
    assert cloud.network.find_network('private') is not None
    router = cloud.network.find_router('router1')
    assert router is not None and router.external_gateway_info['network_id'] == public.id
    addresses = [ip.floating_ip_address for ip in cloud.network.ips(floating_network_id=public.id)]
    assert FLOATING_IP in addresses
    assert {flavor.name for flavor in cloud.compute.flavors()} >= {'m1.nano', 'm1.tiny', 'm1.small'}


def test_instance_reached_through_its_floating_ip(cloud):
    """The stretch goal: an instance on the compute node (TCG) boots the published kernel and ramdisk
    (lab/instance/init), gets its address from Neutron's DHCP over VXLAN, reads its uuid from the metadata
    service through the router, and answers ping and HTTP on the published floating IP, reached from the
    network node's side of the provider network (the lab's stand-in for the upstream router)."""
    result = cloud_instance.boot_and_reach(cloud, via='iaas-cloud-network', floating_ip=FLOATING_IP)
    print(result)
    assert result['host'].startswith('iaas-cloud-compute')
    assert result['reach']['ping_ms'] is not None and result['reach']['http_status'] == 200
    assert result['seconds']['slowest_console_call'] < 10


def test_clouds_yaml_for_users():
    path = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'clouds.yaml')
    assert os.stat(path).st_mode & 0o777 == 0o600
    region = openstack.config.OpenStackConfig(config_files=[path]).get_one(cloud='iaas')
    conn = openstack.connection.Connection(config=region)
    assert conn.authorize()
    conn.close()


def test_horizon_login_page(controller):
    with urllib.request.urlopen('http://%s/horizon/auth/login/' % controller, timeout=30) as response:
        assert response.status == 200
        page = response.read().decode('utf-8', 'replace')
    assert 'name="password"' in page


def test_services_active_on_the_controller(host):
    for unit in ('mariadb', 'rabbitmq-server', 'memcached', 'keystone', 'glance-api', 'placement-api',
                 'nova-api', 'nova-conductor', 'nova-scheduler', 'neutron-api', 'cinder-scheduler'):
        assert host.service(unit).is_running, unit
