# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.settings import Settings
from ansible_collections.datacenter.iaas.tests.unit.plugins.module_utils.pxe.helpers import settings


@pytest.mark.parametrize('options, message', [
    ({'pool': ['fd00::/64']}, 'only IPv4'),
    ({'pool': ['198.18.0.1/24']}, 'host bits set'),
    ({'pool': ['198.18.0.10-198.18.1.10'], 'network': '198.18.0.0/24'}, 'not inside network'),
    ({'gateway': 'gw'}, 'not an IP address'),
    ({'kernel': '/boot/vmlinuz'}, 'relative path'),
    ({'initrd': 'ramdisk/../../x'}, 'relative path'),
    ({'hosts_file': '../hosts'}, 'without ".."'),
    ({'templates': {'bogus': '/x'}}, 'unknown kind'),
    ({'report_url': 'http://x/;reboot'}, 'not a usable'),
    ({'state': 'gone'}, 'state must be one of present, absent'),
    ({'mode': 'absent'}, 'mode must be one of discover, deploy, install, local'),
])
def test_bad_settings_refused(tmp_path, options, message):
    with pytest.raises(InputError, match=message):
        settings(tmp_path, **options)


# Defect 5 (issue 11): numbers that dnsmasq or the boot files could never use are refused, naming the option.
@pytest.mark.parametrize('options, message', [
    ({'pool': ['10.0.0.0/24'], 'gateway': None},
     "pool 10.0.0.0/24 is outside the boot server's network: server 198.18.0.1 is in none of its CIDRs"),
    ({'pool': ['198.18.0.0/24', '10.0.0.5-10.0.0.9']},
     "pool 10.0.0.5-10.0.0.9 is outside the boot server's network 198.18.0.0/24"),
    ({'pool': ['10.0.0.10-10.0.0.20'], 'network': '10.0.0.0/24', 'gateway': None},
     'server 198.18.0.1 is outside network 10.0.0.0/24'),
    ({'gateway': '10.0.0.1'}, "gateway 10.0.0.1 is outside the boot server's network 198.18.0.0/24"),
    ({'reserved': ['10.0.0.0/28']}, "reserved 10.0.0.0/28 is outside the boot server's network 198.18.0.0/24"),
    ({'reserved': ['fd00::/64']}, "reserved 'fd00::/64': only IPv4"),
    ({'report_url': 'http://198.18.0.1:70000/v1/reports'}, 'report_url .*: the port must be a number from 1 to 65535'),
])
def test_numbers_outside_the_boot_network_refused(tmp_path, options, message):
    with pytest.raises(InputError, match=message):
        settings(tmp_path, **options)


def test_pool_part_of_a_larger_network_is_accepted_with_network(tmp_path):
    conf = settings(tmp_path, pool=['198.18.0.128/25'], network='198.18.0.0/24')
    assert conf.pool.why_not('198.18.0.129') is None


def test_unknown_subnet_is_not_checked(tmp_path):
    # A range without network: the boot server's prefix is unknown, the pool is taken as it is.
    assert settings(tmp_path, pool=['10.0.0.10-10.0.0.20'], gateway=None).pool.specs == ['10.0.0.10-10.0.0.20']
    # A server known by name, one CIDR: that CIDR is the subnet the gateway must lie in.
    with pytest.raises(InputError, match='gateway 10.0.0.1 is outside'):
        Settings(str(tmp_path), 'boot.dc1.example', pool=['198.18.0.0/24'], gateway='10.0.0.1')


def test_network_needs_a_pool(tmp_path):
    with pytest.raises(InputError, match='network is given without a pool'):
        settings(tmp_path, pool=None, network='198.18.0.0/24')


def test_from_params_takes_the_module_options(tmp_path):
    params = dict(root=str(tmp_path), server='198.18.0.1', pool=['198.18.0.0/24'], state='absent',
                  registry='/ignored', nodes=None)
    conf = Settings.from_params(params)
    assert conf.state == 'absent' and conf.pool.specs == ['198.18.0.0/24']
