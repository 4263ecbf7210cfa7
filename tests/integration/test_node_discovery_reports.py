# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_discovery ingesting hardware reports from the receiver's spool."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import yaml

from ansible_runner import run_module

from ansible_collections.datacenter.iaas.plugins.module_utils import reports


def report(serial, macs, disks=1, memory_mb=1024):
    return reports.validate({
        'version': 1, 'kind': 'discover', 'boot_mac': macs[0],
        'system': {'vendor': 'QEMU', 'model': 'Standard PC', 'serial': serial},
        'cpus': 2, 'cpu_model': 'QEMU Virtual CPU', 'memory_mb': memory_mb,
        'disks': [{'name': 'vd%s' % chr(97 + i), 'size_gb': 8 + i, 'rotational': True} for i in range(disks)],
        'nics': [{'name': 'eth%d' % i, 'mac': mac, 'link': True} for i, mac in enumerate(macs)],
        'lldp': [],
    })


def test_reports_fill_hardware_enroll_unknown_and_leave_the_spool(tmp_path):
    spool = tmp_path / 'reports'
    spool.mkdir()
    registry = str(tmp_path / 'registry.yml')
    with open(registry, 'w') as handle:
        yaml.safe_dump({'version': 1, 'nodes': {'rack1-u01': {
            'state': 'enrolled', 'bmc': {'address': '127.0.0.1', 'port': 623, 'protocol': 'ipmi', 'credential': 'default'},
            'hardware': {'serial': 'LAB-0001'}}}}, handle)
    known = reports.spool_write(str(spool), report('LAB-0001', ['52:54:00:1a:01:01']))
    unknown = reports.spool_write(str(spool), report('LAB-0002', ['52:54:00:1a:02:01'], disks=3))
    (spool / ('%s.json' % ('0' * 64))).write_text('{"version": 1, "kind": "discover", "system": {"serial": "../../etc"}}')

    args = {'registry': registry, 'reports': str(spool),
            'report_rules': [{'role': 'storage', 'when': {'min_disks': 3}}, {'role': 'compute'}]}
    checked = run_module('node_discovery', args, check=True)
    assert checked.changed and sorted(os.listdir(str(spool))) == sorted([known, unknown, '0' * 64 + '.json'])

    result = run_module('node_discovery', args)
    assert not result.failed, result
    assert result.changed
    assert result['reports']['matched'] == ['rack1-u01']
    assert result['reports']['enrolled'] == ['node-lab-0002']
    assert list(result['reports']['refused']) == ['0' * 64 + '.json']
    assert any('refused' in warning for warning in result.get('warnings', []))
    with open(registry) as handle:
        nodes = yaml.safe_load(handle)['nodes']
    assert nodes['rack1-u01']['state'] == 'manageable'
    assert nodes['rack1-u01']['hardware']['memory_mb'] == 1024
    assert nodes['rack1-u01']['provisioning']['mac'] == '52:54:00:1a:01:01'
    assert nodes['rack1-u01']['role'] == 'compute'
    assert nodes['node-lab-0002']['role'] == 'storage'
    assert len(nodes['node-lab-0002']['hardware']['disks']) == 3
    assert sorted(os.listdir(str(spool / 'done'))) == sorted([known, unknown])
    assert os.listdir(str(spool / 'refused')) == ['0' * 64 + '.json']

    again = run_module('node_discovery', args)
    assert not again.failed and not again.changed
