# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A user's first instance on the lab's cloud: boot the published instance image (lab/instance), wait for
the line its init prints on the console, give it the published floating IP, and reach that address from the
network node's side of the provider network (lab/reach.py, where the lab's stand-in upstream router is).

Used by the cloud scenario's verifier and by `make demo`.
CLI: ``python -m lab.cloud_instance CLOUDS_YAML --via NODE [--cloud iaas]`` prints the steps and timings as
JSON; exits non-zero when the instance cannot be reached.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import subprocess
import sys
import time

import openstack.config
import openstack.connection
import openstack.exceptions

CONSOLE_PREFIX = 'IAAS-INSTANCE '
REACH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'reach.py')


class Unreachable(Exception):
    """The instance did not come up, or could not be reached; the message says which step failed."""


def console_line(conn, server):
    """The instance's report line from nova's console log, or None before the guest printed it."""
    output = conn.compute.get_server_console_output(server)['output'] or ''
    return next((line.strip() for line in output.splitlines() if line.startswith(CONSOLE_PREFIX)), None)


def reach(node, address, timeout):
    """Run lab/reach.py on the podman container ``node``: its JSON answer, and whether both ping and HTTP worked."""
    with open(REACH, 'rb') as probe:
        proc = subprocess.run(['podman', 'exec', '-i', node, 'python3', '-', address, '--timeout', str(timeout)],
                              input=probe.read(), capture_output=True, check=False)
    try:
        answer = json.loads(proc.stdout.decode('utf-8', 'replace'))
    except ValueError:
        raise Unreachable('reach.py on %s printed no JSON (rc %d): %s' % (node, proc.returncode,
                                                                          proc.stderr.decode('utf-8', 'replace')))
    return answer, proc.returncode == 0


def boot_and_reach(conn, via, image='lab-instance', flavor='m1.nano', network='private',
                   floating_ip='203.0.113.100', name='iaas-instance', boot_timeout=240, reach_timeout=90):
    """Boot an instance, check what it reports, reach it through ``floating_ip`` from container ``via``.

    Returns a dict: the server's id, fixed address, console line, the reach answer and seconds per step.
    Raises Unreachable naming the step that failed. In every case the floating IP is detached again and
    the server deleted.
    """
    result = {'seconds': {}}
    started = time.monotonic()

    def mark(step):
        result['seconds'][step] = round(time.monotonic() - started, 1)

    found = conn.image.find_image(image)
    if found is None or found.status != 'active':
        raise Unreachable('image %s is not published (active)' % image)
    floating = next(conn.network.ips(floating_ip_address=floating_ip), None)
    if floating is None:
        raise Unreachable('floating IP %s is not allocated' % floating_ip)
    server = conn.compute.create_server(name=name, image_id=found.id,
                                        flavor_id=conn.compute.find_flavor(flavor, ignore_missing=False).id,
                                        networks=[{'uuid': conn.network.find_network(network, ignore_missing=False).id}])
    try:
        try:
            server = conn.compute.wait_for_server(server, status='ACTIVE', failures=['ERROR'], wait=boot_timeout)
        except openstack.exceptions.SDKException as exc:
            fault = (conn.compute.get_server(server.id).fault or {}).get('message', 'no fault recorded')
            raise Unreachable('the instance did not become ACTIVE: %s (%s)' % (exc, fault))
        mark('active')
        result.update(id=server.id, host=server.hypervisor_hostname, fixed_ip=server.addresses[network][0]['addr'])
        deadline = time.monotonic() + 180
        while not result.get('console'):
            if time.monotonic() > deadline:
                raise Unreachable('no report on the console of %s within 180 s' % server.id)
            time.sleep(2)
            result['console'] = console_line(conn, server)
        mark('console')
        # Console logs come from the compute node by an RPC call through nova-api: each of a few calls must
        # answer at once, on whichever API worker takes it.
        calls = []
        while len(calls) < 4:
            called = time.monotonic()
            console_line(conn, server)
            calls.append(time.monotonic() - called)
        result['seconds']['slowest_console_call'] = round(max(calls), 2)
        expected = '%sip=%s uuid=%s' % (CONSOLE_PREFIX, result['fixed_ip'], server.id)
        if result['console'] != expected:
            raise Unreachable('the instance reported %r, expected %r (DHCP or metadata failed)'
                              % (result['console'], expected))
        port = next(conn.network.ports(device_id=server.id))
        conn.network.update_ip(floating, port_id=port.id)
        result['reach'], ok = reach(via, floating_ip, reach_timeout)
        mark('reached')
        if not ok:
            raise Unreachable('%s did not answer from %s: %s' % (floating_ip, via, result['reach']))
        if (result['reach']['http_body'] or '').strip() != expected:
            raise Unreachable('%s answered HTTP with %r, expected %r'
                              % (floating_ip, result['reach']['http_body'], expected))
        return result
    finally:
        conn.network.update_ip(floating, port_id=None)
        conn.compute.delete_server(server, ignore_missing=True)
        conn.compute.wait_for_delete(server, wait=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('clouds_yaml')
    parser.add_argument('--cloud', default='iaas')
    parser.add_argument('--via', required=True, help='the podman container to reach the floating IP from')
    args = parser.parse_args()
    region = openstack.config.OpenStackConfig(config_files=[args.clouds_yaml]).get_one(cloud=args.cloud)
    conn = openstack.connection.Connection(config=region)
    try:
        print(json.dumps(boot_and_reach(conn, args.via), indent=2))
    except Unreachable as exc:
        print('!! %s' % exc, file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
