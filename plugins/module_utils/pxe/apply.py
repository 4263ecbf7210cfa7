# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a Plan: boot files first, then the hosts file (synced: it decides who gets which address), then
the removals. Every file goes through a temporary file in its directory and one rename (``files``)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError
from ansible_collections.datacenter.iaas.plugins.module_utils.files import FileError, atomic_write
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.plan import FILE_MODE

DIR_MODE = 0o755


def apply(result):
    """Write and remove what ``plan`` found (``result``, a Plan)."""
    settings = result.settings
    made = set()
    writes = sorted(result.writes, key=lambda item: item[0] == settings.hosts_file)
    for path, content, _old in writes:
        absolute = path if os.path.isabs(path) else os.path.join(settings.root, path)
        directory = os.path.dirname(absolute)
        try:
            if directory not in made:
                if not os.path.isdir(directory):
                    os.makedirs(directory, DIR_MODE)
                made.add(directory)
        except (IOError, OSError) as exc:
            raise IaasError('cannot write %s: %s' % (absolute, exc.strerror or exc))
        try:
            # Boot files are rewritten from the plan on the next run; only the hosts file must survive a crash.
            atomic_write(absolute, content, mode=FILE_MODE, sync=path == settings.hosts_file)
        except FileError as exc:
            raise IaasError(exc.message)
    emptied = set()
    for path, _old in result.removes:
        absolute = os.path.join(settings.root, path)
        try:
            os.unlink(absolute)
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                raise IaasError('cannot remove %s: %s' % (absolute, exc.strerror or exc))
        if path.startswith('http/install/') and path.count('/') == 3:
            emptied.add(os.path.dirname(absolute))
    for directory in sorted(emptied):
        try:
            os.rmdir(directory)
        except OSError:
            pass  # not empty: someone else's files live there too
