# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPMI BMCs that drive QEMU virtual machines through QMP (what virtualbmc does for libvirt).

``QemuBmc`` is a ``lab.virtbmc.SimBmc`` (same IPMI server, cipher-suite fix, FRU,
GUID, LAN parameters) whose power and boot hooks act on one QEMU process, started
with ``-S -no-shutdown`` (see ``lab.qemu``):

=====================  ==================================================================
IPMI                   QMP
=====================  ==================================================================
power status           ``query-status``: running (or suspended) -> on; prelaunch, paused,
                       shutdown (guest powered off) -> off
power on               set the boot order, ``system_reset``, wait for RESET, ``cont``
                       (a fresh boot, also after a guest poweroff or a hard off)
power off (hard)       ``stop`` + ``system_reset``: the process stays, the machine is off
soft shutdown          ``system_powerdown`` (ACPI power button; the guest decides)
reset                  as power on, if the machine is on (a no-op if off, like SimBmc)
power cycle            as power on, if on; IPMI 0xd5 if off
boot device pxe/disk   ``qom-set`` the ``bootindex`` of the NIC and disk devices
=====================  ==================================================================

Boot device. QEMU hands the firmware the boot order of the devices' ``bootindex``
values *when the firmware reads it* (SeaBIOS early in POST, OVMF in its boot manager,
seconds later under TCG), not a snapshot taken at reset: so the order must stay put
for the whole boot it is meant for. A persistent device (``disk`` unless the spec
says ``persistent_boot``) is the order QEMU holds between boots. A one-shot override
(IPMI "next boot only") is applied at the next BMC power on, reset or cycle and stays
in force for that one boot; the boot ends, and the persistent order comes back, when

- the guest powers off (QMP SHUTDOWN event, reason guest-shutdown);
- the guest reboots: during a one-shot boot the BMC sets ``set-action reboot=shutdown``,
  so QEMU stops instead of resetting; the BMC restores the persistent order and starts
  the machine again (the next boot, from the persistent device, as on real hardware);
- the BMC powers the machine off, resets or cycles it.

SeaBIOS quirk: QEMU's reset leaves SeaBIOS's shadow copy in RAM, so every boot after
the first one of a QEMU process starts with SeaBIOS finding itself already run, saying
"Attempting a hard reboot" and resetting the machine through port 0xcf9: a guest reset
that belongs to the boot. During a one-shot boot of a SeaBIOS machine that has run
before, the BMC therefore lets the first guest reset through (reset + cont, order kept).
OVMF does no such reset.

An event watcher thread (a third QMP socket, ``spec['qmp_events']``) handles the
first two; without it a one-shot boot ends at the next BMC power operation.
``cdrom``, ``bios``, ``safe`` and ``floppy`` are accepted and stored but change no order.

Spec keys beyond SimBmc's: ``qmp`` (QMP socket for commands), ``qmp_events``
(QMP socket for the watcher, optional), ``boot_devices`` (``{'pxe': [QOM ids],
'disk': [QOM ids]}``, in order), ``persistent_boot`` (pxe or disk), ``firmware``
(bios or uefi). ``state()`` adds ``vm_status``, ``persistent_device``,
``oneshot_active`` and ``history`` (the last boots and guest power events).

``QemuBmcFarm`` is ``lab.virtbmc.BmcFarm`` with QemuBmc workers: same control
channel (``state``, ``set_power``, ``set_boot``, ``kill``, ``revive``).
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import sys
import threading
import time

from lab.qmp import Qmp, QmpError
from lab.virtbmc import BmcFarm, SimBmc, _worker_main

ON_STATES = ('running', 'suspended')
BOOT_ORDER_DEVICES = ('pxe', 'disk')
RESET_TIMEOUT = 10.0
# bootindex values must stay unique at every step: park devices at PARK + n first.
PARK = 100


class QemuBmc(SimBmc):
    """An IPMI BMC on ``spec['address']:spec['port']`` for the QEMU VM behind ``spec['qmp']``."""

    def __init__(self, spec, username='admin', password='password', drop_rate=0.0, seed=0):
        super(QemuBmc, self).__init__(spec, username, password, drop_rate, seed)
        self.qmp_path = spec['qmp']
        self.events_path = spec.get('qmp_events')
        self.boot_devices = dict((kind, list(ids)) for kind, ids in spec.get('boot_devices', {}).items())
        self.persistent_device = spec.get('persistent_boot', 'disk')
        if self.persistent_device not in self.boot_devices:
            raise ValueError('%s: persistent_boot %r has no devices' % (self.name, self.persistent_device))
        self.qmp_timeout = float(spec.get('qmp_timeout', 5.0))
        self.firmware = spec.get('firmware', 'bios')
        self.firmware_ran = False      # SeaBIOS has run in this QEMU process (see the quirk above)
        self.firmware_reboots = 0      # guest resets still expected from SeaBIOS in this boot
        self.history = collections.deque(maxlen=20)
        self.oneshot_active = False   # a one-shot boot order is in force for the current boot
        self.own_resets = 0            # our system_resets whose RESET event the watcher has not seen yet
        self.lock = threading.RLock()  # QMP sequences and boot state: IPMI handlers vs the watcher
        self.errors = []
        self._closing = threading.Event()
        self.watcher = None
        if self.events_path:
            self.watcher = threading.Thread(target=self._watch, name='qmp-events-%s' % self.name)
            self.watcher.daemon = True
            self.watcher.start()

    def close(self):
        self._closing.set()   # the watcher leaves within 0.5 s (a daemon thread: no join needed)
        super(QemuBmc, self).close()

    # --- QMP helpers

    def _qmp(self):
        """A QMP connection (made by ``with``)."""
        return Qmp(self.qmp_path, self.qmp_timeout)

    def vm_status(self):
        """QEMU's run state: prelaunch, running, paused, shutdown, ..."""
        with self.lock, self._qmp() as qmp:
            return qmp.execute('query-status')['status']

    def order_for(self, device):
        """QOM ids in boot order when ``device`` (pxe or disk) comes first."""
        first = list(self.boot_devices.get(device, []))
        rest = [qid for kind in BOOT_ORDER_DEVICES if kind != device for qid in self.boot_devices.get(kind, [])]
        return first + rest

    def _apply_order(self, qmp, device):
        order = self.order_for(device)
        current = [qmp.execute('qom-get', path='/machine/peripheral/%s' % qid, property='bootindex') for qid in order]
        if current == list(range(1, len(order) + 1)):
            return
        for index, qid in enumerate(order):
            qmp.execute('qom-set', path='/machine/peripheral/%s' % qid, property='bootindex', value=PARK + index)
        for index, qid in enumerate(order):
            qmp.execute('qom-set', path='/machine/peripheral/%s' % qid, property='bootindex', value=index + 1)

    def bootindexes(self):
        """{QOM id: bootindex} of the devices this BMC orders."""
        with self.lock, self._qmp() as qmp:
            return dict((qid, qmp.execute('qom-get', path='/machine/peripheral/%s' % qid, property='bootindex'))
                        for kind in BOOT_ORDER_DEVICES for qid in self.boot_devices.get(kind, []))

    def _end_oneshot(self, qmp):
        """The one-shot boot is over: guest reboots reset again, the persistent order is back."""
        if self.oneshot_active:
            qmp.execute('set-action', reboot='reset')
            self._apply_order(qmp, self.persistent_device)
            self.oneshot_active = False
            self.firmware_reboots = 0

    def _reset(self, qmp):
        self.own_resets += 1
        qmp.execute('system_reset')
        qmp.wait_event('RESET', RESET_TIMEOUT)

    def _start(self):
        """A fresh boot from the override device (one boot) or the persistent device."""
        with self.lock, self._qmp() as qmp:
            device = self.boot if self.boot in self.boot_devices else self.persistent_device
            oneshot = device != self.persistent_device
            qmp.execute('set-action', reboot='reset')   # so that our own reset is a reset
            self.oneshot_active = False
            self._apply_order(qmp, device)
            self._reset(qmp)
            if oneshot:
                # A reboot by the guest now stops the VM (SHUTDOWN, reason guest-reset) instead of
                # booting the override device again; the watcher starts the persistent boot.
                qmp.execute('set-action', reboot='shutdown')
                self.oneshot_active = True
            self.firmware_reboots = 1 if oneshot and self.firmware == 'bios' and self.firmware_ran else 0
            qmp.execute('cont')
            self.firmware_ran = True
            self.boots += 1
            self.booted_from = device
            self._note('boot %s%s' % (device, ' (one-shot)' if oneshot else ''))
            if not self.persistent:
                self.boot, self.uefi = 'default', False

    # --- the event watcher

    def _watch(self):
        while not self._closing.is_set():
            try:
                with Qmp(self.events_path, 2.0) as qmp:
                    with self.lock:
                        self.own_resets = 0
                    while not self._closing.is_set():
                        event = qmp.next_event(0.5)
                        if event is not None:
                            self._on_event(event)
            except (QmpError, OSError):
                self._closing.wait(0.5)   # QEMU not there (yet, or any more)

    def _note(self, what):
        self.history.append('%s %s' % (time.strftime('%H:%M:%S'), what))

    def _on_event(self, event):
        data = event.get('data') or {}
        if event.get('event') == 'RESET' and not data.get('guest'):
            with self.lock:
                self.own_resets = max(0, self.own_resets - 1)
            return
        if event.get('event') != 'SHUTDOWN' or not data.get('guest'):
            return
        reboot = data.get('reason') == 'guest-reset'
        with self.lock:
            if self.own_resets:
                # Sent before a reset of ours took effect (SeaBIOS's hard reboot writes port 0xcf9 and
                # then triple-faults: two guest resets for one): that reset superseded it.
                self._note('guest %s before our reset: ignored' % ('reset' if reboot else 'power off'))
                return
            if not self.oneshot_active:
                self._note('guest %s' % ('reset' if reboot else 'power off'))
                return
            try:
                with self._qmp() as qmp:
                    if reboot and self.firmware_reboots > 0:
                        # SeaBIOS's own hard reboot at the start of the boot: same boot, same order.
                        # (reboot=shutdown would turn our reset into a shutdown too: lift it meanwhile)
                        self.firmware_reboots -= 1
                        qmp.execute('set-action', reboot='reset')
                        self._reset(qmp)
                        qmp.execute('set-action', reboot='shutdown')
                        qmp.execute('cont')
                        self._note('SeaBIOS hard reboot (same boot)')
                        return
                    self._end_oneshot(qmp)
                    if reboot:
                        # The guest rebooted out of its one-shot boot: the next boot, persistent device.
                        self._reset(qmp)
                        qmp.execute('cont')
                        self.boots += 1
                        self.booted_from = self.persistent_device
                        self._note('guest reboot: boot %s' % self.persistent_device)
                    else:
                        self._note('guest power off: one-shot boot over')
            except QmpError as err:
                self.errors.append('%s: %s' % (time.strftime('%H:%M:%S'), err))

    # --- pyghmi Bmc hooks

    def get_power_state(self):
        return 'on' if self.vm_status() in ON_STATES else 'off'

    def power_on(self):
        with self.lock:
            if self.get_power_state() == 'off':
                self._start()

    def power_off(self):
        with self.lock, self._qmp() as qmp:
            self._end_oneshot(qmp)
            status = qmp.execute('query-status')['status']
            if status == 'prelaunch':
                return  # already off and reset
            if status in ON_STATES or status == 'paused':
                qmp.execute('stop')
            self._reset(qmp)
            self._note('power off')

    def power_shutdown(self):
        with self.lock, self._qmp() as qmp:
            if qmp.execute('query-status')['status'] in ON_STATES:
                qmp.execute('system_powerdown')

    def power_reset(self):
        with self.lock:
            if self.get_power_state() == 'on':
                self._start()

    def power_cycle(self):
        with self.lock:
            if self.get_power_state() == 'off':
                return 0xd5  # not in present state, as SimBmc
            self._start()

    def set_boot_device(self, bootdevice, persistent=False, uefi=False):
        with self.lock:
            super(QemuBmc, self).set_boot_device(bootdevice, persistent, uefi)
            if self.persistent and bootdevice in self.boot_devices:
                self.persistent_device = bootdevice
                if not self.oneshot_active:   # else when the one-shot boot ends
                    with self._qmp() as qmp:
                        self._apply_order(qmp, bootdevice)

    def state(self):
        try:
            status = self.vm_status()
        except QmpError as err:
            status = 'unreachable: %s' % (err,)
        with self.lock:
            out = super(QemuBmc, self).state()
            out.update(power='on' if status in ON_STATES else 'off', vm_status=status,
                       persistent_device=self.persistent_device, oneshot_active=self.oneshot_active,
                       history=list(self.history), errors=list(self.errors[-5:]))
        return out


class QemuBmcFarm(BmcFarm):
    """``BmcFarm`` whose workers serve ``QemuBmc`` objects (specs need ``qmp`` and ``boot_devices``)."""

    worker_module = 'lab.qemubmc'


if __name__ == '__main__':
    if '--worker' in sys.argv[1:]:
        sys.exit(_worker_main(QemuBmc))
    sys.exit('usage: python -m lab.qemubmc --worker (started by QemuBmcFarm)')
