# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the QEMU lab's fleet from the registry and compare it with lab/machines.yml.

    python lab/qemu_fleet_table.py REGISTRY [--machines lab/machines.yml] [--count N] [--reports SPOOL]

One row per registry node (name, state, role, serial, CPUs, memory, disks, MACs), then
OK or MISMATCH per lab machine: the registry node with the machine's serial must be
manageable and hold its vendor, model, UUID, CPUs, memory (the kernel's MemTotal, 80 to
100 % of the configured size), disks (size in GB or GiB, serial) and MACs. With
``--reports``, the LLDP neighbours in each machine's discover report (the spool and its
``done/``) must be the ones the lab switch showed its NICs (Lab.lldp_neighbours). Exits 1
on any mismatch.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import glob
import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lab.qemu import MACHINES_FILE, Lab, load_machines  # noqa: E402


def gib_match(reported, gib):
    """A reported size in GB or GiB (rounded either way) against a size defined in GiB."""
    return any(abs(float(reported) - value) <= max(0.06, value * 0.01) for value in (gib, gib * 1.073741824))


def differences(node, machine):
    """What the registry node says differently from the machine definition (empty: all agree)."""
    hardware = node.get('hardware') or {}
    problems = []
    if node.get('state') != 'manageable':
        problems.append('state %s' % node.get('state'))
    for key, want in (('vendor', machine['vendor']), ('model', machine['product'])):
        if hardware.get(key) != want:
            problems.append('%s %r != %r' % (key, hardware.get(key), want))
    if str(hardware.get('uuid', '')).lower() != machine['uuid']:
        problems.append('uuid %s' % hardware.get('uuid'))
    if hardware.get('cpus') != machine['cpus']:
        problems.append('cpus %s != %s' % (hardware.get('cpus'), machine['cpus']))
    memory = hardware.get('memory_mb') or 0
    if not machine['memory_mb'] * 0.8 <= memory <= machine['memory_mb']:
        problems.append('memory_mb %s vs %s' % (memory, machine['memory_mb']))
    disks = sorted(hardware.get('disks') or [], key=lambda disk: disk.get('name', ''))
    if len(disks) != len(machine['disks']):
        problems.append('%d disks != %d' % (len(disks), len(machine['disks'])))
    else:
        for disk, defined in zip(disks, machine['disks']):
            if not gib_match(disk.get('size_gb', 0), defined['size_gb']) or disk.get('serial') != defined['serial']:
                problems.append('disk %s %s GB %s vs %d GiB %s'
                                % (disk.get('name'), disk.get('size_gb'), disk.get('serial'), defined['size_gb'], defined['serial']))
    macs = sorted(str(nic.get('mac', '')).lower() for nic in hardware.get('nics') or [])
    if macs != sorted(nic['mac'] for nic in machine['nics']):
        problems.append('MACs %s' % ','.join(macs))
    pxe = [str(nic['mac']).lower() for nic in hardware.get('nics') or [] if nic.get('pxe')]
    if pxe != [machine['nics'][0]['mac']]:
        problems.append('PXE MAC %s' % ','.join(pxe))
    return problems


def lldp_differences(spool, machines):
    """{machine name: problems} between the reported LLDP neighbours and what the lab switch sent."""
    lab = Lab(machines, lock=False)   # only for the names of the taps: nothing starts
    reports = {}
    for path in glob.glob(os.path.join(spool, '*.json')) + glob.glob(os.path.join(spool, 'done', '*.json')):
        with open(path) as handle:
            report = json.load(handle)
        if report.get('kind') == 'discover':
            reports[report['boot_mac']] = report
    out = {}
    for machine in machines:
        report = reports.get(machine['nics'][0]['mac'])
        if report is None:
            out[machine['name']] = ['no discover report']
            continue
        mac_of = dict((nic['name'], nic['mac']) for nic in report['nics'])
        seen = dict((mac_of.get(entry['interface']), dict((k, v) for k, v in entry.items() if k != 'interface'))
                    for entry in report.get('lldp') or [])
        want = lab.lldp_neighbours(machine['name'])
        out[machine['name']] = ['%s: %s, expected %s' % (mac, seen.get(mac), want.get(mac))
                                for mac in sorted(set(seen) | set(want)) if seen.get(mac) != want.get(mac)]
        for entry in report.get('lldp') or []:
            print('%-9s %-5s -> %s port %s (%s)' % (
                machine['name'], entry['interface'], entry.get('system_name'), entry.get('port_id'),
                entry.get('port_description')))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('registry')
    parser.add_argument('--machines', default=MACHINES_FILE)
    parser.add_argument('--count', type=int, help='only the first N machines are in the lab')
    parser.add_argument('--reports', help="the receiver's spool: check the LLDP neighbours of the discover reports")
    args = parser.parse_args(argv)
    with open(args.registry) as handle:
        nodes = (yaml.safe_load(handle) or {}).get('nodes') or {}
    machines = load_machines(args.machines)
    if args.count:
        machines = machines[:args.count]

    row = '%-15s %-11s %-8s %-9s %4s %9s  %-26s %s'
    print(row % ('node', 'state', 'role', 'serial', 'cpus', 'memory_mb', 'disks', 'MACs'))
    for name in sorted(nodes):
        node = nodes[name]
        hardware = node.get('hardware') or {}
        disks = ','.join('%s:%sG' % (d.get('name'), d.get('size_gb')) for d in hardware.get('disks') or []) or '-'
        macs = ','.join(('*' if n.get('pxe') else '') + str(n.get('mac')) for n in hardware.get('nics') or []) or '-'
        print(row % (name, node.get('state'), node.get('role') or '-', hardware.get('serial', '-'),
                     hardware.get('cpus', '-'), hardware.get('memory_mb', '-'), disks, macs))
    print('(* = the PXE NIC)\n')

    by_serial = dict(((node.get('hardware') or {}).get('serial'), name) for name, node in nodes.items())
    failed = 0
    for machine in machines:
        name = by_serial.get(machine['serial'])
        problems = differences(nodes[name], machine) if name else ['no registry node with serial %s' % machine['serial']]
        failed += bool(problems)
        print('%-9s -> %-15s %s' % (machine['name'], name or '-', 'MISMATCH: ' + '; '.join(problems) if problems else 'OK'))
    print('%d of %d lab machines match lab/machines.yml' % (len(machines) - failed, len(machines)))
    if args.reports:
        print('\nLLDP neighbours reported:')
        lldp = lldp_differences(args.reports, machines)
        bad = [name for name in sorted(lldp) if lldp[name]]
        for name in bad:
            print('%-9s LLDP MISMATCH: %s' % (name, '; '.join(lldp[name])))
        print('%d of %d lab machines report the neighbours the lab switch sent' % (len(machines) - len(bad), len(machines)))
        failed += len(bad)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
