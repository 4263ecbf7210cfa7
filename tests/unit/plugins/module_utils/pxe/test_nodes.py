# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.nodes import prepare_nodes
from ansible_collections.datacenter.iaas.tests.unit.plugins.module_utils.pxe.helpers import SHA, node, settings


@pytest.mark.parametrize('entry, message', [
    (node(1, mac='52:54:00:00:00'), 'not a MAC address'),
    (node(1, mac=None), 'no MAC address'),
    (node(1, name='../etc'), 'not a valid node name'),
    (node(1, name='rack_1'), 'give hostname'),
    (node(1, hostname='../../etc/passwd'), 'not a valid host name'),
    (node(1, hostname='a/b'), 'not a valid host name'),
    (node(1, ip='198.18.0.999'), 'not an IP address'),
    (node(1, ip='fd00::5'), 'only IPv4'),
    (node(1, mode='reboot'), 'mode must be one of'),
    (node(1, mode='absent'), 'mode must be one of discover, deploy, install, local'),
    (node(1, state='gone'), 'state must be one of present, absent'),
    (node(1, boot_mode='efi'), 'boot_mode must be'),
    (node(1, kernel_args='console=ttyS0 "quoted"'), 'cannot be passed safely'),
    (node(1, kernel_args='a=$(reboot)'), 'cannot be passed safely'),
    (node(1, disk='/dev/../etc/x'), 'disk'),
    (node(1, mode='deploy'), 'needs an image'),
    (node(1, mode='deploy', image='../secret.img', image_sha256=SHA), 'relative path under the HTTP root'),
    (node(1, mode='deploy', image='http://x/a b', image_sha256=SHA), 'not a usable'),
    (node(1, mode='deploy', image='images/a.img', image_sha256='xyz'), 'not a SHA-256'),
    (node(1, mode='deploy', image='images/a.img'), 'needs image_sha256'),
    (node(1, mode='install'), 'install needs os'),
    (node(1, mode='install', install={'os': 'debian', 'username': 'Root;x'}), 'not a valid user name'),
    (node(1, mode='install', install={'os': 'debian', 'packages': ['vim; rm']}), 'not a package name'),
    (node(1, mode='install', install={'os': 'ubuntu', 'iso': '/etc/passwd'}), 'relative path'),
])
def test_bad_node_refused(tmp_path, entry, message):
    with pytest.raises(InputError, match=message):
        prepare_nodes([entry], settings(tmp_path))


@pytest.mark.parametrize('entries, message', [
    ([node(1), node(2, mac='52-54-00-00-00-01')], 'MAC 52:54:00:00:00:01 is given to both node n1 and node n2'),
    ([node(1), node(1, mac='52:54:00:00:00:09')], 'name n1 is given to both'),
    ([node(1, hostname='web'), node(2, hostname='WEB')], 'host name web is given to both'),
    ([node(1, ip='198.18.0.9'), node(2, ip='198.18.0.9')], 'IP address 198.18.0.9 is given to both'),
])
def test_duplicates_refused(tmp_path, entries, message):
    with pytest.raises(InputError, match=message):
        prepare_nodes(entries, settings(tmp_path))


def test_absent_is_a_state_and_has_no_mode(tmp_path):
    nodes = prepare_nodes([node(1, state='absent', mode='deploy'), node(2, hostname='n1'),
                           node(3, mode='local')], settings(tmp_path))
    assert [(n.state, n.mode, n.absent) for n in nodes] == [
        ('absent', None, True), ('present', 'discover', False), ('present', 'local', False)]
    # The call-wide state applies to nodes that do not say.
    nodes = prepare_nodes([node(1), node(2, state='present')], settings(tmp_path, state='absent'))
    assert [n.state for n in nodes] == ['absent', 'present']
