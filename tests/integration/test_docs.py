# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-doc renders every module and plugin of the collection, with examples and return values."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from ansible_runner import ROOT, ansible_env

MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, 'plugins', 'modules'))
                 if name.endswith('.py') and not name.startswith('_'))


def ansible_doc(*args):
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-doc')] + list(args)
    return subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)


def test_every_module_is_listed():
    proc = ansible_doc('-t', 'module', '-l', 'datacenter.iaas', '--json')
    assert proc.returncode == 0, proc.stderr
    listed = sorted(name.split('.')[-1] for name in json.loads(proc.stdout))
    assert listed == MODULES
    assert {'bmc_power', 'bmc_info', 'node_discovery', 'node'} <= set(listed)


@pytest.mark.parametrize('module', MODULES)
def test_module_doc_is_complete(module):
    proc = ansible_doc('-t', 'module', 'datacenter.iaas.' + module, '--json')
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)['datacenter.iaas.' + module]
    assert doc['doc']['short_description']
    assert doc['examples'].strip()
    assert doc['return']
    assert doc['doc']['attributes']['check_mode']['support'] in ('full', 'partial')


def test_inventory_plugin_doc():
    proc = ansible_doc('-t', 'inventory', 'datacenter.iaas.hardware')
    assert proc.returncode == 0, proc.stderr
    assert 'registry' in proc.stdout and 'AWX' in proc.stdout
