"""Fixtures of the cloud scenario's verifier: the controller's address and an admin connection."""
import pytest
from openstack_checks import admin_connection, container_address

NETWORK = 'iaas-cloud-net'


@pytest.fixture(scope='session')
def controller():
    return container_address('iaas-cloud-controller', NETWORK)


@pytest.fixture(scope='session')
def cloud():
    conn = admin_connection('iaas-cloud-controller', NETWORK)
    yield conn
    conn.close()
