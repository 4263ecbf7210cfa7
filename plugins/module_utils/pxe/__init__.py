# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Boot files of the boot server (docs/architecture.md, "Boot server layout"), one job per file.

* ``checks``: small validators of what users type (paths, URLs, kernel arguments, checksums, host names);
* ``server``: the boot server as the boot files name it (base URL, GRUB device, its IPv4 address);
* ``pool``: the IPv4 addresses to hand out (a netaddr IPSet) and the boot server's subnet;
* ``settings``: the validated call-wide options; ``nodes``: the validated nodes;
* ``registry_nodes``: nodes taken from the hardware registry, and what is recorded back into it;
* ``hosts_file``: the dnsmasq dhcp-hostsfile, read and written;
* ``templates`` and ``render``: the boot files, rendered in memory by pure functions;
* ``allocate``: who gets which address; ``layout``: where files may go, and what is there now;
* ``plan``: what a run would change, computed without changing anything;
* ``apply``: writing that plan; ``run``: plan and apply under the root's lock, the one path of check mode
  and real runs.

Every path is built from a normalized MAC or a validated host name, and is checked to stay inside its root
(TFTP, HTTP) after symlinks are resolved.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type
