# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the OpenStack scenarios' testinfra verifiers share: the podman containers' addresses, commands run in
them, polling for services that report in on their own schedule, and an admin connection through openstacksdk
from the host, as a user would reach the cloud.

Each scenario's ``verifier.env.PYTHONPATH`` names this folder (``tests/molecule``) and the repository root.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import time

import openstack


def container_address(name, network=None):
    """The container's IPv4 address on ``network`` (default: its only network), as the host reaches it."""
    out = subprocess.run(['podman', 'inspect', name], check=True, capture_output=True, text=True).stdout
    networks = json.loads(out)[0]['NetworkSettings']['Networks']
    return (networks[network] if network else next(iter(networks.values())))['IPAddress']


def podman_exec(name, *command):
    """Run a command in a container; its standard output (a failure raises CalledProcessError)."""
    return subprocess.run(['podman', 'exec', name] + list(command), check=True, capture_output=True,
                          text=True).stdout


def wait_for(what, predicate, timeout=180, step=2):
    """Poll ``predicate`` until it returns something truthy, and return that; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %d s waiting for %s' % (timeout, what))
        time.sleep(step)


def secrets_dir():
    """Where the scenario's generated secrets are (its group_vars point openstack_secrets_dir there)."""
    return os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'secrets')


def admin_password():
    with open(os.path.join(secrets_dir(), 'keystone_admin'), encoding='ascii') as handle:
        return handle.read().split()[0]


def admin_connection(controller, network=None):
    """An openstacksdk connection as the cloud's admin, to the controller container's public endpoints."""
    return openstack.connect(
        auth_url='http://%s:5000/v3' % container_address(controller, network), username='admin',
        password=admin_password(), project_name='admin', user_domain_name='Default',
        project_domain_name='Default', region_name='RegionOne', interface='public', api_timeout=60)
