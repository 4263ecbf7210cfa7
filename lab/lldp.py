# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's switch, as far as LLDP goes: an LLDP frame every second on each VM's tap.

A real switch announces itself on every port (chassis id, system name, port id,
port description), usually every 30 s. The lab plays that switch on br-prov: one
process in the lab's namespace writes an LLDP frame with an AF_PACKET socket on each
tap, so the frame reaches exactly the VM NIC behind that tap, as a switch port would.
The discovery ramdisk's listener (lldpad) reports what it heard; the tests compare
that with ``neighbour()``, what the lab sent.

    python -m lab.lldp --system-name iaas-lab-sw1 --interval 1 tap1n0="lab-0001 nic0" ...

Runs until SIGTERM. A tap whose VM is off has no carrier: sending fails there and is retried
at the next round.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import hashlib
import signal
import socket
import struct
import sys
import time

LLDP_MULTICAST = b'\x01\x80\xc2\x00\x00\x0e'   # nearest bridge: no bridge forwards it
ETH_P_LLDP = 0x88cc
SWITCH = 'iaas-lab-sw1'

# TLV types and subtypes of IEEE 802.1AB.
TLV_END, TLV_CHASSIS_ID, TLV_PORT_ID, TLV_TTL, TLV_PORT_DESCRIPTION, TLV_SYSTEM_NAME = 0, 1, 2, 3, 4, 5
CHASSIS_LOCAL = 7          # chassis id subtype "locally assigned": the switch's name
PORT_INTERFACE_NAME = 5    # port id subtype "interface name"


def _tlv(kind, value):
    if len(value) > 511:
        raise ValueError('an LLDP TLV holds at most 511 bytes')
    return struct.pack('!H', kind << 9 | len(value)) + value


def port_mac(port):
    """A stable, locally administered unicast MAC for a switch port (the frames' source)."""
    digest = bytearray(hashlib.sha256(port.encode('ascii')).digest()[:6])
    digest[0] = (digest[0] & 0xfc) | 0x02
    return bytes(digest)


def frame(port, description, system_name=SWITCH, ttl=120):
    """One LLDP frame as the lab switch sends it on ``port``."""
    body = (_tlv(TLV_CHASSIS_ID, bytes([CHASSIS_LOCAL]) + system_name.encode('ascii'))
            + _tlv(TLV_PORT_ID, bytes([PORT_INTERFACE_NAME]) + port.encode('ascii'))
            + _tlv(TLV_TTL, struct.pack('!H', ttl))
            + _tlv(TLV_PORT_DESCRIPTION, description.encode('ascii'))
            + _tlv(TLV_SYSTEM_NAME, system_name.encode('ascii'))
            + _tlv(TLV_END, b''))
    return LLDP_MULTICAST + port_mac(port) + struct.pack('!H', ETH_P_LLDP) + body


def neighbour(port, description, system_name=SWITCH):
    """What a listener behind ``port`` should report (the report schema's lldp entry, minus interface)."""
    return {'chassis_id': system_name, 'system_name': system_name, 'port_id': port,
            'port_description': description}


def port_description(machine_name, nic_index):
    return '%s nic%d' % (machine_name, nic_index)


def send_forever(ports, system_name=SWITCH, interval=1.0, stop=None):
    """Send ``{port: description}`` frames every ``interval`` seconds until ``stop()`` is true."""
    frames = dict((port, frame(port, description, system_name)) for port, description in ports.items())
    sockets = {}
    while not (stop and stop()):
        for port, data in frames.items():
            try:
                if port not in sockets:
                    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
                    sock.bind((port, 0))
                    sockets[port] = sock
                sockets[port].send(data)
            except OSError:
                # No carrier (VM off) or the tap is gone: try again next round with a new socket.
                sock = sockets.pop(port, None)
                if sock is not None:
                    sock.close()
        time.sleep(interval)
    for sock in sockets.values():
        sock.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lab.lldp', description="The lab switch's LLDP sender.")
    parser.add_argument('--system-name', default=SWITCH)
    parser.add_argument('--interval', type=float, default=1.0)
    parser.add_argument('ports', nargs='+', metavar='TAP=DESCRIPTION')
    args = parser.parse_args(argv)
    ports = dict(item.split('=', 1) if '=' in item else (item, item) for item in args.ports)
    flags = {'stop': False}

    def on_signal(*dummy):
        flags['stop'] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print('LLDP as %s every %.1f s on %s' % (args.system_name, args.interval, ', '.join(sorted(ports))), flush=True)
    send_forever(ports, args.system_name, args.interval, stop=lambda: flags['stop'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
