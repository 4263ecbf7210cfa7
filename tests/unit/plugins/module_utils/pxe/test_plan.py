# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plan and apply on a boot server root in a temporary directory."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.apply import apply
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.nodes import prepare_nodes
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.plan import plan
from ansible_collections.datacenter.iaas.tests.unit.plugins.module_utils.pxe.helpers import (
    HOSTS, host_lines, node, planned, read, run, settings, tree, unwritable)


def test_root_must_exist(tmp_path):
    with pytest.raises(InputError, match='is not a directory'):
        planned(tmp_path / 'missing', [node(1)])


def test_plan_writes_then_nothing(tmp_path):
    entries = [node(1), node(2, mode='local', boot_mode='bios'), node(3, mode='install', install={'os': 'debian'})]
    first = run(tmp_path, entries)
    assert first.changed and first.hosts_changed
    assert all(n['changed'] for n in first.nodes)
    files = tree(tmp_path)
    assert sorted(files) == sorted([
        HOSTS, 'http/ipxe/boot.ipxe', 'http/ipxe/discover.ipxe', 'tftp/grub/grub.cfg', 'tftp/pxelinux.cfg/default',
        'http/ipxe/52-54-00-00-00-01.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-00-00-01',
        'tftp/grub/grub.cfg-01-52-54-00-00-00-01',
        'http/ipxe/52-54-00-00-00-02.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-00-00-02',
        'http/ipxe/52-54-00-00-00-03.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-00-00-03',
        'tftp/grub/grub.cfg-01-52-54-00-00-00-03', 'http/install/n3.preseed',
    ])
    for path in files:
        assert stat.S_IMODE(os.stat(os.path.join(str(tmp_path), path)).st_mode) == 0o644
    second = run(tmp_path, entries)
    assert not second.changed and not second.writes and not second.removes and not second.hosts_changed
    assert not any(n['changed'] for n in second.nodes)
    assert tree(tmp_path) == files


def test_plan_alone_writes_nothing(tmp_path):
    result = planned(tmp_path, [node(1)])
    assert result.changed and len(result.writes) == 8
    assert tree(tmp_path) == {}


def test_only_differences_are_written(tmp_path):
    run(tmp_path, [node(1), node(2)])
    before = os.stat(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe')).st_ino
    result = run(tmp_path, [node(1), node(2, mode='local')])
    assert sorted(result.changed_files()) == sorted([
        'http/ipxe/52-54-00-00-00-02.ipxe', 'tftp/grub/grub.cfg-01-52-54-00-00-00-02',
        'tftp/pxelinux.cfg/01-52-54-00-00-00-02'])
    assert [n['changed'] for n in result.nodes] == [False, True]
    assert os.stat(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe')).st_ino == before
    # A file whose mode was changed by hand is put right.
    os.chmod(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe'), 0o600)
    assert run(tmp_path, [node(1), node(2, mode='local')]).changed_files() == ['http/ipxe/52-54-00-00-00-01.ipxe']


def test_absent_removes_files_and_line(tmp_path):
    run(tmp_path, [node(1), node(2, mode='install', install={'os': 'ubuntu'})])
    result = run(tmp_path, [node(2, state='absent')])
    assert sorted(result.removed_files()) == sorted([
        'http/ipxe/52-54-00-00-00-02.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-00-00-02',
        'tftp/grub/grub.cfg-01-52-54-00-00-00-02', 'http/install/n2/user-data', 'http/install/n2/meta-data'])
    assert result.nodes[0]['changed'] and result.nodes[0]['ip'] is None
    assert result.nodes[0]['state'] == 'absent' and result.nodes[0]['mode'] is None
    assert host_lines(tmp_path) == ['52:54:00:00:00:01,198.18.0.2,n1']
    assert not os.path.exists(str(tmp_path / 'http/install/n2'))
    assert os.path.exists(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe'))
    again = run(tmp_path, [node(2, state='absent')])
    assert not again.changed and not again.nodes[0]['changed']


def test_boot_mode_and_hostname_changes_remove_stale_files(tmp_path):
    run(tmp_path, [node(1, mode='install', hostname='old', install={'os': 'debian'})])
    result = run(tmp_path, [node(1, mode='install', hostname='new', boot_mode='uefi', install={'os': 'debian'})])
    assert sorted(result.removed_files()) == ['http/install/old.preseed', 'tftp/pxelinux.cfg/01-52-54-00-00-00-01']
    assert 'http/install/new.preseed' in result.changed_files()
    assert host_lines(tmp_path) == ['52:54:00:00:00:01,198.18.0.2,new']


def test_discover_unknown_off(tmp_path):
    run(tmp_path, [])
    assert os.path.exists(str(tmp_path / 'http/ipxe/discover.ipxe'))
    result = run(tmp_path, [], discover_unknown=False)
    assert result.removed_files() == ['http/ipxe/discover.ipxe']
    assert 'LOCALBOOT 0' in read(tmp_path, 'tftp/pxelinux.cfg/default')
    assert read(tmp_path, 'tftp/grub/grub.cfg').splitlines()[1:] == ['exit']
    assert 'discover.ipxe' not in read(tmp_path, 'http/ipxe/boot.ipxe')


def test_symlink_out_of_root_refused(tmp_path):
    root, outside = tmp_path / 'root', tmp_path / 'outside'
    os.makedirs(str(root / 'http'))
    os.makedirs(str(outside))
    os.symlink(str(outside), str(root / 'http' / 'ipxe'))
    with pytest.raises(InputError, match='outside'):
        planned(root, [node(1)])
    assert os.listdir(str(outside)) == []


def test_http_root_may_be_a_symlink(tmp_path):
    root, www = tmp_path / 'root', tmp_path / 'www'
    os.makedirs(str(root))
    os.makedirs(str(www))
    os.symlink(str(www), str(root / 'http'))
    run(root, [node(1)])
    assert os.path.exists(str(www / 'ipxe' / '52-54-00-00-00-01.ipxe'))


def test_file_in_place_of_directory_refused_before_writing(tmp_path):
    (tmp_path / 'tftp').write_text('not a directory')
    with pytest.raises(InputError, match='not a directory'):
        planned(tmp_path, [node(1)])
    os.remove(str(tmp_path / 'tftp'))
    os.makedirs(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe'))
    with pytest.raises(InputError, match='is a directory'):
        planned(tmp_path, [node(1)])


def test_file_and_directory_clash_refused(tmp_path):
    entries = [node(1, mode='install', hostname='a', install={'os': 'debian'}),
               node(2, mode='install', hostname='a.preseed', install={'os': 'ubuntu'})]
    with pytest.raises(InputError, match='both a file and a directory'):
        planned(tmp_path, entries)


def test_no_temporary_files_left(tmp_path):
    run(tmp_path, [node(1), node(2)])
    assert not [path for path in tree(tmp_path) if os.path.basename(path).startswith('.')]


def test_hosts_file_outside_root(tmp_path):
    hosts = tmp_path / 'etc' / 'iaas.hosts'
    os.makedirs(str(tmp_path / 'srv'))
    run(tmp_path / 'srv', [node(1)], hosts_file=str(hosts))
    assert '52:54:00:00:00:01,198.18.0.2,n1' in hosts.read_text()


def test_diff_lists_hosts_first_and_is_limited(tmp_path):
    result = planned(tmp_path, [node(i) for i in range(1, 11)])
    diff = result.diff(max_files=5, max_chars=100)
    assert diff[0]['before_header'] == HOSTS and diff[0]['before'] == ''
    assert '52:54:00:00:00:01' in diff[0]['after'] or 'more characters not shown' in diff[0]['after']
    assert len(diff) == 6 and diff[-1]['prepared'].startswith('... and 30 more changed files')
    assert all(len(entry.get('after', '')) < 200 for entry in diff)


def test_failure_writes_nothing(tmp_path):
    run(tmp_path, [node(1)])
    before = tree(tmp_path)
    for entries in ([node(1), node(2, mac='bad')], [node(1), node(2, ip='10.1.1.1')],
                    [node(1, mode='local'), node(2, hostname='../x')]):
        with pytest.raises(InputError):
            conf = settings(tmp_path)
            apply(plan(conf, prepare_nodes(entries, conf)))
    assert tree(tmp_path) == before


def test_line_with_foreign_and_own_macs_refused(tmp_path):
    os.makedirs(str(tmp_path / 'dnsmasq'))
    (tmp_path / HOSTS).write_text('52:54:00:00:00:01,aa:bb:cc:dd:ee:ff,198.18.0.9,shared\n')
    with pytest.raises(InputError, match='several MACs'):
        planned(tmp_path, [node(1)])


# Check mode (issue 11): the plan is all check mode does, so it must refuse what the writes would fail on.
def test_unwritable_root_is_refused_by_the_plan(tmp_path):
    root = tmp_path / 'srv'
    root.mkdir()
    with unwritable(root):
        with pytest.raises(IaasError, match='cannot write .*: no permission to write in %s$' % root):
            planned(root, [node(1)])
    assert tree(root) == {}


def test_unwritable_directory_is_refused_only_where_something_changes(tmp_path):
    entries = [node(1), node(2)]
    run(tmp_path, entries)
    with unwritable(tmp_path / 'http' / 'ipxe'):
        assert not planned(tmp_path, entries).changed  # nothing to write: nothing to refuse
        with pytest.raises(IaasError, match='no permission to write in %s' % (tmp_path / 'http' / 'ipxe')):
            planned(tmp_path, [node(1, mode='local'), node(2)])
        with pytest.raises(IaasError, match='no permission to write in'):
            planned(tmp_path, [node(1), node(2, state='absent')])  # a removal there
    assert planned(tmp_path, [node(1, mode='local'), node(2)]).changed


def test_call_wide_state_absent(tmp_path):
    run(tmp_path, [node(1), node(2)])
    result = run(tmp_path, [node(2)], state='absent')
    assert [(n['name'], n['state'], n['changed']) for n in result.nodes] == [('n2', 'absent', True)]
    assert host_lines(tmp_path) == ['52:54:00:00:00:01,198.18.0.2,n1']
