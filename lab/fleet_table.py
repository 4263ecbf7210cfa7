# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the demo's fleet: each registry node beside what its simulated BMC holds."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import sys

import yaml


def main(registry_path, farm_path):
    with open(registry_path) as handle:
        nodes = yaml.safe_load(handle)['nodes']
    with open(farm_path) as handle:
        farm = dict((bmc['address'], bmc) for bmc in json.load(handle)['bmcs'])
    row = '%-16s %-11s %-10s %-9s %-10s %-8s %s'
    print(row % ('node', 'state', 'role', 'vendor', 'serial', 'bmc', 'address'))
    for name in sorted(nodes):
        node = nodes[name]
        hardware = node.get('hardware') or {}
        address = node['bmc']['address']
        print(row % (name, node['state'], node.get('role') or '-', hardware.get('vendor', '-'),
                     hardware.get('serial', '-'), 'lab' if address in farm else '?', address))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
