# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tiny raw disk image whose MBR boot sector prints a marker on COM1 and halts.

The deploy round of the QEMU lab (tests/integration/test_lab_deploy.py) writes it with the
deploy ramdisk and then boots the VM from its disk: the marker on the serial console proves
that the machine came up from what was deployed. The 16-bit code is assembled here by hand
(no assembler needed); BIOS loads it at 0000:7C00:

    cli; cld; xor ax,ax; mov ds,ax; mov si,msg
    next:  lodsb; test al,al; jz done; mov bl,al
    wait:  mov dx,0x3fd; in al,dx; test al,0x20; jz wait     ; LSR: transmit holding register empty
           mov dx,0x3f8; mov al,bl; out dx,al; jmp next
    done:  hlt; jmp done

CLI: ``python -m lab.marker_image OUT [--token T] [--gzip]`` prints the marker and the sha256.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import gzip
import hashlib
import os
import struct
import uuid

LOAD_ADDRESS = 0x7c00
SECTOR = 512
PREFIX = 'IAAS-DEPLOYED-'


def boot_sector(marker):
    """The 512-byte MBR that writes ``marker`` + CRLF to COM1 (polled) and halts."""
    text = (marker + '\r\n').encode('ascii') + b'\0'
    code = bytearray()
    code += b'\xfa\xfc'                       # 0: cli; cld
    code += b'\x31\xc0\x8e\xd8'               # 2: xor ax,ax; mov ds,ax
    code += b'\xbe\x00\x00'                   # 6: mov si,msg (patched below)
    code += b'\xac\x84\xc0'                   # 9: next: lodsb; test al,al
    code += b'\x74\x12'                       # 12: jz done (32)
    code += b'\x88\xc3'                       # 14: mov bl,al
    code += b'\xba\xfd\x03\xec'               # 16: wait: mov dx,0x3fd; in al,dx
    code += b'\xa8\x20\x74\xf8'               # 20: test al,0x20; jz wait (16)
    code += b'\xba\xf8\x03\x88\xd8\xee'       # 24: mov dx,0x3f8; mov al,bl; out dx,al
    code += b'\xeb\xe9'                       # 30: jmp next (9)
    code += b'\xf4\xeb\xfd'                   # 32: done: hlt; jmp done (32)
    assert len(code) == 35
    code[7:9] = struct.pack('<H', LOAD_ADDRESS + len(code))
    code += text
    if len(code) > 440:                       # the disk signature and partition table start at 440
        raise ValueError('marker too long')
    return bytes(code) + b'\0' * (SECTOR - 2 - len(code)) + b'\x55\xaa'


def build(path, token=None, sectors=2048, compress=False):
    """Write the image (``sectors`` * 512 bytes, raw; gzip with ``compress``); return (marker, sha256 of the file)."""
    marker = PREFIX + (token or uuid.uuid4().hex[:16])
    data = boot_sector(marker) + b'\0' * (SECTOR * (sectors - 1))
    if compress:
        data = gzip.compress(data, mtime=0)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as handle:
        handle.write(data)
    os.rename(tmp, path)
    return marker, hashlib.sha256(data).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('out')
    parser.add_argument('--token')
    parser.add_argument('--sectors', type=int, default=2048)
    parser.add_argument('--gzip', action='store_true')
    args = parser.parse_args(argv)
    marker, digest = build(args.out, args.token, args.sectors, args.gzip)
    print('%s %s' % (marker, digest))


if __name__ == '__main__':
    main()
