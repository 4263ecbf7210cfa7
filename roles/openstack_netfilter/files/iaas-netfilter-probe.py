# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which ebtables tools can do what Neutron's Linux bridge agent asks of them, on this host's kernel.

Tried in a network namespace of its own (made here, gone when this process exits), so the host's own
rules are never touched: for each of ebtables-nft and ebtables-legacy, make a chain in the nat table, add a
MAC anti-spoofing rule the way the agent does (``--among-src``), list it, and delete it by the listed rule,
as the agent does; where that fails, try deleting it by its number. Also says which variant iptables is.
Prints one JSON object: what each tool did, and which of the role's choices work (nft and legacy: the tool
deletes by rule; nft_compat: ebtables-nft deletes by number, which files/iaas-ebtables-nft.py relies on).
Exits 0 unless the namespace cannot be made.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ctypes
import json
import os
import subprocess
import sys

CLONE_NEWNET = 0x40000000
CHAIN = 'iaas-probe'
RULE = ['-i', 'iaas-probe0', '--among-src', '02:00:00:00:00:01', '-j', 'RETURN']
TOOLS = {'nft': '/usr/sbin/ebtables-nft', 'legacy': '/usr/sbin/ebtables-legacy'}


def run(argv):
    """(exit code, standard output, the error on one line); a missing program is exit code 127."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as err:
        return 127, '', str(err)
    return proc.returncode, proc.stdout, ' '.join((proc.stderr or proc.stdout).split())


def try_tool(tool):
    """What the tool can do in the nat table: nat, delete_by_rule, delete_by_number, and the first error."""
    result = {'present': os.path.exists(tool), 'nat': False, 'delete_by_rule': False, 'delete_by_number': False}
    if not result['present']:
        return result
    for step in (['-N', CHAIN], ['-A', CHAIN] + RULE):
        code, _out, error = run([tool, '-t', 'nat'] + step)
        if code:
            result['error'] = error
            return result
    result['nat'] = True
    listing = run([tool, '-t', 'nat', '-L', CHAIN])[1]
    listed = next((line.split() for line in listing.splitlines() if '--among-src' in line), RULE)
    code, _out, error = run([tool, '-t', 'nat', '-D', CHAIN] + listed)
    result['delete_by_rule'] = code == 0
    if code:
        result['error'] = error
        result['delete_by_number'] = run([tool, '-t', 'nat', '-D', CHAIN, '1'])[0] == 0
    run([tool, '-t', 'nat', '-X', CHAIN])
    return result


def iptables_variant():
    code, out = run(['iptables', '--version'])[:2]
    if code:
        return 'absent'
    return 'nft' if '(nf_tables)' in out else 'legacy' if '(legacy)' in out else 'unknown'


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        print(json.dumps({'error': 'cannot make a network namespace to probe in: %s'
                          % os.strerror(ctypes.get_errno())}))
        return 1
    tools = dict((name, try_tool(tool)) for name, tool in TOOLS.items())
    works = {'nft': tools['nft']['delete_by_rule'], 'legacy': tools['legacy']['delete_by_rule'],
             'nft_compat': tools['nft']['delete_by_number']}
    print(json.dumps({'ebtables': tools, 'works': works, 'iptables': iptables_variant()}, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
