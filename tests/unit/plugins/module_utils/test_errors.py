# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the core exception family (plugins/module_utils/errors.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import errors


def test_bmc_unreachable_names_node_and_address():
    text = str(errors.BmcUnreachable('no answer', node='n1', address='127.0.0.1'))
    assert 'no answer' in text
    assert 'n1' in text
    assert '127.0.0.1' in text


def test_message_alone_without_location():
    assert str(errors.InputError('bad MAC')) == 'bad MAC'


@pytest.mark.parametrize('cls, kind', [
    (errors.IaasError, 'error'),
    (errors.InputError, 'invalid_input'),
    (errors.RegistryError, 'registry'),
    (errors.TransitionError, 'transition'),
    (errors.BmcError, 'bmc'),
    (errors.BmcUnreachable, 'unreachable'),
    (errors.BmcTimeout, 'timeout'),
    (errors.BmcAuthError, 'bad_credentials'),
    (errors.BmcRefused, 'refused'),
    (errors.BmcUnsupported, 'unsupported'),
])
def test_every_error_is_an_iaas_error_with_a_kind(cls, kind):
    error = cls('boom', node='n1')
    assert isinstance(error, errors.IaasError)
    assert error.kind == kind


def test_timeout_is_caught_as_unreachable():
    with pytest.raises(errors.BmcUnreachable):
        raise errors.BmcTimeout('deadline passed', address='127.0.0.1')
