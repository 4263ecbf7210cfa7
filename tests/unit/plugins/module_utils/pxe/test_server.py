# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.server import BootServer
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.settings import Settings


@pytest.mark.parametrize('value, base, grub, ipv4', [
    ('198.18.0.1', 'http://198.18.0.1', '(http,198.18.0.1)', '198.18.0.1'),
    ('boot.dc1.example', 'http://boot.dc1.example', '(http,boot.dc1.example)', None),
    ('http://198.18.0.1:8080/', 'http://198.18.0.1:8080', '(http,198.18.0.1:8080)', '198.18.0.1'),
    ('fd00::1', 'http://[fd00::1]', '(http,[fd00::1])', None),
])
def test_server_base(value, base, grub, ipv4):
    server = BootServer(value)
    assert (server.base, server.grub_device, server.ipv4) == (base, grub, ipv4)


@pytest.mark.parametrize('value', ['', 'http://a b', 'ftp://x', 'http://x/$y', "http://x/'", 'not a host',
                                   'http://198.18.0.1:99999'])
def test_server_refused(value):
    with pytest.raises(InputError):
        BootServer(value)


def test_default_report_url_uses_server_host():
    assert Settings('/x', 'http://198.18.0.1:8080').report_url == 'http://198.18.0.1:8088/v1/reports'
    assert Settings('/x', 'http://[fd00::1]:8080').report_url == 'http://[fd00::1]:8088/v1/reports'
    assert Settings('/x', '198.18.0.1', report_url='http://r:9/v1/reports').report_url == 'http://r:9/v1/reports'
