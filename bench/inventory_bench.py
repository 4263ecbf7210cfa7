# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ansible-inventory --list`` over the hardware plugin vs. a static YAML inventory, side by side.

Generates a registry of N nodes with realistic nested hardware facts (several
disks and NICs each, roles, states, vendors, operator properties), and the
static YAML inventory that holds the same hosts, the same variables and the
same groups as the ``datacenter.iaas.hardware`` plugin makes of it. First
checks on a small fleet that both give the same ``--list`` JSON, then times
``ansible-inventory --list`` (output to /dev/null) on each and prints wall
time, CPU time, peak RSS and the plugin/static ratios.

    python bench/inventory_bench.py                 # 10,000 nodes
    python bench/inventory_bench.py --nodes 500     # a quick run
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
PREFIX = 'iaas_'
TARGET_TIME_RATIO = 0.3  # docs/DESIGN: at most 0.3x the time of the static YAML inventory
Dumper = getattr(yaml, 'CSafeDumper', yaml.SafeDumper)

VENDORS = {
    'Dell Inc.': ['PowerEdge R650', 'PowerEdge R750', 'PowerEdge R7525'],
    'HPE': ['ProLiant DL360 Gen10', 'ProLiant DL380 Gen10 Plus'],
    'Supermicro': ['SYS-1029U-TRT', 'AS-2124US-TNRP'],
    'Lenovo': ['ThinkSystem SR630 V2', 'ThinkSystem SR650'],
}
CPU_MODELS = ['Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz', 'Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz',
              'AMD EPYC 7543 32-Core Processor', 'AMD EPYC 7313 16-Core Processor']
# (state, weight): most of a real fleet is deployed.
STATES = [('active', 70), ('available', 10), ('manageable', 4), ('enrolled', 3), ('deploying', 3),
          ('maintenance', 4), ('failed', 2), ('retired', 4)]
ROLES = [('compute', 70), ('storage', 15), ('network', 6), ('controller', 3), (None, 6)]
IMAGES = ['debian-12', 'ubuntu-22.04', 'rocky-9']


def _pick(rng, weighted):
    return rng.choices([v for v, _w in weighted], [w for _v, w in weighted])[0]


def _mac(index, nic):
    value = (index << 3) | nic
    return '52:54:%02x:%02x:%02x:%02x' % ((value >> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff)


def make_registry(count, seed=7):
    """A registry document (dict) of ``count`` nodes, deterministic for a seed."""
    rng = random.Random(seed)
    nodes = {}
    for index in range(count):
        rack, unit = divmod(index, 40)
        name = 'r%03d-u%02d' % (rack + 1, unit + 1)
        vendor = rng.choice(sorted(VENDORS))
        role = _pick(rng, ROLES)
        nvme = rng.random() < 0.5
        disks = []
        for d in range(rng.randint(2, 6)):
            disks.append({'name': 'nvme%dn1' % d if nvme else 'sd' + 'abcdefgh'[d],
                          'size_gb': rng.choice([480, 960, 1920, 3840, 7680]),
                          'rotational': False if nvme else rng.random() < 0.4,
                          'serial': 'DSK%07d%d' % (index, d)})
        nics = [{'name': 'eno%d' % (n + 1) if n < 2 else 'ens%df%d' % (n, n % 2), 'mac': _mac(index, n), 'pxe': n == 0}
                for n in range(rng.randint(2, 4))]
        nodes[name] = {
            'state': _pick(rng, STATES),
            'role': role,
            'protected': role == 'controller' or rng.random() < 0.05,
            'bmc': {'address': '10.%d.%d.%d' % (100 + index // 62500, (index // 250) % 250, index % 250 + 1),
                    'port': 623, 'protocol': 'ipmi' if rng.random() < 0.8 else 'redfish',
                    'credential': 'default' if rng.random() < 0.9 else 'legacy'},
            'hardware': {'vendor': vendor, 'model': rng.choice(VENDORS[vendor]), 'serial': 'SN%08d' % index,
                         'uuid': '%08x-%04x-4%03x-8%03x-%012x' % (index, rack, unit, index % 4096, index),
                         'cpus': rng.choice([32, 48, 64, 96, 128]), 'cpu_model': rng.choice(CPU_MODELS),
                         'memory_mb': rng.choice([131072, 262144, 524288, 1048576]),
                         'disks': disks, 'nics': nics},
            'provisioning': {'mac': nics[0]['mac'],
                             'ip': '172.%d.%d.%d' % (16 + index // 62500, (index // 250) % 250, index % 250 + 1),
                             'hostname': '%s.dc1.example.net' % name,
                             'boot_mode': 'uefi' if rng.random() < 0.8 else 'bios', 'image': rng.choice(IMAGES)},
            'properties': {'room': 'dc1-hall%d' % (rack // 50 + 1), 'row': 'r%02d' % (rack // 10 + 1),
                           'rack': 'rack%03d' % (rack + 1), 'unit': unit + 1,
                           'asset_tag': 'AT-%06d' % index, 'pdu': 'pdu-%03d-%s' % (rack + 1, 'ab'[unit % 2]),
                           'warranty_until': '202%d-0%d-15' % (rng.randint(6, 9), rng.randint(1, 9))},
        }
    return {'version': 1, 'nodes': nodes}


def _vendor_group(vendor):
    return 'vendor_' + re.sub(r'[^a-z0-9]+', '_', vendor.lower()).strip('_')


def static_inventory(registry):
    """The static YAML inventory the plugin's defaults make of ``registry`` (credentials not exposed)."""
    hosts = {}
    # The plugin always makes the four role groups, empty or not.
    groups = dict(('role_' + role, {'hosts': {}}) for role, _weight in ROLES if role)
    for name in sorted(registry['nodes']):
        node = registry['nodes'][name]
        hostvars = {PREFIX + 'state': node['state'], PREFIX + 'role': node['role'], PREFIX + 'protected': node['protected']}
        for key in ('bmc', 'hardware', 'provisioning', 'properties'):
            hostvars[PREFIX + key] = node.get(key, {})
        if node.get('provisioning', {}).get('ip'):
            hostvars['ansible_host'] = node['provisioning']['ip']
        hosts[name] = hostvars
        names = ['state_' + node['state'], _vendor_group(node['hardware']['vendor'])]
        if node['role']:
            names.append('role_' + node['role'])
        for group in names:
            groups.setdefault(group, {'hosts': {}})['hosts'][name] = None
    return {'all': {'hosts': hosts, 'children': groups}}


def write_sources(workdir, registry):
    with open(os.path.join(workdir, 'registry.yml'), 'w') as handle:
        yaml.dump(registry, handle, Dumper=Dumper, default_flow_style=False, sort_keys=False)
    with open(os.path.join(workdir, 'bench.hardware.yml'), 'w') as handle:
        handle.write('plugin: datacenter.iaas.hardware\nregistry: registry.yml\n')
    with open(os.path.join(workdir, 'static.yml'), 'w') as handle:
        yaml.dump(static_inventory(registry), handle, Dumper=Dumper, default_flow_style=False)
    return os.path.join(workdir, 'bench.hardware.yml'), os.path.join(workdir, 'static.yml')


def env():
    result = dict(os.environ)
    result.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'),
                  ANSIBLE_INVENTORY_UNPARSED_FAILED='true', ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='true')
    return result


def inventory_cmd(source):
    return [os.path.join(BIN, 'ansible-inventory'), '-i', source, '--list']


def _plain(value):
    """JSON inventory data with untrusted-string markers removed and member lists sorted."""
    if isinstance(value, dict):
        if list(value) == ['__ansible_unsafe']:  # ansible-core 2.19 marks strings from plugins this way
            return value['__ansible_unsafe']
        return dict((key, sorted(item) if key in ('hosts', 'children') else _plain(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def listing(source):
    proc = subprocess.run(inventory_cmd(source), capture_output=True, text=True, env=env(), check=False)
    if proc.returncode:
        raise SystemExit('ansible-inventory -i %s failed:\n%s' % (source, proc.stderr))
    data = json.loads(proc.stdout)
    data['_meta'].pop('profile', None)
    return _plain(data)


def measure(source):
    """Wall seconds, CPU seconds and peak RSS (MiB) of ``ansible-inventory --list``, its output thrown away.

    os.wait4() gives the child's own resource usage, so no time(1) is needed. CPU time is shown too
    because wall time on a shared machine also counts other people's work.
    """
    with open(os.devnull, 'w') as sink, tempfile.TemporaryFile('w+') as errors:
        started = time.monotonic()
        proc = subprocess.Popen(inventory_cmd(source), stdout=sink, stderr=errors, env=env())
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            errors.seek(0)
            raise SystemExit('ansible-inventory -i %s failed:\n%s' % (source, errors.read()))
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def check_equivalent(workdir, count):
    """Both routes must list the same inventory, or the timing compares different work."""
    small = os.path.join(workdir, 'check')
    os.makedirs(small, exist_ok=True)
    plugin, static = write_sources(small, make_registry(count, seed=11))
    got, want = listing(plugin), listing(static)
    if got != want:
        for key in sorted(set(got) | set(want)):
            if got.get(key) != want.get(key):
                raise SystemExit('plugin and static inventories differ at %r:\nplugin %s\nstatic %s'
                                 % (key, json.dumps(got.get(key))[:600], json.dumps(want.get(key))[:600]))
    return len(got['_meta']['hostvars'])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--nodes', type=int, default=10000, help='fleet size (default 10000)')
    parser.add_argument('--repeat', type=int, default=1, help='timed runs of each route; the best is kept')
    parser.add_argument('--keep', help='write the generated files into this folder and keep them')
    args = parser.parse_args()

    workdir = args.keep or tempfile.mkdtemp(prefix='inventory-bench-')
    os.makedirs(workdir, exist_ok=True)
    try:
        checked = check_equivalent(workdir, 60)
        print('equivalence: plugin and static list the same %d hosts, variables and groups' % checked)
        plugin, static = write_sources(workdir, make_registry(args.nodes))
        print('%d nodes: registry %.1f MB, static inventory %.1f MB'
              % (args.nodes, os.path.getsize(os.path.join(workdir, 'registry.yml')) / 1e6,
                 os.path.getsize(static) / 1e6))
        best = {}
        for _round in range(args.repeat):
            for label, source in (('static', static), ('plugin', plugin)):
                result = measure(source)
                print('  %-6s %7.2f s wall  %7.2f s CPU  %6.0f MiB' % ((label,) + result))
                old = best.get(label)
                best[label] = tuple(min(pair) for pair in zip(result, old)) if old else result
        static_run, plugin_run = best['static'], best['plugin']
        print('ansible-inventory --list, %d nodes (best of %d):' % (args.nodes, args.repeat))
        print('                  wall time   CPU time   peak RSS')
        print('  static YAML     %7.2f s  %7.2f s  %6.0f MiB' % static_run)
        print('  hardware plugin %7.2f s  %7.2f s  %6.0f MiB' % plugin_run)
        ratios = tuple(p / s for p, s in zip(plugin_run, static_run))
        print('  plugin/static   %7.2fx   %7.2fx   %6.2fx' % ratios)
        met = ratios[0] <= TARGET_TIME_RATIO and ratios[2] < 1.0
        print('target (time <= %.1fx static, less memory): %s' % (TARGET_TIME_RATIO, 'met' if met else 'NOT MET'))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
