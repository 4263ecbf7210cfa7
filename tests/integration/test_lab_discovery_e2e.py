# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hardware discovery on the QEMU lab with the collection's own modules, end to end.

Runs the demo's QEMU part (lab/demo_qemu.sh): an empty registry, a BMC sweep of the
lab's QMP-driven IPMI BMCs, pxe_config's discovery boot, a one-shot PXE power-on
with bmc_power, the ramdisk's reports ingested by node_discovery with role rules.
The script compares every node with the VM definitions in lab/machines.yml
(MACs, PXE NIC, CPUs, memory, disk sizes and serials) and every report's LLDP
neighbours with what the lab switch sent, and fails on any mismatch.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

import pytest
import yaml

from ansible_runner import ROOT


@pytest.mark.slow
def test_empty_registry_to_manageable_nodes_matching_the_vms():
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.run(['bash', os.path.join(ROOT, 'lab', 'demo_qemu.sh')], env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert '3 of 3 lab machines match lab/machines.yml' in output, output[-3000:]
    assert '3 of 3 lab machines report the neighbours the lab switch sent' in output, output[-3000:]
    assert '@state_manageable:' in output, output[-3000:]        # the inventory graph closes the demo
    with open(os.path.join(ROOT, '.build', 'demo', 'qemu-registry.yml')) as handle:
        nodes = yaml.safe_load(handle)['nodes']
    assert sorted(node['hardware']['serial'] for node in nodes.values()) == ['LAB-0001', 'LAB-0002', 'LAB-0003']
    assert all(node['state'] == 'manageable' and node['role'] in ('compute', 'storage') for node in nodes.values())
