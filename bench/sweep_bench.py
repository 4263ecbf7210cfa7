# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""BMC discovery sweep of a /22 holding live simulated BMCs, two ways, side by side.

1. ``datacenter.iaas.node_discovery`` through ansible-playbook, into an empty registry;
2. the script a user would otherwise write: a pyghmi login to every address of the
   range from 64 threads, keeping the ones that answer.

    python bench/sweep_bench.py --live 500
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import concurrent.futures
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lab.virtbmc import BmcFarm, make_specs  # noqa: E402

NETWORK = '127.1.0.0/22'
USERNAME, PASSWORD = 'admin', 'password'


def module_route(workdir):
    registry = os.path.join(workdir, 'registry.yml')
    play = [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'tasks': [{
        'datacenter.iaas.node_discovery': {
            'registry': registry, 'ranges': [NETWORK],
            'credentials': {'default': {'username': USERNAME, 'password': PASSWORD}}}}]}]
    path = os.path.join(workdir, 'sweep.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(play, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOCALHOST_WARNING='False',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    started = time.monotonic()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', path],
                          env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    result = json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
    if result.get('failed'):
        raise SystemExit('node_discovery failed: %s' % result.get('msg'))
    return seconds, result['summary']


def naive_route(addresses, threads=64):
    from pyghmi.ipmi import command

    def login(address):
        try:
            cmd = command.Command(bmc=address, userid=USERNAME, password=PASSWORD, keepalive=False)
            serial = cmd.get_inventory_of_component('System').get('Serial Number')
            cmd.ipmi_session.logout()
            return serial
        except Exception:
            return None

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        found = [serial for serial in pool.map(login, addresses) if serial]
    return time.monotonic() - started, len(found)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--live', type=int, default=500)
    parser.add_argument('--processes', type=int, default=4)
    parser.add_argument('--skip-naive', action='store_true')
    args = parser.parse_args()
    addresses = [str(host) for host in ipaddress.ip_network(NETWORK).hosts()]
    with BmcFarm(make_specs(args.live, NETWORK), USERNAME, PASSWORD, processes=args.processes):
        with tempfile.TemporaryDirectory() as workdir:
            module_seconds, summary = module_route(workdir)
        naive = None if args.skip_naive else naive_route(addresses)
    print('\nSweep of %s (%d addresses, %d live simulated BMCs), seconds:' % (NETWORK, len(addresses), args.live))
    print('  datacenter.iaas.node_discovery       %7.2f  (module %.2f; read %d of %d answering)'
          % (module_seconds, summary['seconds'], summary['read'], summary['answered']))
    if naive:
        print('  pyghmi login per address, 64 threads %7.2f  (found %d)' % naive)
        print('ratio naive / node_discovery: %.1fx faster' % (naive[0] / module_seconds))
    print('target: under 30 s -> %s' % ('met' if module_seconds < 30 else 'MISSED'))


if __name__ == '__main__':
    main()
