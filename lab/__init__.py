# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Simulated datacenter pieces for tests, benchmarks and the demo (loopback only).

- ``lab.virtbmc``: a farm of IPMI BMCs built on pyghmi's BMC server class.
- ``lab.ipmisim``: OpenIPMI's ``ipmi_sim`` as an independent IPMI BMC.
- ``lab.redfish``: sushy-tools' Redfish emulator with TLS and basic auth.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import time


def free_port(kind=socket.SOCK_DGRAM, address='127.0.0.1'):
    """Return a port that is free right now on ``address`` (UDP by default)."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind((address, 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def wait_until(predicate, timeout, interval=0.1):
    """Call ``predicate`` until it returns a true value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)
