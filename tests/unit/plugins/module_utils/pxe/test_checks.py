# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import checks


@pytest.mark.parametrize('value, expected', [
    ('rack1-u07', 'rack1-u07'), ('Rack1-U07.DC1.example', 'rack1-u07.dc1.example'), ('a', 'a'),
    ('x' * 63, 'x' * 63), ('node7.', 'node7'),
])
def test_hostname_accepted(value, expected):
    assert checks.validate_hostname(value) == expected


@pytest.mark.parametrize('value', [
    '', 'rack1_u07', '-a', 'a-', '../etc', 'a/b', 'a..b', 'x' * 64, 'host.123', 'a b', 'ä', None, 7, '.',
    'a.' * 127 + 'a', '198.18.0.5', 'fd00::5',
])
def test_hostname_refused(value):
    with pytest.raises(InputError, match='not a valid host name'):
        checks.validate_hostname(value)


@pytest.mark.parametrize('value', ['http://198.18.0.1:80/x', 'https://boot.example:65535', 'http://[fd00::1]:8080/'])
def test_url_accepted(value):
    assert checks.url(value, 'report_url') == value


@pytest.mark.parametrize('value, message', [
    ('http://198.18.0.1:70000/v1/reports', 'port must be a number from 1 to 65535'),
    ('http://198.18.0.1:0/', 'port must be a number from 1 to 65535'),
    ('http://[fd00::1/', 'not a usable'),
    ('http://x/;reboot', 'not a usable'),
])
def test_url_refused(value, message):
    with pytest.raises(InputError, match=message):
        checks.url(value, 'report_url')
