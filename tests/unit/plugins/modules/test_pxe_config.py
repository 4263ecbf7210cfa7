# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pxe_config at its edge: arguments in, the module's JSON out (check mode as Ansible asks for it)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.datacenter.iaas.plugins.modules import pxe_config
from ansible_collections.datacenter.iaas.tests.unit.plugins.module_utils.pxe.helpers import tree, unwritable

NODE = {'name': 'rack1-u07', 'mac': '52:54:00:aa:bb:07'}


def call(capsys, root, check=False, **extra):
    args = dict(root=str(root), server='198.18.0.1', pool=['198.18.0.0/24'], nodes=[NODE], _ansible_check_mode=check)
    args.update(extra)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            pxe_config.main()
    return json.loads(capsys.readouterr().out)


def test_writes_then_changes_nothing(capsys, tmp_path):
    first = call(capsys, tmp_path)
    assert first['changed'] and first['nodes'][0]['ip'] == '198.18.0.2', first  # .1 is the boot server
    assert first['nodes'][0]['state'] == 'present' and first['nodes'][0]['mode'] == 'discover'
    assert not call(capsys, tmp_path)['changed']
    gone = call(capsys, tmp_path, nodes=[dict(NODE, state='absent')])
    assert gone['changed'] and gone['nodes'][0]['mode'] is None and gone['removed_files']


@pytest.mark.parametrize('check', [True, False])
def test_check_mode_fails_where_the_real_run_fails(capsys, tmp_path, check):
    missing = call(capsys, tmp_path / 'missing', check=check)
    assert missing['failed'] and 'is not a directory' in missing['msg'] and missing['error_kind'] == 'invalid_input'
    with unwritable(tmp_path):
        refused = call(capsys, tmp_path, check=check)
    assert refused['failed'] and 'no permission to write in %s' % tmp_path in refused['msg'], refused
    assert tree(tmp_path) == {}


def test_absent_is_no_longer_a_mode(capsys, tmp_path):
    result = call(capsys, tmp_path, mode='absent')
    assert result['failed'] and 'value of mode must be one of: discover, deploy, install, local' in result['msg']
    result = call(capsys, tmp_path, nodes=[dict(NODE, mode='absent')])
    assert result['failed'] and 'value of mode must be one of: discover, deploy, install, local' in result['msg']
    assert tree(tmp_path) == {}


def test_pool_outside_the_boot_network_is_refused(capsys, tmp_path):
    result = call(capsys, tmp_path, pool=['10.0.0.0/24'])
    assert result['failed'] and result['error_kind'] == 'invalid_input'
    assert result['msg'].startswith("pool 10.0.0.0/24 is outside the boot server's network"), result
