# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Managed by Ansible (datacenter.iaas.openstack_netfilter); local changes are overwritten.
"""ebtables-nft, with one repair: a rule that cannot be deleted by its specification is deleted by its number.

ebtables-nft 1.8.9 (Debian 12) fails to delete a rule with an ``--among-src``/``--among-dst`` match by naming
the rule ("RULE_DELETE failed (Invalid argument)"): the delete request carries a new anonymous set for the
match, which current kernels refuse. Neutron's Linux bridge agent deletes its MAC anti-spoofing rules exactly
that way, and retries forever while it holds its ebtables lock, so no later port is wired. Deleting the same
rule by its position works. This wrapper is installed as the ``ebtables`` alternative where the kernel has no
legacy ebtables tables: it runs ebtables-nft unchanged and, only when a delete by specification fails, finds
the identical rule in the chain's numbered listing and deletes it by number. Everything else passes through.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import subprocess
import sys

REAL = '/usr/sbin/ebtables-nft'


def parse_delete(argv):
    """(table, chain, rule words) of a delete by specification, else None."""
    table, index = 'filter', 0
    while index < len(argv):
        word = argv[index]
        if word in ('-t', '--table') and index + 1 < len(argv):
            table, index = argv[index + 1], index + 2
        elif word == '--concurrent':
            index += 1
        elif word in ('-D', '--delete') and index + 1 < len(argv):
            rule = argv[index + 2:]
            # A number or a range (3, 2:5) is a delete by position already.
            if not rule or (len(rule) == 1 and rule[0].replace(':', '').lstrip('-').isdigit()):
                return None
            return table, argv[index + 1], rule
        else:
            return None   # any other command (or option before -D) is passed through untouched
    return None


def rule_number(table, chain, rule):
    """The position of the first rule of ``chain`` that lists as ``rule``, or None."""
    listing = subprocess.run([REAL, '-t', table, '-L', chain, '--Ln'], capture_output=True, text=True, check=False)
    for line in listing.stdout.splitlines():
        words = line.split()
        number = words[0].rstrip('.') if words else ''
        if number.isdigit() and words[1:] == rule:
            return number
    return None


def main(argv):
    proc = subprocess.run([REAL] + argv, capture_output=True, check=False)
    delete = parse_delete(argv) if proc.returncode else None
    if delete:
        table, chain, rule = delete
        number = rule_number(table, chain, rule)
        if number is not None:
            retry = subprocess.run([REAL, '-t', table, '--concurrent', '-D', chain, number], capture_output=True,
                                   check=False)
            if retry.returncode == 0:
                proc = retry
    sys.stdout.buffer.write(proc.stdout)
    sys.stderr.buffer.write(proc.stderr)
    return proc.returncode


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
