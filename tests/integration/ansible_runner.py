# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's modules the way users do: through ansible-playbook.

Each call writes a one-play playbook, runs it with the JSON stdout callback and
returns the per-task results for localhost, so tests assert on exactly what a
playbook would see (changed, failed, diff, return values).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
        'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json',
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_RETRY_FILES_ENABLED': 'False',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_LOCALHOST_WARNING': 'False',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
        'ANSIBLE_PYTHON_INTERPRETER': os.sys.executable,
    })
    env.update(extra or {})
    return env


class TaskResult(dict):
    """One task's result for localhost (a dict) with a few readable helpers."""

    @property
    def changed(self):
        return bool(self.get('changed'))

    @property
    def failed(self):
        return bool(self.get('failed'))


def run_tasks(tasks, check=False, diff=False, extra_vars=None, timeout=600, env=None):
    """Run ``tasks`` (a list of task dicts) on localhost; return a list of TaskResult.

    Every task gets ``ignore_errors: true`` unless it says otherwise, so a test
    can assert on a failure's message instead of losing the whole run.
    """
    play = [{
        'hosts': 'localhost',
        'connection': 'local',
        'gather_facts': False,
        'tasks': [dict({'ignore_errors': True}, **task) for task in tasks],
    }]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'play.yml')
        with open(path, 'w') as handle:
            yaml.safe_dump(play, handle)
        cmd = [os.path.join(os.path.dirname(os.sys.executable), 'ansible-playbook'),
               '-i', 'localhost,', path]
        if check:
            cmd.append('--check')
        if diff:
            cmd.append('--diff')
        if extra_vars:
            cmd += ['-e', json.dumps(extra_vars)]
        proc = subprocess.run(cmd, env=ansible_env(env), capture_output=True, text=True,
                              timeout=timeout, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('ansible-playbook printed no JSON (rc=%s)\nstdout:\n%s\nstderr:\n%s'
                             % (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
    results = []
    for task in report['plays'][0]['tasks']:
        results.append(TaskResult(task['hosts'].get('localhost', {})))
    return results


def run_module(name, args, check=False, diff=False, **kwargs):
    """Run one module of the collection (short name or FQCN) once; return its TaskResult."""
    fqcn = name if '.' in name else 'datacenter.iaas.' + name
    return run_tasks([{fqcn: args, 'no_log': False}], check=check, diff=diff, **kwargs)[0]
