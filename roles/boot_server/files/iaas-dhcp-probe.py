# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Look for DHCP servers on one network: the boot_server role's pre-flight check.

Broadcasts a DHCPDISCOVER on the interface (from UDP port 68, bound to the
interface, broadcast flag set so every server answers by broadcast) and
collects the DHCPOFFERs that arrive within the timeout, re-sending the
discover every second. A PXE vendor class rides along, so proxy-DHCP (PXE)
servers answer too. Offers whose server identifier or source address is in
--ignore (the boot server's own addresses) are dropped.

Prints one JSON document on stdout:
  {"interface": ..., "mac": ..., "seconds": ..., "offers": [OFFER...], "conflicts": [OFFER...]}
with OFFER = {"server": id, "source": ip, "yiaddr": ip or null, "pxe": bool, "bootfile": str or null}.
A conflict is any offer in --mode full (another DHCP server); in --mode proxy, where a DHCP server is
expected, only offers that carry PXE boot information (another PXE server) conflict.
Exit status 0 when the probe ran (whatever it found), 2 when it could not run.

Standard library only; needs root (port 68, SO_BINDTODEVICE). Run with python3; the boot_server role
installs it with a wrapper as /usr/local/sbin/iaas-dhcp-probe.
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

DHCP_SERVER_PORT = 67
DHCP_CLIENT_PORT = 68
MAGIC_COOKIE = b'\x63\x82\x53\x63'
BOOTREQUEST, BOOTREPLY = 1, 2
DHCPDISCOVER, DHCPOFFER = 1, 2
OPT_PAD, OPT_END = 0, 255
OPT_MESSAGE_TYPE, OPT_SERVER_ID, OPT_PARAMS, OPT_VENDOR_CLASS, OPT_BOOTFILE = 53, 54, 55, 60, 67
OPT_TFTP_SERVER, OPT_CLIENT_ARCH, OPT_CLIENT_NDI, OPT_UUID = 66, 93, 94, 97
PXE_CLASS = b'PXEClient:Arch:00000:UNDI:002001'
SO_BINDTODEVICE = getattr(socket, 'SO_BINDTODEVICE', 25)
RESEND_SECONDS = 1.0


def interface_mac(interface):
    with open('/sys/class/net/%s/address' % interface) as handle:
        text = handle.read().strip()
    return bytes(int(part, 16) for part in text.split(':'))


def discover_packet(xid, mac):
    """A DHCPDISCOVER from ``mac`` that asks for a broadcast answer and looks like a PXE client."""
    header = struct.pack('!BBBBIHH4s4s4s4s16s64s128s',
                         BOOTREQUEST, 1, 6, 0, xid, 0, 0x8000,
                         b'\0' * 4, b'\0' * 4, b'\0' * 4, b'\0' * 4,
                         mac.ljust(16, b'\0'), b'\0' * 64, b'\0' * 128)
    options = bytearray(MAGIC_COOKIE)
    options += bytes([OPT_MESSAGE_TYPE, 1, DHCPDISCOVER])
    options += bytes([OPT_PARAMS, 6, 1, 3, 6, OPT_TFTP_SERVER, OPT_BOOTFILE, OPT_VENDOR_CLASS])
    options += bytes([OPT_VENDOR_CLASS, len(PXE_CLASS)]) + PXE_CLASS
    options += bytes([OPT_CLIENT_ARCH, 2, 0, 0])            # x86 BIOS
    options += bytes([OPT_CLIENT_NDI, 3, 1, 2, 1])          # UNDI 2.1
    options += bytes([OPT_UUID, 17, 0]) + b'\0' * 16
    options += bytes([OPT_END])
    packet = header + bytes(options)
    return packet.ljust(300, b'\0')                         # BOOTP minimum size


def parse_options(data):
    options = {}
    index = 0
    while index < len(data):
        code = data[index]
        if code == OPT_PAD:
            index += 1
            continue
        if code == OPT_END or index + 1 >= len(data):
            break
        length = data[index + 1]
        value = data[index + 2:index + 2 + length]
        options[code] = options.get(code, b'') + value      # RFC 3396: repeated options concatenate
        index += 2 + length
    return options


def _text(raw):
    text = raw.split(b'\0', 1)[0].decode('ascii', 'replace')
    return ''.join(char if char.isprintable() else '?' for char in text)[:128] or None


def parse_offer(packet, xid):
    """The offer's facts, or None when ``packet`` is not a DHCPOFFER answering ``xid``."""
    if len(packet) < 240 or packet[236:240] != MAGIC_COOKIE:
        return None
    op, _htype, _hlen, _hops, reply_xid = struct.unpack('!BBBBI', packet[:8])
    if op != BOOTREPLY or reply_xid != xid:
        return None
    options = parse_options(packet[240:])
    if options.get(OPT_MESSAGE_TYPE) != bytes([DHCPOFFER]):
        return None
    yiaddr = socket.inet_ntoa(packet[16:20])
    siaddr = socket.inet_ntoa(packet[20:24])
    server_id = options.get(OPT_SERVER_ID)
    bootfile = _text(options.get(OPT_BOOTFILE, b'')) or _text(packet[108:236])
    vendor = options.get(OPT_VENDOR_CLASS, b'')
    return {
        'server': socket.inet_ntoa(server_id[:4]) if server_id and len(server_id) >= 4 else None,
        'yiaddr': None if yiaddr == '0.0.0.0' else yiaddr,
        'siaddr': None if siaddr == '0.0.0.0' else siaddr,
        'pxe': vendor.startswith(b'PXEClient') or bootfile is not None,
        'bootfile': bootfile,
    }


def probe(interface, timeout, ignore):
    mac = interface_mac(interface)
    xid = struct.unpack('!I', os.urandom(4))[0]
    packet = discover_packet(xid, mac)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode() + b'\0')
        sock.bind(('0.0.0.0', DHCP_CLIENT_PORT))
        sock.setblocking(False)
        offers = {}
        start = time.monotonic()
        deadline = start + timeout
        next_send = start
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_send:
                sock.sendto(packet, ('255.255.255.255', DHCP_SERVER_PORT))
                next_send = now + RESEND_SECONDS
            ready, _w, _x = select.select([sock], [], [], max(0.0, min(deadline, next_send) - now))
            if not ready:
                continue
            try:
                data, (source, _port) = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                continue
            offer = parse_offer(data, xid)
            if offer is None:
                continue
            offer['source'] = source
            server = offer['server'] or source
            if server in ignore or source in ignore:
                continue
            offers.setdefault((server, offer['pxe']), offer)
        return mac, round(time.monotonic() - start, 2), list(offers.values())
    finally:
        sock.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='iaas-dhcp-probe', description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--interface', required=True, help='network interface to probe')
    parser.add_argument('--timeout', type=float, default=5.0, help='seconds to listen for offers [%(default)s]')
    parser.add_argument('--ignore', action='append', default=[], metavar='ADDRESS',
                        help="this host's own server addresses; repeat for more")
    parser.add_argument('--mode', choices=('full', 'proxy'), default='full',
                        help='full: any other DHCP server conflicts; proxy: only other PXE servers do')
    args = parser.parse_args(argv)
    try:
        mac, seconds, offers = probe(args.interface, args.timeout, set(args.ignore))
    except (OSError, ValueError) as exc:
        print(json.dumps({'interface': args.interface, 'error': '%s' % exc}))
        return 2
    conflicts = [offer for offer in offers if args.mode == 'full' or offer['pxe']]
    print(json.dumps({
        'interface': args.interface, 'mac': ':'.join('%02x' % byte for byte in mac), 'seconds': seconds,
        'offers': offers, 'conflicts': conflicts,
    }, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
