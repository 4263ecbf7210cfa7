# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import os
import stat
import time

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import files
from ansible_collections.datacenter.iaas.plugins.module_utils.files import FileError, Flock, atomic_write


def test_atomic_write_replaces_the_file_with_its_mode(tmp_path):
    path = tmp_path / 'data.yml'
    path.write_text('old')
    atomic_write(str(path), u'new \u00e9', mode=0o640)
    assert path.read_text(encoding='utf-8') == u'new \u00e9'
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(os.listdir(str(tmp_path))) == ['data.yml']


def test_atomic_write_leaves_nothing_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / 'data.yml'
    path.write_text('old')

    def refuse(*args):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(files.os, 'replace', refuse)
    with pytest.raises(FileError) as failure:
        atomic_write(str(path), 'new')
    assert 'No space left on device' in failure.value.message and str(path) in failure.value.message
    assert path.read_text() == 'old'
    assert sorted(os.listdir(str(tmp_path))) == ['data.yml']


def test_atomic_write_into_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileError) as failure:
        atomic_write(str(tmp_path / 'nowhere' / 'data.yml'), 'x')
    assert 'nowhere' in failure.value.message


def test_remove_leftovers_takes_only_temp_files_of_that_path(tmp_path):
    for name in ('.data.yml.abc.tmp', '.data.yml.def.tmp', '.other.yml.abc.tmp', 'data.yml', '.data.yml.keep'):
        (tmp_path / name).write_text('x')
    assert files.remove_leftovers(str(tmp_path / 'data.yml')) == ['.data.yml.abc.tmp', '.data.yml.def.tmp']
    assert sorted(os.listdir(str(tmp_path))) == ['.data.yml.keep', '.other.yml.abc.tmp', 'data.yml']


def test_flock_is_exclusive_and_gives_up_after_its_deadline(tmp_path):
    lock = str(tmp_path / 'data.yml.lock')
    with Flock(lock, 1, what='registry data.yml', create=True):
        other = os.open(lock, os.O_RDONLY)
        try:
            with pytest.raises(OSError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
        started = time.monotonic()
        with pytest.raises(FileError) as failure:
            with Flock(lock, 0.3, what='registry data.yml'):
                pass
        assert 0.3 <= time.monotonic() - started < 2
        assert 'registry data.yml is still locked' in failure.value.message
    with Flock(lock, 0.3):  # released
        pass


def test_flock_without_create_needs_the_path(tmp_path):
    with pytest.raises(FileError) as failure:
        with Flock(str(tmp_path / 'missing'), 1):
            pass
    assert 'missing' in failure.value.message
    assert not (tmp_path / 'missing').exists()
    with Flock(str(tmp_path), 1):  # a directory can be locked too
        pass
