# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet power query, three ways, side by side on one farm of simulated BMCs.

1. one ``datacenter.iaas.bmc_power`` call over every BMC (``nodes:``);
2. ``community.general.ipmi_power`` once per host over Ansible forks, the way
   a playbook author would otherwise do it;
3. a bare pyghmi script with 16 threads (bench/bare_pyghmi_power.py).

Every BMC is on and asked to be ``on``, so each route logs in and reads the
power state of every machine and changes nothing. Prints seconds and ratios.

    python bench/power_bench.py --count 500 --forks 50
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lab.virtbmc import BmcFarm, make_specs  # noqa: E402

BIN = os.path.dirname(sys.executable)
USERNAME, PASSWORD = 'admin', 'password'


def ansible_env():
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_HOST_KEY_CHECKING='False',
               ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    return env


def timed(cmd, **kwargs):
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    return time.monotonic() - started, proc


def module_route(specs, workdir, concurrency):
    play = [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'tasks': [{
        'datacenter.iaas.bmc_power': {
            'nodes': [{'name': s['name'], 'address': s['address'], 'port': s['port']} for s in specs],
            'username': USERNAME, 'password': PASSWORD, 'state': 'on', 'concurrency': concurrency},
        'register': 'fleet'}]}]
    path = os.path.join(workdir, 'module.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(play, handle)
    seconds, proc = timed([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', path], env=ansible_env())
    result = json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
    summary = result.get('summary', {})
    if result.get('failed') or summary.get('on') != len(specs):
        raise SystemExit('bmc_power route failed: %s' % result.get('msg'))
    return seconds, summary['seconds']


def forks_route(specs, workdir, forks):
    hosts = dict((s['name'], {'bmc_address': s['address'], 'bmc_port': s['port'], 'ansible_connection': 'local',
                              'ansible_python_interpreter': sys.executable}) for s in specs)
    inventory = os.path.join(workdir, 'hosts.yml')
    with open(inventory, 'w') as handle:
        yaml.safe_dump({'all': {'hosts': hosts}}, handle)
    play = [{'hosts': 'all', 'gather_facts': False, 'tasks': [{
        'community.general.ipmi_power': {'name': '{{ bmc_address }}', 'port': '{{ bmc_port }}', 'user': USERNAME,
                                         'password': PASSWORD, 'state': 'on'}}]}]
    path = os.path.join(workdir, 'forks.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(play, handle)
    seconds, proc = timed([os.path.join(BIN, 'ansible-playbook'), '-i', inventory, '-f', str(forks), path],
                          env=ansible_env())
    stats = json.loads(proc.stdout)['stats']
    ok = sum(1 for host in stats.values() if not host['failures'] and not host['unreachable'])
    if ok != len(specs):
        raise SystemExit('ipmi_power route: only %d of %d hosts ok' % (ok, len(specs)))
    return seconds


def bare_route(specs, workdir, threads):
    path = os.path.join(workdir, 'farm.json')
    with open(path, 'w') as handle:
        json.dump({'username': USERNAME, 'password': PASSWORD, 'bmcs': specs}, handle)
    seconds, proc = timed([sys.executable, os.path.join(ROOT, 'bench', 'bare_pyghmi_power.py'), path,
                           '--threads', str(threads)])
    match = re.search(r'login\s+\d+ BMCs: ([0-9.]+) s, ok (\d+)', proc.stdout)
    if not match or int(match.group(2)) != len(specs):
        raise SystemExit('bare pyghmi route failed:\n%s%s' % (proc.stdout, proc.stderr))
    return float(match.group(1)), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=500)
    parser.add_argument('--forks', type=int, default=50)
    parser.add_argument('--concurrency', type=int, default=16)
    parser.add_argument('--processes', type=int, default=4, help='BMC simulator processes')
    parser.add_argument('--skip-forks', action='store_true', help='leave out the slow ipmi_power route')
    args = parser.parse_args()

    specs = make_specs(args.count, '127.1.0.0/22')
    for spec in specs:
        spec['power'] = 'on'
    with tempfile.TemporaryDirectory() as workdir, BmcFarm(specs, USERNAME, PASSWORD, processes=args.processes):
        bare_work, bare_wall = bare_route(specs, workdir, 16)
        module_wall, module_work = module_route(specs, workdir, args.concurrency)
        forks_wall = None if args.skip_forks else forks_route(specs, workdir, args.forks)

    print('\nFleet power query of %d simulated BMCs (login + power state), seconds:' % args.count)
    print('  bare pyghmi, 16 threads             %7.2f  (process wall %.2f)' % (bare_work, bare_wall))
    print('  datacenter.iaas.bmc_power, 1 call   %7.2f  (BMC work %.2f, concurrency %d)'
          % (module_wall, module_work, args.concurrency))
    if forks_wall is not None:
        print('  community.general.ipmi_power, %2d forks %5.2f' % (args.forks, forks_wall))
        print('ratio ipmi_power forks / bmc_power call: %.1fx faster (target >= 30x)' % (forks_wall / module_wall))
    print('ratio bmc_power BMC work / bare pyghmi:   %.2fx (target <= 2x)' % (module_work / bare_work))


if __name__ == '__main__':
    main()
