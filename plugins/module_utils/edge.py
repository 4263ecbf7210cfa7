# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one edge between the collection's core and Ansible: what every module does the same way.

``IaasModule`` is an AnsibleModule that fails at once, with Ansible's own wording, when a Python library
the module needs is missing, and whose ``run`` turns the core's one exception family into ``fail_json``
with ``msg`` and ``error_kind``. A module is then its argument spec and a function from the module to its
result::

    def work(module):
        ...
        return dict(changed=..., ...)

    def main():
        IaasModule(argument_spec=spec(), supports_check_mode=True, libraries=[('pyghmi', PYGHMI_IMPORT_ERROR)]).run(work)

``work`` may raise ``Failed`` to fail with a result of its own (a fleet call returns its per-node results
even when it fails).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError


class Failed(IaasError):
    """Fail the module with ``result`` besides the message (``error_kind`` is left out when None)."""

    def __init__(self, message, result=None, error_kind=None):
        super(Failed, self).__init__(message)
        self.result = result or {}
        self.error_kind = error_kind


class IaasModule(AnsibleModule):
    """AnsibleModule with the collection's edge. ``libraries``: ``[(pip name, import error or None)]``."""

    def __init__(self, libraries=(), **kwargs):
        super(IaasModule, self).__init__(**kwargs)
        for name, error in libraries:
            if error is not None:
                self.fail_json(msg=missing_required_lib(name), exception=str(error))

    def run(self, work):
        """``exit_json(**work(self))``; an IaasError fails with its message and kind, anything else with a trace."""
        try:
            result = work(self)
        except Failed as exc:
            extra = dict(exc.result)
            if exc.error_kind is not None:
                extra['error_kind'] = exc.error_kind
            self.fail_json(msg=exc.message, **extra)
        except IaasError as exc:
            self.fail_json(msg=str(exc), error_kind=exc.kind)
        except Exception as exc:  # a bug: say so, with the trace
            self.fail_json(msg='unexpected %s: %s' % (exc.__class__.__name__, exc), exception=traceback.format_exc())
        self.exit_json(**result)
