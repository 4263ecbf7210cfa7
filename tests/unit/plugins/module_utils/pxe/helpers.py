# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the pxe unit tests share: settings and nodes as a test writes them, a run, and a look at the root."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import os
import subprocess

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.apply import apply
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.nodes import prepare_nodes
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.plan import plan
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.render import JINJA2_IMPORT_ERROR, Renderer
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.settings import Settings

# Jinja2 is in tests/unit/requirements.txt: without it these tests fail rather than skip.
assert JINJA2_IMPORT_ERROR is None, 'Jinja2 is required (tests/unit/requirements.txt)'
SHA = 'ab' * 32
HOSTS = 'dnsmasq/hosts'


def settings(root, **kwargs):
    options = dict(pool=['198.18.0.0/24'], gateway='198.18.0.1')
    options.update(kwargs)
    return Settings(str(root), '198.18.0.1', **options)


def node(index, **kwargs):
    entry = {'name': 'n%d' % index, 'mac': '52:54:00:00:00:%02x' % index}
    entry.update(kwargs)
    return entry


def planned(root, entries, registry_data=None, **kwargs):
    conf = settings(root, **kwargs)
    return plan(conf, prepare_nodes(entries, conf), registry_data=registry_data)


def run(root, entries, registry_data=None, **kwargs):
    """Plan and apply; return the plan."""
    result = planned(root, entries, registry_data, **kwargs)
    apply(result)
    return result


def render(tmp_path, entry, **options):
    """The files of one node, rendered with the address 198.18.0.9 unless it has one."""
    conf = settings(tmp_path, **options)
    nodes = prepare_nodes([entry], conf)
    nodes[0].ip = nodes[0].ip or '198.18.0.9'
    return Renderer(conf).node_files(nodes[0])


def read(root, path):
    with open(os.path.join(str(root), path)) as handle:
        return handle.read()


def host_lines(root):
    return [line for line in read(root, HOSTS).splitlines() if line and not line.startswith('#')]


def tree(root):
    """Every file under root, relative, with its content."""
    out = {}
    for directory, _dirs, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                out[os.path.relpath(path, str(root))] = handle.read()
    return out


@contextlib.contextmanager
def unwritable(path):
    """``path`` (a directory) where this process cannot create or remove files, root or not: mode 0555 for a
    user, the immutable attribute for root (who ignores modes). Skips the test where neither works."""
    path = str(path)
    if os.geteuid() != 0:
        os.chmod(path, 0o555)
        try:
            yield
        finally:
            os.chmod(path, 0o755)
        return
    try:
        refused = subprocess.call(['chattr', '+i', path], stderr=subprocess.DEVNULL)
    except OSError:  # no chattr
        refused = True
    if refused:
        pytest.skip('chattr +i does not work here: cannot make a directory unwritable for root')
    try:
        yield
    finally:
        subprocess.check_call(['chattr', '-i', path])
