# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where boot files may go under the boot server root, and what is there now.

``RootGuard`` refuses, before anything is written, every path that would fail or go astray when written:
one that resolves (through symlinks) outside the root it belongs to, a directory where a file belongs, a
file where a directory must be made, and a directory this process may not write in. Check mode asks the
same questions, so it fails where the real run would.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import io
import os
import stat

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, InputError


def read(path):
    """(content or None, mode or None) of a file; a directory or unreadable file is an error."""
    try:
        with io.open(path, 'rb') as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            data = handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        raise IaasError('cannot read %s: %s' % (path, exc.strerror or exc))
    try:
        return data.decode('utf-8'), mode
    except UnicodeDecodeError:
        return data.decode('latin-1'), mode


def top(relpath):
    """The root a relative path belongs to: 'http', 'tftp', or '' for the boot server root itself."""
    return relpath.split('/', 1)[0] if relpath.startswith(('http/', 'tftp/')) else ''


def check_no_clash(paths):
    """No file may be the directory of another (hostname 'a.preseed' vs host 'a' installing Debian)."""
    directories = set()
    for path in paths:
        parts = path.split('/')[:-1]
        for index in range(1, len(parts) + 1):
            directories.add('/'.join(parts[:index]))
    clash = sorted(path for path in paths if path in directories)
    if clash:
        raise InputError('%s would be both a file and a directory; choose other host names' % clash[0])


class RootGuard(object):
    """Checks paths under ``root`` (see the file's docstring); results are cached per directory."""

    def __init__(self, root):
        self.root = root
        self.real = {}
        self.dirs = {}
        self.writable_dirs = set()

    def _realroot(self, name):
        if name not in self.real:
            self.real[name] = os.path.realpath(os.path.join(self.root, name) if name else self.root)
        return self.real[name]

    @staticmethod
    def _existing_ancestors_are_dirs(directory):
        """A file where a directory must be made would fail half-way through the writes: refuse it now."""
        while not os.path.isdir(directory):
            if os.path.lexists(directory):
                raise InputError('%s is not a directory, where boot files belong' % directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                return
            directory = parent

    def check(self, relpath, name):
        """``relpath`` (under root ``name``: 'http', 'tftp' or '') as an absolute path, or InputError."""
        path = os.path.join(self.root, relpath)
        base = self._realroot(name)
        directory = os.path.dirname(path)
        real_dir = self.dirs.get(directory)
        if real_dir is None:
            real_dir = self.dirs[directory] = os.path.realpath(directory)
            self._existing_ancestors_are_dirs(directory)
        real = os.path.join(real_dir, os.path.basename(path))
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not (real == base or real.startswith(base + os.sep)):
            raise InputError('%s would be written outside %s (resolves to %s)'
                             % (relpath, os.path.join(self.root, name), real))
        if os.path.isdir(real):
            raise InputError('%s is a directory, where a boot file belongs' % path)
        return path

    def writable(self, path):
        """Refuse ``path`` (absolute) if a file cannot be written or removed there: its directory, or the
        nearest one that exists (where the missing ones would be made), must be writable."""
        directory = os.path.dirname(path)
        if directory in self.writable_dirs:
            return
        self._existing_ancestors_are_dirs(directory)
        existing = directory
        while not os.path.isdir(existing) and os.path.dirname(existing) != existing:
            existing = os.path.dirname(existing)
        if not os.access(existing, os.W_OK | os.X_OK):
            raise IaasError('cannot write %s: no permission to write in %s' % (path, existing))
        self.writable_dirs.add(directory)
