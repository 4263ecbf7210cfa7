# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Entry point of the report receiver service on the boot server.

The boot_server role copies this script together with the collection's
plugins/module_utils/receiver.py and reports.py into one directory (the three
files are the whole service: standard library only) and runs it under systemd:

    iaas-report-receiver.py --listen 198.18.0.1:8088 --spool /srv/iaas/reports --allow 198.18.0.0/24

In a checkout it also runs with the collection on PYTHONPATH.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if os.path.isfile(os.path.join(HERE, 'receiver.py')):
    if sys.path[0] != HERE:
        sys.path.insert(0, HERE)
    import receiver  # pylint: disable=import-error
else:
    from ansible_collections.datacenter.iaas.plugins.module_utils import receiver


if __name__ == '__main__':
    sys.exit(receiver.main())
