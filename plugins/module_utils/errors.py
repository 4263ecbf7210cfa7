# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception family of the collection's core.

The core raises these; only the edges (modules, the inventory plugin) turn them
into fail_json or AnsibleError. ``kind`` is a short machine-readable class that
modules return so playbooks can branch on it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class IaasError(Exception):
    """Base class: a problem the user can act on, said in plain words."""

    kind = 'error'

    def __init__(self, message, node=None, address=None):
        super(IaasError, self).__init__(message)
        self.message = message
        self.node = node
        self.address = address

    def __str__(self):
        where = []
        if self.node and not (self.address and self.address.startswith(str(self.node) + ':')):
            where.append('node %s' % self.node)
        if self.address:
            where.append('BMC %s' % self.address)
        if where:
            return '%s: %s' % (', '.join(where), self.message)
        return self.message


class InputError(IaasError):
    """Bad input from the user: nothing was written or sent."""

    kind = 'invalid_input'


class RegistryError(IaasError):
    """The hardware registry could not be read, validated or written."""

    kind = 'registry'


class TransitionError(IaasError):
    """A lifecycle transition that is unknown, or guarded and not forced."""

    kind = 'transition'


class BmcError(IaasError):
    """Base class for failures talking to a BMC."""

    kind = 'bmc'


class BmcUnreachable(BmcError):
    kind = 'unreachable'


class BmcAuthError(BmcError):
    kind = 'bad_credentials'


class BmcRefused(BmcError):
    """The BMC understood but refused: privilege too low, or command rejected."""

    kind = 'refused'


class BmcUnsupported(BmcError):
    kind = 'unsupported'


class BmcTimeout(BmcUnreachable):
    """The hard wall-clock deadline of a call ran out."""

    kind = 'timeout'
