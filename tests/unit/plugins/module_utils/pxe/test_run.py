# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.run import RootLock, configure, run
from ansible_collections.datacenter.iaas.tests.unit.plugins.module_utils.pxe.helpers import (
    node, settings, tree, unwritable)


def test_root_lock_is_exclusive_and_creates_nothing(tmp_path):
    with RootLock(str(tmp_path)):
        with pytest.raises(IaasError, match='still locked'):
            with RootLock(str(tmp_path), timeout=0.1):
                pass
    with RootLock(str(tmp_path), timeout=0.1):
        pass
    assert os.listdir(str(tmp_path)) == []


def test_check_mode_plans_and_writes_nothing(tmp_path):
    result = configure(settings(tmp_path), [node(1)], check_mode=True)
    assert result.changed and tree(tmp_path) == {}
    assert configure(settings(tmp_path), [node(1)]).changed and tree(tmp_path)


@pytest.mark.parametrize('check_mode', [True, False])
def test_check_mode_fails_where_the_real_run_fails(tmp_path, check_mode):
    with pytest.raises(InputError, match='root .*missing is not a directory'):
        configure(settings(tmp_path / 'missing'), [node(1)], check_mode=check_mode)
    with unwritable(tmp_path):
        with pytest.raises(IaasError, match='no permission to write in %s' % tmp_path):
            configure(settings(tmp_path), [node(1)], check_mode=check_mode)
    assert tree(tmp_path) == {}


def test_run_returns_the_module_result(tmp_path):
    output = run(settings(tmp_path), nodes=[node(1)], diff=True)
    assert output['changed'] and output['hosts_changed'] and output['skipped_nodes'] == []
    assert output['nodes'][0]['ip'] == '198.18.0.2' and output['diff'][0]['after_header'] == 'dnsmasq/hosts'
    again = run(settings(tmp_path), nodes=[node(1)])
    assert not again['changed'] and again['changed_files'] == [] and 'diff' not in again
