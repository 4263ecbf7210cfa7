# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.datacenter.iaas.plugins.module_utils.edge import Failed, IaasModule
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import BmcAuthError

SPEC = dict(name=dict(type='str', required=True))


def _run(capsys, work, args=None, libraries=()):
    with patch_module_args(args or {'name': 'n1'}):
        with pytest.raises(SystemExit) as leaving:
            IaasModule(argument_spec=SPEC, libraries=libraries).run(work)
    return leaving.value.code, json.loads(capsys.readouterr().out)


def test_the_result_of_the_work_is_returned(capsys):
    code, out = _run(capsys, lambda module: dict(changed=True, seen=module.params['name']))
    assert code == 0 and out['changed'] is True and out['seen'] == 'n1'


def test_an_iaas_error_fails_with_its_kind(capsys):
    def work(module):
        raise BmcAuthError('login refused', node='n1', address='10.0.0.1:623')
    code, out = _run(capsys, work)
    assert code == 1 and out['failed'] is True
    assert out['msg'] == 'node n1, BMC 10.0.0.1:623: login refused' and out['error_kind'] == 'bad_credentials'


def test_failed_carries_its_own_result(capsys):
    def work(module):
        raise Failed('2 of 3 nodes failed', result={'failed_nodes': ['a', 'b']})
    code, out = _run(capsys, work)
    assert code == 1 and out['msg'] == '2 of 3 nodes failed' and out['failed_nodes'] == ['a', 'b']
    assert 'error_kind' not in out


def test_a_bug_fails_naming_its_exception(capsys):
    def work(module):
        return {}['missing']
    code, out = _run(capsys, work)
    assert code == 1 and out['msg'] == "unexpected KeyError: 'missing'"


def test_a_missing_library_is_said_before_any_work(capsys):
    def work(module):
        raise AssertionError('must not run')
    code, out = _run(capsys, work, libraries=[('netaddr', None), ('pyghmi', ImportError('No module named pyghmi'))])
    assert code == 1 and 'required Python library (pyghmi)' in out['msg']
