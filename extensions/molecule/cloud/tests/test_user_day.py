"""The cloud as its users use it, after the first-instance checks of test_cloud.py: servers booted and deleted
over and over and some at once, a port and a security group changed on a running server, a reboot, a config
drive, twenty volumes at once, two clients on every API at the same time; and at the end every agent alive.

Each check bounds its waits (a server that stays in BUILD fails it) and cleans up after itself.
"""
import concurrent.futures
import time

import openstack.exceptions
import pytest
from api_load import Load, public_endpoints
from openstack_checks import podman_exec, wait_for

IMAGE, FLAVOR, NETWORK = 'lab-instance', 'm1.nano', 'private'
COMPUTE = 'iaas-cloud-compute'
ACTIVE_WITHIN = 120    # seconds from the create call (measured: about 7 s on TCG)
DELETED_WITHIN = 120


def _boot(cloud, name, **extra):
    image = cloud.image.find_image(IMAGE, ignore_missing=False)
    flavor = cloud.compute.find_flavor(FLAVOR, ignore_missing=False)
    network = cloud.network.find_network(NETWORK, ignore_missing=False)
    return cloud.compute.create_server(name=name, image_id=image.id, flavor_id=flavor.id,
                                       networks=[{'uuid': network.id}], **extra)


def _active(cloud, server):
    """Wait for ACTIVE within the bound; the seconds it took from now. A fault is named."""
    started = time.monotonic()
    try:
        cloud.compute.wait_for_server(server, status='ACTIVE', failures=['ERROR'], interval=1, wait=ACTIVE_WITHIN)
    except openstack.exceptions.SDKException as exc:
        found = cloud.compute.get_server(server.id)
        raise AssertionError('%s is %s/%s after %d s: %s (%s)' % (
            found.name, found.status, found.task_state, ACTIVE_WITHIN, exc, (found.fault or {}).get('message')))
    return time.monotonic() - started


def _delete(cloud, servers):
    for server in servers:
        cloud.compute.delete_server(server, ignore_missing=True)
    for server in servers:
        cloud.compute.wait_for_delete(server, interval=1, wait=DELETED_WITHIN)


def _boot_active(cloud, name, **extra):
    started = time.monotonic()
    server = _boot(cloud, name, **extra)
    _active(cloud, server)
    return cloud.compute.get_server(server.id), time.monotonic() - started


def _spoofing_chains():
    """The Linux bridge agent's anti-spoofing chains on the compute node (one pair per wired port)."""
    listing = podman_exec(COMPUTE, 'ebtables', '-t', 'nat', '-L')
    return [line.split()[2].rstrip(',') for line in listing.splitlines()
            if line.startswith('Bridge chain: neutron')]


def test_ten_servers_booted_and_deleted_in_a_row(cloud):
    """Before the ebtables fix, the second server stayed in BUILD: the agent could not delete the first's rules."""
    timings = []
    for number in range(10):
        server, seconds = _boot_active(cloud, 'iaas-day-row-%d' % number)
        started = time.monotonic()
        _delete(cloud, [server])
        timings.append((round(seconds, 1), round(time.monotonic() - started, 1)))
    print('ACTIVE / deleted, seconds:', timings)
    # Every deleted port's chains go too.
    wait_for('no anti-spoofing chains left on %s' % COMPUTE, lambda: not _spoofing_chains(), 60)


def test_four_servers_at_once(cloud):
    servers = [_boot(cloud, 'iaas-day-once-%d' % number) for number in range(4)]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
            seconds = list(pool.map(lambda server: _active(cloud, server), servers))
        print('ACTIVE after, seconds:', [round(value, 1) for value in seconds])
    finally:
        _delete(cloud, servers)


def test_port_security_group_and_reboot_on_a_running_server(cloud):
    """A port updated (its allowed address pairs: the agent rewrites its MAC rules), a security group added
    and removed, a hard reboot; then the agent still wires a new server's port."""
    server = _boot_active(cloud, 'iaas-day-changes')[0]
    group = cloud.network.create_security_group(name='iaas-day-group')
    servers = [server]
    try:
        port = next(cloud.network.ports(device_id=server.id))
        pair = {'ip_address': '10.0.0.250', 'mac_address': 'fa:16:3e:00:00:fe'}
        cloud.network.update_port(port, allowed_address_pairs=[pair])
        cloud.network.create_security_group_rule(security_group_id=group.id, direction='ingress', protocol='tcp',
                                                 port_range_min=8080, port_range_max=8080)
        cloud.compute.add_security_group_to_server(server, group)
        wait_for('the port in the new group', lambda: group.id in cloud.network.get_port(port.id).security_group_ids)
        cloud.compute.remove_security_group_from_server(server, group)
        wait_for('the port out of the new group',
                 lambda: group.id not in cloud.network.get_port(port.id).security_group_ids)
        cloud.network.update_port(port, allowed_address_pairs=[])
        wait_for('the port ACTIVE after its changes', lambda: cloud.network.get_port(port.id).status == 'ACTIVE')
        cloud.compute.reboot_server(server, 'HARD')
        wait_for('the reboot under way', lambda: cloud.compute.get_server(server.id).status != 'ACTIVE', 30, 0.5)
        _active(cloud, server)
        later, seconds = _boot_active(cloud, 'iaas-day-after-changes')
        servers.append(later)
        print('a new server ACTIVE %.1f s after the changes' % seconds)
    finally:
        _delete(cloud, servers)
        cloud.network.delete_security_group(group, ignore_missing=True)


def test_server_with_a_config_drive(cloud):
    """nova-compute builds the config drive with genisoimage: a server with one is ACTIVE, and its drive is an
    ISO 9660 image labelled config-2 (read on the compute node, not through nova)."""
    server = _boot_active(cloud, 'iaas-day-config-drive', config_drive=True)[0]
    try:
        assert server.has_config_drive
        path = '/var/lib/nova/instances/%s/disk.config' % server.id
        # ISO 9660: the primary volume descriptor at 32768 says CD001; its volume label at 32808.
        label = podman_exec(COMPUTE, 'python3', '-c', 'f = open(%r, "rb"); f.seek(32768); d = f.read(72); '
                            'print(d[1:6].decode(), d[40:72].decode().strip())' % path).split()
        assert label == ['CD001', 'config-2'], label
        assert path in podman_exec(COMPUTE, 'virsh', '-c', 'qemu:///system', 'dumpxml', server.instance_name)
    finally:
        _delete(cloud, [server])


def test_twenty_volumes_at_once(cloud):
    """The lab's volume group holds them (4 GB refused the fourth); the project's quota (10) is raised first."""
    project = cloud.current_project_id
    quota = cloud.get_volume_quotas(project)
    cloud.set_volume_quotas(project, volumes=25)
    volumes = []
    try:
        for number in range(20):
            volumes.append(cloud.block_storage.create_volume(size=1, name='iaas-day-volume-%d' % number))
        for volume in volumes:
            cloud.block_storage.wait_for_status(volume, status='available', failures=['error'], interval=1, wait=300)
    finally:
        for volume in volumes:
            cloud.block_storage.delete_volume(volume, ignore_missing=True)
        for volume in volumes:
            cloud.block_storage.wait_for_delete(volume, interval=1, wait=300)
        cloud.set_volume_quotas(project, volumes=quota['volumes'])


def test_two_clients_on_every_api_see_no_reset(cloud):
    """Two clients, one kept-alive connection per API each, back to back for a minute: no connection error."""
    load = Load(public_endpoints(cloud), cloud.auth_token)
    counts = load.run(clients=2, seconds=60, write_every=5)
    print(counts)
    assert not load.failures, '%d failed requests, first ones: %s' % (len(load.failures), load.failures[:10])
    for api, count in counts.items():
        assert count.get('read', 0) > 20 and count.get('create', 0) > 0, (api, count)


def test_keystone_refuses_a_short_password(cloud):
    with pytest.raises(openstack.exceptions.BadRequestException) as refused:
        cloud.identity.create_user(name='iaas-day-short', password='short-pw', domain_id='default')
    assert 'at least 12 characters' in str(refused.value)
    user = cloud.identity.create_user(name='iaas-day-long', password='a-long-enough-password', domain_id='default')
    cloud.identity.delete_user(user)


def test_agents_and_compute_alive_at_the_end(cloud):
    def alive():
        agents = list(cloud.network.agents())
        return agents if agents and all(agent.is_alive for agent in agents) else None
    wait_for('every neutron agent alive', alive, 120)
    assert [s.state for s in cloud.compute.services() if s.binary == 'nova-compute'] == ['up']
    assert not [s for s in cloud.compute.servers() if s.name.startswith('iaas-day-')]
