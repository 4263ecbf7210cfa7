# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.pool import Pool, address
from ansible_collections.datacenter.iaas.tests.unit.plugins.module_utils.pxe.helpers import node, planned


def free(pool, taken=()):
    return [str(value) for value in pool.free(set(address(text) for text in taken))]


def test_pool_skips_network_broadcast_gateway_and_reserved():
    pool = Pool(['198.18.0.0/29'], gateway='198.18.0.1', reserved=['198.18.0.3-198.18.0.4'])
    assert free(pool) == ['198.18.0.2', '198.18.0.5', '198.18.0.6']
    assert free(pool, ['198.18.0.5']) == ['198.18.0.2', '198.18.0.6']
    assert pool.why_not('198.18.0.0') == 'the network address of 198.18.0.0/29'
    assert pool.why_not('198.18.0.7') == 'the broadcast address of 198.18.0.0/29'
    assert pool.why_not('198.18.0.1') == 'the gateway'
    assert pool.why_not('198.18.0.4').startswith('reserved')
    assert pool.why_not('198.18.0.8').startswith('outside the pool')
    assert pool.why_not('198.18.0.2') is None


def test_range_pool_with_network():
    pool = Pool(['198.18.0.254-198.18.1.1'], network='198.18.0.0/23')
    assert free(pool) == ['198.18.0.254', '198.18.0.255', '198.18.1.0', '198.18.1.1']
    pool = Pool(['198.18.1.250-198.18.1.255'], network='198.18.0.0/23')
    assert free(pool)[-1] == '198.18.1.254'


# Defect 2 (issue 11): with the gateway elsewhere, the boot server's own address went to the first node.
def test_the_boot_server_address_is_never_handed_out(tmp_path):
    pool = Pool(['198.18.0.0/24'], server='198.18.0.1')
    assert pool.why_not('198.18.0.1') == 'the boot server'
    assert free(pool)[0] == '198.18.0.2'
    result = planned(tmp_path, [node(1), node(2)], gateway=None)
    assert [n['ip'] for n in result.nodes] == ['198.18.0.2', '198.18.0.3']
    result = planned(tmp_path, [node(1)], gateway='198.18.0.254')
    assert result.nodes[0]['ip'] == '198.18.0.2'
    with pytest.raises(InputError, match='ip 198.18.0.1 is the boot server'):
        planned(tmp_path, [node(1, ip='198.18.0.1')], gateway=None)
    # The gateway's name wins where both are one address.
    assert Pool(['198.18.0.0/24'], gateway='198.18.0.1', server='198.18.0.1').why_not('198.18.0.1') == 'the gateway'


def test_known_address_of_the_boot_server_is_replaced(tmp_path):
    result = planned(tmp_path, [dict(node(1), known_ips=['198.18.0.1'])], gateway=None)
    assert result.nodes[0]['ip'] == '198.18.0.2'


def test_empty_pool_refused():
    with pytest.raises(InputError, match='pool is empty'):
        Pool([])


@pytest.mark.parametrize('text, expected', [('198.18.0.7', '198.18.0.7'), ('dhcp', None), (None, None),
                                            ('fd00::1', None), (7, None)])
def test_address(text, expected):
    value = address(text)
    assert (str(value) if value is not None else None) == expected
