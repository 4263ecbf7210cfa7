# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Power and boot-device changes on one node: observe, compare, act only where needed.

One function decides for check mode and for real runs alike, so what check mode
predicts is what a real run does.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time

from ansible_collections.datacenter.iaas.plugins.module_utils.bmc import connect
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import BmcError

# Which power state each requested state ends in.
FINAL_POWER = {'on': 'on', 'off': 'off', 'shutdown': 'off', 'reset': 'on', 'cycle': 'on'}
DESTRUCTIVE = ('off', 'shutdown', 'reset', 'cycle')


class Stagger(object):
    """Let at most ``batch_size`` power-ons start per ``delay`` seconds (inrush current)."""

    def __init__(self, batch_size, delay):
        self.batch_size = max(1, batch_size)
        self.delay = delay
        self._lock = threading.Lock()
        self._count = 0
        self._start = None

    def wait_turn(self):
        with self._lock:
            if self._start is None:
                self._start = time.monotonic()
            turn = self._count // self.batch_size
            self._count += 1
        remaining = self._start + turn * self.delay - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


def _boot_differs(current, device, persistent, uefi):
    if current['device'] != device:
        return True
    if device == 'default':
        return False
    # A one-shot request is met by a persistent setting of the same device: the
    # next boot is that device either way. (Some BMCs, sushy-tools among them,
    # report every override as persistent; re-sending would never settle.)
    if persistent and not current['persistent']:
        return True
    return uefi is not None and current.get('uefi') is not None and current['uefi'] != uefi


def apply_power(target, state, boot_device=None, boot_persistent=False, uefi=None, check_mode=False,
                wait=False, wait_timeout=300.0, stagger=None, warnings=None):
    """Bring one node to ``state`` (or just read it for ``query``); return a result dict.

    ``boot_device`` is set before the power action and read back afterwards. A
    BMC that accepts the setting but reads back ``default`` (OpenIPMI's
    ipmi_sim never sets the valid bit) earns a warning, not a failure.
    """
    result = {'name': target.name, 'address': target.endpoint, 'protocol': target.protocol, 'changed': False}
    with connect(target) as client:
        before = client.power_state()
        result['power_before'] = before
        # A one-shot boot device for a machine that is already on and stays on
        # would fire at some later, unrelated reboot: leave it alone.
        if boot_device and not (state == 'on' and before == 'on' and not boot_persistent):
            current = client.boot_device()
            result['boot_before'] = current
            if (current['device'] == boot_device != 'default' and current['persistent'] and not boot_persistent
                    and warnings is not None):
                warnings.append('%s: boot device %s is set for every boot, not only the next one; set '
                                'boot_persistent or change the device after this boot' % (target.name, boot_device))
            if _boot_differs(current, boot_device, boot_persistent, uefi):
                result['changed'] = True
                if not check_mode:
                    client.set_boot_device(boot_device, persistent=boot_persistent, uefi=uefi)
                    readback = client.boot_device()
                    if readback['device'] != boot_device:
                        if readback['device'] == 'default':
                            if warnings is not None:
                                warnings.append('%s: the BMC accepted boot device %s but reads back default; '
                                                'some BMCs never mark the setting valid' % (target.name, boot_device))
                        else:
                            raise BmcError('boot device reads back %s after setting %s' % (readback['device'], boot_device),
                                           node=target.name, address=target.endpoint)
                    current = readback
                else:
                    current = {'device': boot_device, 'persistent': boot_persistent, 'uefi': uefi}
            result['boot_device'] = current
        power = before
        if state in ('on', 'off', 'shutdown'):
            if before != FINAL_POWER[state]:
                result['changed'] = True
                power = FINAL_POWER[state]
                if not check_mode:
                    if state == 'on' and stagger is not None:
                        stagger.wait_turn()
                    client.set_power(state)
        elif state in ('reset', 'cycle'):
            # A reset of a machine that is off means: start it (so a PXE
            # boot set just above happens). Either way it is a change.
            result['changed'] = True
            power = 'on'
            if not check_mode:
                if before == 'off':
                    if stagger is not None:
                        stagger.wait_turn()
                    client.set_power('on')
                else:
                    client.set_power(state)
        if wait and not check_mode and state != 'query':
            power = client.wait_power(FINAL_POWER[state], wait_timeout)
        result['power'] = power
    return result
