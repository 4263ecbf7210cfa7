# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A refused Xen node: the role stopped in its preflight checks, before installing anything."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def test_nothing_installed(host):
    assert not host.package('nova-compute').is_installed
    assert not host.file('/etc/nova/nova.conf').exists
