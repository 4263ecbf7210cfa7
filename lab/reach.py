# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reach an address the way a user outside the cloud would: an ICMP echo, then an HTTP GET of ``/``.

Runs with the standard library alone (Python 3.5+), as root, on a node that has no ping or curl, e.g. the
lab's network node, whose provider interface stands in for the upstream router:
``podman exec -i NODE python3 - ADDRESS [--timeout S] < lab/reach.py``. Retries both until the timeout and
prints one JSON object: ``{"address", "ping_ms", "http_status", "http_body", "error"}``; exits 0 only when
both answered.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import json
import os
import select
import socket
import struct
import sys
import time
from urllib.request import urlopen


def checksum(data):
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff)
    total += total >> 16
    return ~total & 0xffff


def ping(address, wait=1.0):
    """One ICMP echo; the round trip in milliseconds, or None when no reply came within ``wait``."""
    ident = os.getpid() & 0xffff
    payload = b'datacenter.iaas'
    header = struct.pack('!BBHHH', 8, 0, 0, ident, 1)
    packet = struct.pack('!BBHHH', 8, 0, checksum(header + payload), ident, 1) + payload
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        started = time.monotonic()
        sock.sendto(packet, (address, 0))
        deadline = started + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return None
            data, source = sock.recvfrom(2048)
            offset = (data[0] & 0x0f) * 4  # past the IP header
            kind, _code, _sum, reply_ident, _seq = struct.unpack('!BBHHH', data[offset:offset + 8])
            if source[0] == address and kind == 0 and reply_ident == ident:
                return (time.monotonic() - started) * 1000
    finally:
        sock.close()


def fetch(address, wait=3.0):
    """HTTP GET http://ADDRESS/: (status, body text)."""
    with urlopen('http://%s/' % address, timeout=wait) as response:
        return response.status, response.read(4096).decode('utf-8', 'replace')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('address')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds to keep trying (default 60)')
    args = parser.parse_args()
    result = {'address': args.address, 'ping_ms': None, 'http_status': None, 'http_body': None, 'error': None}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and result['ping_ms'] is None:
        result['ping_ms'] = ping(args.address)
    while time.monotonic() < deadline and result['http_status'] is None:
        try:
            result['http_status'], result['http_body'] = fetch(args.address)
        except (OSError, ValueError) as exc:
            result['error'] = str(exc)
            time.sleep(1)
    if result['http_status'] is not None:
        result['error'] = None
    print(json.dumps(result))
    return 0 if result['ping_ms'] is not None and result['http_status'] == 200 else 1


if __name__ == '__main__':
    sys.exit(main())
