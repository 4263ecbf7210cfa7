# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenIPMI's ``ipmi_sim`` as an independent IPMI BMC on loopback.

Generates ``lan.conf`` (one LAN channel on ``address:port``, one admin user), a
small ``.emu`` command file (BMC at IPMB 0x20 with a FRU image holding vendor,
model and serial) and a ``chassis_control`` helper script that keeps power and
boot device in a state file. ``state()`` reads that file.

Quirks of ipmi_sim 2.0.33 (Debian 12), all seen here:

- RMCP+ cipher suites: it speaks suite 3 but refuses 17 ("invalid authentication
  algorithm"); pyghmi falls back to 3 by itself, ipmitool needs ``-C 3``.
- It never sets the boot-flags "valid" bit, so reading the boot device back says
  ``default`` even after PXE was set (the state file shows what was set).
- It maps boot selector "force disk" to its "default" and answers Read FRU Data
  only up to 33 bytes per request (0xc8 beyond that); pyghmi's FRU reader asks
  for the whole FRU at once and does not back off on 0xc8, so
  ``get_inventory_of_component('System')`` fails here; ipmitool ``fru print`` works.
- Power cycle is "off now, on again one second later".

Usage::

    with IpmiSim(port=lab.free_port()) as bmc:
        bmc.state()   # {'power': 'off', 'boot': 'default', 'resets': 0}
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import signal
import subprocess
import tempfile
import uuid as uuidlib

from lab.virtbmc import build_fru, probe_bmcs

IPMI_SIM = 'ipmi_sim'

# ipmi_sim runs "<script> get power" and reads "power:1" back; it runs
# "<script> set power 1", "set boot pxe", "set reset 1", "set shutdown 1",
# "set identify 15 0" for changes. Quoting by ipmi_sim: values arrive as one word each.
CHASSIS_SCRIPT = r'''#!/bin/sh
# chassis_control helper for ipmi_sim: STATEFILE get NAME... | STATEFILE set NAME VALUE...
state="$1"; op="$2"; shift 2
[ -f "$state" ] || printf 'power=0\nboot=default\nresets=0\n' > "$state"
get_val() { sed -n "s/^$1=//p" "$state"; }
set_val() {
    tmp="$state.tmp.$$"
    grep -v "^$1=" "$state" > "$tmp"
    echo "$1=$2" >> "$tmp"
    mv "$tmp" "$state"
}
case "$op" in
get)
    for name in "$@"; do echo "$name:$(get_val "$name")"; done ;;
set)
    while [ $# -ge 2 ]; do
        case "$1" in
        power|boot) set_val "$1" "$2" ;;
        reset) set_val resets $(( $(get_val resets) + 1 )) ;;
        shutdown) set_val power 0 ;;
        esac
        shift 2
    done ;;
esac
exit 0
'''


class IpmiSim(object):
    """Run one ``ipmi_sim`` BMC; a context manager that starts it and stops it cleanly."""

    def __init__(self, address='127.0.0.1', port=9623, username='admin', password='password',
                 serial='SIM-IPMISIM-0001', vendor='OpenIPMI', model='ipmi_sim', uuid=None,
                 power='off', workdir=None, start_timeout=10.0):
        self.address = address
        self.port = int(port)
        self.username = username
        self.password = password
        self.serial = serial
        self.vendor = vendor
        self.model = model
        self.uuid = str(uuid or uuidlib.uuid5(uuidlib.NAMESPACE_OID, serial))
        self.initial_power = power
        self.start_timeout = start_timeout
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.proc = None

    # --- files

    def _path(self, name):
        return os.path.join(self.workdir, name)

    def _write_files(self):
        script = self._path('chassis_control.sh')
        with open(script, 'w') as handle:
            handle.write(CHASSIS_SCRIPT)
        os.chmod(script, 0o755)
        with open(self._path('power.state'), 'w') as handle:
            handle.write('power=%d\nboot=default\nresets=0\n' % (self.initial_power == 'on'))
        # GUID bytes go on the wire as written; clients decode them as SMBIOS
        # (little-endian first half), like pyghmi's decode_wireformat_uuid.
        guid = uuidlib.UUID(self.uuid).bytes_le.hex()
        with open(self._path('lan.conf'), 'w') as handle:
            handle.write('\n'.join([
                'name "labsim"',
                'set_working_mc 0x20',
                '  startlan 1',
                '    addr %s %d' % (self.address, self.port),
                '    priv_limit admin',
                '    allowed_auths_callback none md2 md5 straight',
                '    allowed_auths_user none md2 md5 straight',
                '    allowed_auths_operator none md2 md5 straight',
                '    allowed_auths_admin none md2 md5 straight',
                '    guid %s' % guid,
                '  endlan',
                '  chassis_control "%s %s"' % (script, self._path('power.state')),
                '  user 2 true "%s" "%s" admin 10 none md2 md5 straight'
                % (self.username, self.password),
                '',
            ]))
        fru = build_fru(self.vendor, self.model, self.serial, 'labsim')
        with open(self._path('bmc.emu'), 'w') as handle:
            handle.write('\n'.join([
                'mc_setbmc 0x20',
                # IPMB 0x20, device id 0, revision 3, firmware 1.10, chassis + FRU + SDR repo
                'mc_add 0x20 0 no-device-sdrs 0x03 1 0x10 0x9f 0x000000 0x0001',
                'mc_set_guid 0x20 %s' % guid,
                'mc_add_fru_data 0x20 0 %d data %s'
                % (len(fru), ' '.join('0x%02x' % byte for byte in bytearray(fru))),
                'mc_enable 0x20',
                '',
            ]))

    # --- lifecycle

    def start(self):
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='ipmisim-')
        os.makedirs(self._path('state'), exist_ok=True)
        self._write_files()
        log = open(self._path('ipmi_sim.log'), 'wb')
        try:
            # -n: no console on stdin/stdout; -s: persistent data (users, SEL) stays in workdir
            self.proc = subprocess.Popen(
                [IPMI_SIM, '-n', '-c', self._path('lan.conf'), '-f', self._path('bmc.emu'),
                 '-s', self._path('state')],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.workdir)
        finally:
            log.close()
        target = (self.address, self.port)
        if target not in probe_bmcs([target], timeout=self.start_timeout):
            rc = self.proc.poll()
            self.stop()
            raise RuntimeError('ipmi_sim did not answer on %s:%d (exit code %s); see %s'
                               % (self.address, self.port, rc, self._path('ipmi_sim.log')))
        return self

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        if self._own_workdir and self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- state file

    def _read(self):
        values = {}
        with open(self._path('power.state')) as handle:
            for line in handle:
                key, sep, value = line.strip().partition('=')
                if sep:
                    values[key] = value
        return values

    def state(self):
        """{'power': 'on'|'off', 'boot': 'none'|'pxe'|'default'|'cdrom'|'bios', 'resets': int}."""
        values = self._read()
        return {'power': 'on' if values.get('power') == '1' else 'off',
                'boot': values.get('boot', 'default'),
                'resets': int(values.get('resets') or 0)}

    def set_power(self, power):
        """Out of band: flip the host's power as the chassis_control script sees it."""
        values = self._read()
        values['power'] = '1' if power == 'on' else '0'
        tmp = self._path('power.state.tmp')
        with open(tmp, 'w') as handle:
            handle.write(''.join('%s=%s\n' % item for item in sorted(values.items())))
        os.replace(tmp, self._path('power.state'))
