# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ``pxe_config`` task vs. an ``ansible.builtin.template`` task looped over the same nodes, side by side.

Generates N nodes (default 1,000) and runs two playbooks on localhost, each into
its own empty boot server root:

* pxe_config: one task, all nodes in ``nodes``; it writes per node the iPXE
  script, the PXELINUX and the GRUB file (3 files a node), the fallback files
  and the dnsmasq hosts file, allocating every address from a pool;
* template loop: ``ansible.builtin.template`` looped over the nodes, writing
  only each node's iPXE script (byte for byte what pxe_config writes), plus one
  ``template`` task for the whole dnsmasq hosts file, with the addresses given
  to it precomputed. It does a third of the per-node work.

Each playbook runs on an empty root (everything written); with --rerun, each
runs again (nothing changes: the idempotent run). The iPXE scripts and hosts
files of both routes are compared byte for byte, so both did the same work.
Prints wall and CPU seconds of each ansible-playbook run, the task's own
duration (from the JSON callback), and the loop/pxe_config ratios.

    python bench/pxe_bench.py                  # 1,000 nodes
    python bench/pxe_bench.py --rerun          # and the idempotent second runs
    python bench/pxe_bench.py --nodes 200      # a quick run
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
TARGET_RATIO = 20.0
SERVER = '198.18.0.1'
POOL = '198.18.0.0/22'

# The per-node iPXE script pxe_config writes in discover mode (its default template), as a template task would.
NODE_TEMPLATE = '''#!ipxe
# Managed by datacenter.iaas.pxe_config; local changes are overwritten.
:retry
imgfree
kernel http://{{ server }}/ramdisk/vmlinuz initrd=initramfs.cpio.gz iaas.mode=discover \
iaas.report=http://{{ server }}:8088/v1/reports BOOTIF=01-{{ item.dashed }} || goto failed
initrd http://{{ server }}/ramdisk/initramfs.cpio.gz || goto failed
boot || goto failed
:failed
echo iaas discover {{ item.name }}: boot failed, retrying in 10 seconds
sleep 10
goto retry
'''
HOSTS_TEMPLATE = '''# Managed by datacenter.iaas.pxe_config; local changes are overwritten.
# dnsmasq dhcp-hostsfile: MAC,IP,hostname (reread on SIGHUP)
{% for node in nodes %}
{{ node.mac }},{{ node.ip }},{{ node.name }}
{% endfor %}
'''


def make_nodes(count):
    """Node names and MACs, and the addresses pxe_config will hand out (lowest free of the pool, .1 is the gateway)."""
    nodes = []
    for index in range(count):
        rack, unit = divmod(index, 40)
        mac = '52:54:%02x:%02x:%02x:%02x' % (0x10, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff)
        address = (198 << 24) | (18 << 16) | (index + 2)
        nodes.append({'name': 'r%03d-u%02d' % (rack + 1, unit + 1), 'mac': mac, 'dashed': mac.replace(':', '-'),
                      'ip': '%d.%d.%d.%d' % (address >> 24, (address >> 16) & 255, (address >> 8) & 255, address & 255)})
    if count > 1020:
        raise SystemExit('at most 1020 nodes fit the /22 pool this benchmark uses')
    return nodes


def write_playbooks(workdir, nodes):
    with open(os.path.join(workdir, 'nodes.yml'), 'w') as handle:
        yaml.safe_dump({'nodes': nodes, 'pxe_nodes': [{'name': n['name'], 'mac': n['mac']} for n in nodes],
                        'server': SERVER}, handle, default_flow_style=False)
    with open(os.path.join(workdir, 'node.ipxe.j2'), 'w') as handle:
        handle.write(NODE_TEMPLATE)
    with open(os.path.join(workdir, 'hosts.j2'), 'w') as handle:
        handle.write(HOSTS_TEMPLATE)
    tasks = [
        {'name': 'Directories', 'ansible.builtin.file': {'path': '{{ root }}/{{ item }}', 'state': 'directory',
                                                         'mode': '0755'},
         'loop': ['http/ipxe', 'dnsmasq']},
        {'name': 'iPXE script per node', 'ansible.builtin.template': {
            'src': 'node.ipxe.j2', 'dest': '{{ root }}/http/ipxe/{{ item.dashed }}.ipxe', 'mode': '0644'},
         'loop': '{{ nodes }}', 'loop_control': {'label': '{{ item.name }}'}},
        {'name': 'dnsmasq hosts file', 'ansible.builtin.template': {
            'src': 'hosts.j2', 'dest': '{{ root }}/dnsmasq/hosts', 'mode': '0644'}},
    ]
    loop = [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'vars_files': ['nodes.yml'],
             'tasks': tasks}]
    module = [{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'vars_files': ['nodes.yml'],
               'tasks': [{'name': 'All boot files', 'datacenter.iaas.pxe_config': {
                   'root': '{{ root }}', 'server': '{{ server }}', 'pool': [POOL], 'gateway': SERVER,
                   'nodes': '{{ pxe_nodes }}'}}]}]
    paths = {}
    for label, play in (('loop', loop), ('pxe_config', module)):
        paths[label] = os.path.join(workdir, '%s.yml' % label)
        with open(paths[label], 'w') as handle:
            yaml.safe_dump(play, handle, default_flow_style=False, sort_keys=False)
    return paths


def env():
    result = dict(os.environ)
    result.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'),
                  ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                  ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False',
                  ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='False',
                  # Generous to the loop: pipelining saves it a file transfer per module run.
                  ANSIBLE_PIPELINING='True')
    return result


def _seconds(duration):
    parse = datetime.datetime.fromisoformat
    return (parse(duration['end'].replace('Z', '+00:00')) - parse(duration['start'].replace('Z', '+00:00'))
            ).total_seconds()


def run(playbook, root):
    """(wall s, CPU s, task s, changed) of one ansible-playbook run; task s sums the tasks that write files."""
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', playbook, '-e', json.dumps({'root': root})]
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as errors:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=errors, env=env(), cwd=os.path.dirname(playbook))
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        out.seek(0)
        text = out.read()
        if os.waitstatus_to_exitcode(status):
            errors.seek(0)
            raise SystemExit('%s failed:\n%s\n%s' % (playbook, text[-3000:], errors.read()[-3000:]))
    report = json.loads(text)
    tasks = report['plays'][0]['tasks']
    task_seconds = sum(_seconds(task['task']['duration']) for task in tasks if task['task']['name'] != 'Directories')
    changed = any(task['hosts']['localhost'].get('changed') for task in tasks)
    return wall, usage.ru_utime + usage.ru_stime, task_seconds, changed


def check_same_output(roots, nodes):
    """The two routes must write the same iPXE scripts and hosts file, or the timing compares different work."""
    def read(root, path):
        with open(os.path.join(root, path), 'rb') as handle:
            return handle.read()
    paths = ['dnsmasq/hosts'] + ['http/ipxe/%s.ipxe' % node['dashed'] for node in nodes]
    for path in paths:
        if read(roots['loop'], path) != read(roots['pxe_config'], path):
            raise SystemExit('the routes wrote different %s:\n--- loop\n%s\n--- pxe_config\n%s'
                             % (path, read(roots['loop'], path).decode(), read(roots['pxe_config'], path).decode()))
    counts = dict((label, sum(len(files) for _d, _s, files in os.walk(root))) for label, root in roots.items())
    return len(paths), counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--nodes', type=int, default=1000, help='number of nodes (default 1000, at most 1020)')
    parser.add_argument('--rerun', action='store_true', help='also time a second, idempotent run of each')
    parser.add_argument('--keep', help='write the playbooks and roots into this folder and keep them')
    args = parser.parse_args()

    workdir = args.keep or tempfile.mkdtemp(prefix='pxe-bench-')
    os.makedirs(workdir, exist_ok=True)
    try:
        nodes = make_nodes(args.nodes)
        playbooks = write_playbooks(workdir, nodes)
        roots = {}
        for label in playbooks:
            roots[label] = os.path.join(workdir, 'root-' + label)
            shutil.rmtree(roots[label], ignore_errors=True)
            os.makedirs(roots[label])
        results = {}
        rounds = ('first run', 'second run') if args.rerun else ('first run',)
        for round_name in rounds:
            for label in ('pxe_config', 'loop'):
                result = run(playbooks[label], roots[label])
                results[(round_name, label)] = result
                print('  %-10s %-10s %7.2f s wall %7.2f s CPU %7.2f s task  changed=%s'
                      % (round_name, label, result[0], result[1], result[2], result[3]), flush=True)
            if round_name == 'first run':
                same, counts = check_same_output(roots, nodes)
                print('  same output: %d files byte for byte (iPXE scripts + hosts file); files written: '
                      'pxe_config %d, loop %d' % (same, counts['pxe_config'], counts['loop']), flush=True)
        print()
        print('%d nodes, one pxe_config task vs. template looped over the nodes (+ one hosts template):' % args.nodes)
        print('                          wall time    CPU time   task time   changed')
        ratios = []
        for round_name in rounds:
            module, loop = results[(round_name, 'pxe_config')], results[(round_name, 'loop')]
            print('  %-10s pxe_config  %7.2f s   %7.2f s   %7.2f s   %s' % ((round_name,) + module))
            print('  %-10s loop        %7.2f s   %7.2f s   %7.2f s   %s' % ((round_name,) + loop))
            ratio = tuple(l / m for l, m in zip(loop[:3], module[:3]))
            ratios.append(ratio)
            print('  %-10s loop/module %7.1fx    %7.1fx    %7.1fx' % ((round_name,) + ratio))
        worst = min(ratio[0] for ratio in ratios)
        print('target (loop wall time >= %.0fx one pxe_config call%s): %s (worst %.1fx)'
              % (TARGET_RATIO, ', both runs' if args.rerun else '', 'met' if worst >= TARGET_RATIO else 'NOT MET', worst))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
