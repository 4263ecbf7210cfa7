# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab's cloud shows its users, through the clouds.yaml that the publish role wrote.

CLI: ``python -m lab.cloud_summary CLOUDS_YAML [--cloud iaas] [--expect-hypervisor HOST ...]`` prints the
endpoints, the hypervisors, the Neutron agents, the volume services and the published networks; exits
non-zero when a service is down, an agent is dead or an expected hypervisor is missing.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import sys

import openstack.config
import openstack.connection


def summary(conn, expect_hypervisors=()):
    """Lines describing the cloud, and the list of problems found."""
    lines, problems = [], []
    lines.append('endpoints (public):')
    for entry in sorted(conn.service_catalog, key=lambda item: item['type']):
        urls = [endpoint['url'] for endpoint in entry['endpoints'] if endpoint['interface'] == 'public']
        lines.append('  %-10s %s' % (entry['type'], ' '.join(urls)))
    lines.append('hypervisors:')
    for hypervisor in sorted(conn.compute.hypervisors(details=True), key=lambda item: item.name):
        lines.append('  %-24s %-5s %-8s %s' % (hypervisor.name, hypervisor.state, hypervisor.status,
                                               hypervisor.hypervisor_type))
        if hypervisor.state != 'up':
            problems.append('hypervisor %s is %s' % (hypervisor.name, hypervisor.state))
    names = [hypervisor.name.split('.')[0] for hypervisor in conn.compute.hypervisors()]
    problems += ['hypervisor %s is not listed' % host for host in expect_hypervisors if host not in names]
    lines.append('compute and volume services:')
    services = [(s.binary, s.host, s.state) for s in conn.compute.services()]
    services += [(s.binary, s.host, s.state) for s in conn.block_storage.services()]
    for binary, host, state in sorted(services):
        lines.append('  %-18s %-24s %s' % (binary, host, state))
        if state != 'up':
            problems.append('%s on %s is %s' % (binary, host, state))
    lines.append('network agents:')
    for agent in sorted(conn.network.agents(), key=lambda item: (item.agent_type, item.host)):
        lines.append('  %-20s %-24s %s' % (agent.agent_type, agent.host, 'alive' if agent.is_alive else 'DEAD'))
        if not agent.is_alive:
            problems.append('%s on %s is dead' % (agent.agent_type, agent.host))
    lines.append('networks:')
    for network in sorted(conn.network.networks(), key=lambda item: item.name):
        subnets = [conn.network.get_subnet(subnet_id).cidr for subnet_id in network.subnet_ids]
        lines.append('  %-10s %-9s %s' % (network.name, 'external' if network.is_router_external else '',
                                          ' '.join(subnets)))
    floating = [ip.floating_ip_address for ip in conn.network.ips()]
    lines.append('floating IPs: %s' % (' '.join(sorted(floating)) or '-'))
    lines.append('images: %s' % (' '.join(sorted(image.name for image in conn.image.images())) or '-'))
    lines.append('flavors: %s' % ' '.join(sorted(flavor.name for flavor in conn.compute.flavors())))
    return lines, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('clouds_yaml')
    parser.add_argument('--cloud', default='iaas')
    parser.add_argument('--expect-hypervisor', action='append', default=[], metavar='HOST',
                        help='fail unless nova lists this compute host (repeatable)')
    args = parser.parse_args()
    region = openstack.config.OpenStackConfig(config_files=[args.clouds_yaml]).get_one(cloud=args.cloud)
    conn = openstack.connection.Connection(config=region)
    lines, problems = summary(conn, args.expect_hypervisor)
    print('\n'.join(lines))
    for problem in problems:
        print('!! %s' % problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
