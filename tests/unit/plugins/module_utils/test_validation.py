# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import (
    MAX_TARGETS, normalize_mac, parse_targets, validate_host, validate_ip, validate_node_name)


@pytest.mark.parametrize('value', [
    '52:54:00:aa:bb:07', '52:54:00:AA:BB:07', '52-54-00-aa-bb-07', '5254.00aa.bb07', '525400AABB07', ' 52:54:00:aa:bb:07\n',
])
def test_normalize_mac_accepts_common_forms(value):
    assert normalize_mac(value) == '52:54:00:aa:bb:07'


@pytest.mark.parametrize('value', [
    '', '52:54:00:aa:bb', '52:54:00:aa:bb:07:08', '52:54:00:aa:bb:0g', '52:54-00:aa:bb:07', '5254.00aa.bb0',
    '52:54:0:aa:bb:07', '52545400aabb07', None, 0x525400aabb07, ['52:54:00:aa:bb:07'],
])
def test_normalize_mac_refuses_and_names_the_value(value):
    with pytest.raises(InputError) as info:
        normalize_mac(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize('name', ['rack1-u07', 'a', 'A.b_c-d', '0node', 'x' * 63, 'node.example.com'])
def test_validate_node_name_accepts(name):
    assert validate_node_name(name) == name


@pytest.mark.parametrize('name', [
    '', 'a/b', '/etc', 'a..b', '..', '.hidden', '-dash', '_under', 'x' * 64, 'with space', 'ünï', 'a\nb', None, 7,
])
def test_validate_node_name_refuses(name):
    with pytest.raises(InputError, match='not a valid node name'):
        validate_node_name(name)


@pytest.mark.parametrize('value, expected', [
    ('10.0.0.7', '10.0.0.7'), ('127.1.0.0', '127.1.0.0'), ('::1', '::1'), ('FE80::0:1', 'fe80::1'),
])
def test_validate_ip_accepts(value, expected):
    assert validate_ip(value) == expected


@pytest.mark.parametrize('value', [
    '', '10.1', '10.0.0.256', '010.0.0.1', ' 10.0.0.1', '10.0.0.1/24', 'fe80::1%eth0', 'bmc.example', None, 167772161,
])
def test_validate_ip_refuses(value):
    with pytest.raises(InputError, match='is not an IP address'):
        validate_ip(value)


@pytest.mark.parametrize('value, expected', [
    ('10.0.0.7', '10.0.0.7'), ('BMC-7.Example.NET', 'bmc-7.example.net'), ('bmc7.', 'bmc7'),
])
def test_validate_host_accepts(value, expected):
    assert validate_host(value) == expected


@pytest.mark.parametrize('value', ['', '10.0.0.300', 'bad_name', '-bmc', 'a..b', 'x' * 64, None])
def test_validate_host_refuses(value):
    with pytest.raises(InputError):
        validate_host(value)


@pytest.mark.parametrize('specs, exclude, expected', [
    (['10.0.0.7'], None, ['10.0.0.7']),
    ('10.0.0.7', None, ['10.0.0.7']),
    (['10.0.0.5-10.0.0.8'], None, ['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8']),
    (['10.0.0.5 - 10.0.0.6'], None, ['10.0.0.5', '10.0.0.6']),
    (['10.0.0.0/30'], None, ['10.0.0.1', '10.0.0.2']),  # hosts only
    (['10.0.0.0/31'], None, ['10.0.0.0', '10.0.0.1']),
    (['10.0.0.9/32'], None, ['10.0.0.9']),
    # order kept, duplicates dropped
    (['10.0.0.9', '10.0.0.0/29', '10.0.0.2'], None,
     ['10.0.0.9', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']),
    (['10.0.0.0/29'], ['10.0.0.2', '10.0.0.4-10.0.0.5'], ['10.0.0.1', '10.0.0.3', '10.0.0.6']),
    (['10.0.0.0/29'], '10.0.0.0/30', ['10.0.0.4', '10.0.0.5', '10.0.0.6']),
    (['10.0.0.1-10.0.0.3'], ['10.0.0.0/8'], []),
    (['fd00::1-fd00::3'], ['fd00::2'], ['fd00::1', 'fd00::3']),
    (['::a00:1', '10.0.0.1'], None, ['::10.0.0.1', '10.0.0.1']),  # same integer, different families
    ([], None, []),
])
def test_parse_targets(specs, exclude, expected):
    assert parse_targets(specs, exclude=exclude) == expected


def test_parse_targets_lab_network():
    targets = parse_targets(['127.1.0.0/22'])
    assert len(targets) == 1022
    assert targets[0] == '127.1.0.1' and targets[-1] == '127.1.3.254'


@pytest.mark.parametrize('spec, message', [
    ('10.0.0.5/24', 'host bits set; did you mean 10.0.0.0/24'),
    ('10.0.0.0/33', 'too long'),
    ('10.0.0.0/x', 'not a CIDR'),
    ('10.0/8', 'not a CIDR'),
    ('10.0.0.9-10.0.0.5', 'runs backwards'),
    ('10.0.0.5-20', 'not a range'),
    ('10.0.0.1-::1', 'mixes IPv4 and IPv6'),
    ('10.0.0.300', 'not an IP address, a range'),
    ('', 'not an address'),
    (None, 'not an address'),
])
def test_parse_targets_refuses_malformed(spec, message):
    with pytest.raises(InputError, match=message):
        parse_targets([spec])


def test_parse_targets_refuses_malformed_exclude():
    with pytest.raises(InputError, match='runs backwards'):
        parse_targets(['10.0.0.0/30'], exclude=['10.0.0.3-10.0.0.1'])


def test_parse_targets_limit():
    assert MAX_TARGETS == 65536
    assert len(parse_targets(['10.0.0.0/16'])) == 65534
    for specs in (['10.0.0.0/15'], ['10.0.0.0/16', '10.1.0.0'], ['10.0.0.0/8'], ['fd00::/64']):
        with pytest.raises(InputError, match='at most 65536'):
            parse_targets(specs)
