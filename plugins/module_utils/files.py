# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files that many processes share: an exclusive lock with a deadline, and writes that are never half done.

``Flock`` is an flock(2) on a path (a lock file, made if asked, or a directory), given up after a deadline
with a message naming what is locked. ``atomic_write`` writes a temp file beside the target, syncs it and
renames it over the target, so readers see the old or the new content, never part of one; the temp file of a
writer killed in the middle is removed by the next writer (``remove_leftovers``), which holds the same lock.

Standard library only: the boot server's report receiver uses this file outside the collection too.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import os
import tempfile
import time

LEFTOVER_SUFFIX = '.tmp'


class FileError(Exception):
    """A lock or a write failed; ``message`` says what and where. Callers turn it into their own error."""

    def __init__(self, message):
        super(FileError, self).__init__(message)
        self.message = message


def _reason(exc):
    return exc.strerror or str(exc)


class Flock(object):
    """``with Flock(path, timeout, what):`` holds an exclusive flock on ``path`` (closing the fd releases it).

    ``create`` makes a missing lock file (mode 0600); without it ``path`` must exist (a directory works).
    ``what`` names the locked thing in the message of a timeout ("registry /srv/registry.yml").
    """

    def __init__(self, path, timeout, what=None, create=False):
        self.path = path
        self.timeout = timeout
        self.what = what or path
        self.create = create
        self.fd = None

    def __enter__(self):
        flags = os.O_RDONLY | (os.O_CREAT if self.create else 0)
        try:
            self.fd = os.open(self.path, flags, 0o600)
        except (IOError, OSError) as exc:
            raise FileError('cannot open %s to lock it: %s' % (self.path, _reason(exc)))
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    self.release()
                    raise FileError('cannot lock %s: %s' % (self.path, _reason(exc)))
            if time.monotonic() >= deadline:
                self.release()
                raise FileError('%s is still locked by another writer after %ss (lock: %s)'
                                % (self.what, self.timeout, self.path))
            time.sleep(0.05)

    def __exit__(self, *exc_info):
        self.release()
        return False

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _temp_prefix(path):
    return '.%s.' % os.path.basename(path)


def sync_directory(directory):
    """A rename lives in its directory: sync that too, or a crash may bring the old file back."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, data, mode=0o600, sync=True):
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename; mode ``mode``.

    With ``sync`` the data and the rename are on disk before this returns. Nothing is left behind on failure.
    """
    if not isinstance(data, bytes):
        data = data.encode('utf-8')
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=LEFTOVER_SUFFIX, dir=directory)
    except (IOError, OSError) as exc:
        raise FileError('cannot write %s: %s' % (path, _reason(exc)))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, (IOError, OSError)):
            raise FileError('cannot write %s: %s' % (path, _reason(exc)))
        raise
    if sync:
        sync_directory(directory)


def remove_leftovers(path):
    """Remove the temp files ``atomic_write`` left beside ``path`` when its writer was killed mid-write.

    Call it only while holding the lock that every writer of ``path`` holds: then no live writer has a temp
    file there. Returns the names removed.
    """
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _temp_prefix(path)
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in sorted(names):
        if name.startswith(prefix) and name.endswith(LEFTOVER_SUFFIX):
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(name)
            except OSError:
                pass
    return removed
