# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the shared BMC options (plugins/module_utils/bmc_options.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import bmc_options
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError


def params(**given):
    """Module params as AnsibleModule hands them over: every key of the spec, defaults filled in."""
    values = dict((key, spec.get('default')) for key, spec in bmc_options.BMC_ARGUMENT_SPEC.items())
    unknown = set(given) - set(values)
    assert not unknown, unknown
    values.update(given)
    return values


def node_entry(**given):
    values = dict((key, spec.get('default')) for key, spec in bmc_options.NODE_SPEC.items())
    values.update(given)
    return values


REGISTRY = {'version': 1, 'nodes': {
    'rack1-u01': {'state': 'active', 'bmc': {'address': '10.0.1.1', 'port': 623, 'protocol': 'ipmi',
                                             'credential': 'default'}},
    'rack1-u02': {'state': 'available', 'bmc': {'address': '10.0.1.2', 'protocol': 'ipmi'}},
    'rack2-u01': {'state': 'available', 'bmc': {'address': '10.0.2.1', 'port': 8443, 'protocol': 'redfish',
                                                'credential': 'rack2'}},
    'spare': {'state': 'enrolled', 'bmc': {'address': '10.0.9.9'}},
}}
CREDENTIALS = {'default': {'username': 'admin', 'password': 'secret'},
               'rack2': {'username': 'root', 'password': 'calvin', 'kg': 'KG'}}


def names(selected):
    return [name for name, _target, _node in selected]


def test_params_helper_covers_the_whole_spec():
    assert set(params()) == set(bmc_options.BMC_ARGUMENT_SPEC)
    assert params()['cipher_suite'] == 3 and params()['retries'] == 2


# ---------------------------------------------------------------------------
# bmc_address

def test_single_bmc_address():
    selected = bmc_options.select_targets(params(bmc_address='10.0.0.5', bmc_port=6230, username='admin',
                                                 password='secret', kg='K', cipher_suite=17, privilege='operator',
                                                 retries=0))
    assert len(selected) == 1
    name, tgt, node = selected[0]
    assert (name, node) == ('10.0.0.5', None)
    assert (tgt.name, tgt.address, tgt.port, tgt.protocol) == ('10.0.0.5', '10.0.0.5', 6230, 'ipmi')
    assert (tgt.username, tgt.password, tgt.kg) == ('admin', 'secret', 'K')
    assert (tgt.cipher_suite, tgt.privilege, tgt.retries) == (17, 'operator', 0)


def test_single_bmc_address_with_tls_options():
    name, tgt, _node = bmc_options.select_targets(params(
        bmc_address='10.0.0.5', protocol='redfish', name='rack1-u05', validate_certs=False, ca_path='/ca.pem',
        tls_fingerprint='ab:cd'))[0]
    assert name == 'rack1-u05'
    assert (tgt.port, tgt.validate_certs, tgt.ca_path, tgt.tls_fingerprint) == (443, False, '/ca.pem', 'ab:cd')


def test_single_bmc_address_finds_its_registry_node():
    selected = bmc_options.select_targets(params(bmc_address='10.0.1.1', name='rack1-u01'), REGISTRY)
    assert selected[0][2] is REGISTRY['nodes']['rack1-u01']
    assert bmc_options.select_targets(params(bmc_address='10.0.1.1'), REGISTRY)[0][2] is None


# ---------------------------------------------------------------------------
# nodes

def test_nodes_with_their_own_login_or_a_credential_set():
    selected = bmc_options.select_targets(params(
        username='top', password='top-pw', credentials=CREDENTIALS,
        nodes=[node_entry(name='a', address='10.0.0.1', username='own', password='own-pw'),
               node_entry(name='b', address='10.0.0.2', credential='rack2', protocol='redfish', port=8443),
               node_entry(name='c', address='10.0.0.3'),
               node_entry(name='d', address='10.0.0.4', password='only-pw')]))
    assert names(selected) == ['a', 'b', 'c', 'd']
    by_name = dict((name, tgt) for name, tgt, _node in selected)
    assert (by_name['a'].username, by_name['a'].password, by_name['a'].kg) == ('own', 'own-pw', None)
    assert (by_name['b'].username, by_name['b'].password, by_name['b'].kg) == ('root', 'calvin', 'KG')
    assert (by_name['b'].protocol, by_name['b'].port) == ('redfish', 8443)
    assert (by_name['c'].username, by_name['c'].password) == ('top', 'top-pw')
    assert (by_name['d'].username, by_name['d'].password) == ('', 'only-pw')
    assert all(node is None for _name, _tgt, node in selected)


def test_nodes_with_an_unknown_credential_set():
    with pytest.raises(InputError) as caught:
        bmc_options.select_targets(params(credentials=CREDENTIALS, nodes=[
            node_entry(name='a', address='10.0.0.1', credential='rack7')]))
    assert 'rack7' in str(caught.value)


def test_nothing_selected():
    with pytest.raises(InputError):
        bmc_options.select_targets(params())
    with pytest.raises(InputError):
        bmc_options.select_targets(params(limit=['rack*']))


# ---------------------------------------------------------------------------
# registry

def test_registry_by_name():
    selected = bmc_options.select_targets(params(name='rack2-u01', credentials=CREDENTIALS), REGISTRY)
    assert names(selected) == ['rack2-u01']
    _name, tgt, node = selected[0]
    assert node is REGISTRY['nodes']['rack2-u01']
    assert (tgt.address, tgt.port, tgt.protocol, tgt.username, tgt.kg) == ('10.0.2.1', 8443, 'redfish', 'root', 'KG')


def test_registry_unknown_name():
    with pytest.raises(InputError) as caught:
        bmc_options.select_targets(params(name='rack9-u01', credentials=CREDENTIALS), REGISTRY)
    assert 'rack9-u01' in str(caught.value)


@pytest.mark.parametrize('limit, expected', [
    (None, ['rack1-u01', 'rack1-u02', 'rack2-u01', 'spare']),
    ([], ['rack1-u01', 'rack1-u02', 'rack2-u01', 'spare']),
    (['rack1-*'], ['rack1-u01', 'rack1-u02']),
    (['*-u01'], ['rack1-u01', 'rack2-u01']),
    (['rack[12]-u0?', 'spare'], ['rack1-u01', 'rack1-u02', 'rack2-u01', 'spare']),
    (['spare', 'rack1-u02'], ['rack1-u02', 'spare']),
    (['spare', 'spa*'], ['spare']),
])
def test_registry_limit(limit, expected):
    selected = bmc_options.select_targets(params(limit=limit, credentials=CREDENTIALS), REGISTRY)
    assert names(selected) == expected
    for name, tgt, node in selected:
        assert tgt.name == name
        assert node is REGISTRY['nodes'][name]


def test_registry_limit_is_case_sensitive():
    with pytest.raises(InputError):
        bmc_options.select_targets(params(limit=['RACK1-*'], credentials=CREDENTIALS), REGISTRY)


def test_registry_limit_matching_nothing():
    with pytest.raises(InputError) as caught:
        bmc_options.select_targets(params(limit=['rack9-*', 'nope'], credentials=CREDENTIALS), REGISTRY)
    assert 'rack9-*' in str(caught.value) and 'nope' in str(caught.value)


def test_registry_node_with_a_credential_set_not_given():
    with pytest.raises(InputError) as caught:
        bmc_options.select_targets(params(limit=['rack2-*'], credentials={'default': CREDENTIALS['default']}),
                                   REGISTRY)
    assert "'rack2'" in str(caught.value)
    assert 'rack2-u01' in str(caught.value)


def test_username_without_credentials_is_the_default_set():
    selected = bmc_options.select_targets(params(limit=['rack1-*', 'spare'], username='ops', password='pw', kg='K'),
                                          REGISTRY)
    assert names(selected) == ['rack1-u01', 'rack1-u02', 'spare']
    for _name, tgt, _node in selected:
        assert (tgt.username, tgt.password, tgt.kg) == ('ops', 'pw', 'K')
    with pytest.raises(InputError):  # rack2-u01 wants the set 'rack2'
        bmc_options.select_targets(params(name='rack2-u01', username='ops', password='pw'), REGISTRY)


def test_credentials_win_over_username():
    selected = bmc_options.select_targets(params(name='rack1-u01', username='ops', password='pw',
                                                 credentials=CREDENTIALS), REGISTRY)
    assert selected[0][1].username == 'admin'


def test_no_login_at_all_for_registry_nodes():
    with pytest.raises(InputError) as caught:
        bmc_options.select_targets(params(name='rack1-u01'), REGISTRY)
    assert 'none' in str(caught.value)


def test_registry_options_reach_every_target():
    selected = bmc_options.select_targets(params(credentials=CREDENTIALS, cipher_suite=17, retries=5,
                                                 privilege='user', validate_certs=False), REGISTRY)
    for _name, tgt, _node in selected:
        assert (tgt.cipher_suite, tgt.retries, tgt.privilege, tgt.validate_certs) == (17, 5, 'user', False)
