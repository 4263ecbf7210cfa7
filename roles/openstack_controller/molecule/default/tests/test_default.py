# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller seen from inside its container (testinfra, podman backend) and from the host
through its APIs (openstacksdk, as a user or another role would reach it)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import urllib.request

import pytest
from openstack_checks import admin_connection, admin_password, container_address, secrets_dir

CONTAINER = 'iaas-ctl-controller'
NETWORK = 'iaas-ctl-net'

UNITS = [
    'mariadb.service', 'rabbitmq-server.service', 'memcached.service', 'keystone.service',
    'glance-api.service', 'placement-api.service', 'nova-api.service', 'nova-api-metadata.service',
    'nova-conductor.service', 'nova-scheduler.service', 'nova-novncproxy.service', 'neutron-api.service',
    'neutron-rpc-server.service', 'cinder-api.service', 'cinder-scheduler.service', 'apache2.service',
]
# Port and whether it listens on the controller address only (else on every address).
PORTS = {
    3306: True, 11211: True, 5672: False, 5000: False, 9292: False, 8778: False, 8774: False, 8775: False,
    6080: False, 9696: False, 8776: False, 80: False,
}


@pytest.fixture(scope='module')
def address():
    """The container's address on the scenario's network, as the host sees it."""
    return container_address(CONTAINER, NETWORK)


@pytest.fixture(scope='module')
def cloud():
    conn = admin_connection(CONTAINER, NETWORK)
    yield conn
    conn.close()


@pytest.mark.parametrize('unit', UNITS)
def test_service_running_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running
    assert service.is_enabled


@pytest.mark.parametrize('unit', ['nova-serialproxy.service', 'nova-spicehtml5proxy.service'])
def test_unused_console_proxies_stopped(host, unit):
    service = host.service(unit)
    assert not service.is_running
    assert not service.is_enabled


@pytest.mark.parametrize('port', sorted(PORTS))
def test_listening(host, address, port):
    if PORTS[port]:
        assert host.socket('tcp://%s:%d' % (address, port)).is_listening
        assert not host.socket('tcp://127.0.0.1:%d' % port).is_listening
    else:
        assert any(host.socket('tcp://%s:%d' % (a, port)).is_listening for a in ('0.0.0.0', '::', address))


def test_secrets_private():
    assert len(admin_password()) == 32
    for name in os.listdir(secrets_dir()):
        assert os.stat(os.path.join(secrets_dir(), name)).st_mode & 0o077 == 0, name


def test_no_policy_rc_left(host):
    assert not host.file('/usr/sbin/policy-rc.d').exists


def test_config_files_not_world_readable(host):
    for path in ('/etc/keystone/keystone.conf', '/etc/glance/glance-api.conf', '/etc/placement/placement.conf',
                 '/etc/nova/nova.conf', '/etc/neutron/neutron.conf', '/etc/cinder/cinder.conf'):
        assert host.file(path).mode & 0o007 == 0, path


def test_uwsgi_sized_down(host):
    lines = host.file('/etc/keystone/keystone-uwsgi.ini').content_string.splitlines()
    assert 'processes = 2' in lines and 'threads = 2' in lines


@pytest.mark.parametrize('ini', ['/etc/nova/nova-api-uwsgi.ini', '/etc/nova/nova-api-metadata-uwsgi.ini',
                                 '/etc/neutron/neutron-api-uwsgi.ini', '/etc/cinder/cinder-api-uwsgi.ini'])
def test_rpc_calling_apis_one_thread_per_process(host, ini):
    lines = host.file(ini).content_string.splitlines()
    assert 'processes = 2' in lines and 'threads = 1' in lines


@pytest.mark.parametrize('ini', ['/etc/keystone/keystone-uwsgi.ini', '/etc/placement/placement-api-uwsgi.ini',
                                 '/etc/nova/nova-api-uwsgi.ini', '/etc/nova/nova-api-metadata-uwsgi.ini',
                                 '/etc/neutron/neutron-api-uwsgi.ini', '/etc/cinder/cinder-api-uwsgi.ini'])
def test_uwsgi_apis_say_they_close_the_connection(host, ini):
    # uwsgi's http-socket ends every connection after its response; without the header a client reuses it
    # after a 204 and its next request is reset.
    assert 'add-header = Connection: close' in host.file(ini).content_string.splitlines()


def test_token(cloud):
    assert cloud.auth_token


def test_catalog(cloud):
    types = {s['type'] for s in cloud.identity.services()}
    assert {'identity', 'image', 'placement', 'compute', 'network', 'volumev3'} <= types
    endpoints = list(cloud.identity.endpoints())
    for kind in ('identity', 'image', 'placement', 'compute', 'network', 'volumev3'):
        service = [s for s in cloud.identity.services() if s['type'] == kind][0]
        interfaces = {e['interface'] for e in endpoints if e['service_id'] == service['id']}
        assert interfaces == {'public', 'internal', 'admin'}, kind


def test_service_users(cloud):
    project = cloud.identity.find_project('service', ignore_missing=False)
    admin = cloud.identity.find_role('admin', ignore_missing=False)
    for name in ('glance', 'placement', 'nova', 'neutron', 'cinder'):
        user = cloud.identity.find_user(name, ignore_missing=False)
        assignments = list(cloud.identity.role_assignments(user_id=user.id, scope_project_id=project.id))
        assert any(a['role']['id'] == admin.id for a in assignments), name


def test_image_api(cloud):
    assert isinstance(list(cloud.image.images()), list)


def test_placement_api(cloud):
    response = cloud.placement.get('/resource_providers')
    assert response.status_code == 200


def test_compute_api(cloud):
    assert isinstance(list(cloud.compute.servers()), list)
    assert isinstance(list(cloud.compute.flavors()), list)


def test_network_api(cloud):
    assert isinstance(list(cloud.network.networks()), list)
    assert 'router' in {e['alias'] for e in cloud.network.extensions()}


def test_volume_api(cloud):
    assert isinstance(list(cloud.block_storage.volumes()), list)


def test_horizon_login_page(address):
    with urllib.request.urlopen('http://%s/horizon/auth/login/' % address, timeout=30) as response:
        body = response.read().decode('utf-8', 'replace')
        assert response.status == 200
    assert '<form' in body
    assert 'name="password"' in body
