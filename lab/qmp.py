# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small synchronous QMP (QEMU Machine Protocol) client over a unix socket.

One ``Qmp`` is one connection: greeting, ``qmp_capabilities``, then commands. QEMU
answers one client per ``-qmp`` socket at a time, so the lab gives each VM two
sockets (one for its BMC, one for the lab itself) and clients connect per operation
(about 1 ms on loopback)::

    with Qmp('/path/qmp.sock') as qmp:
        qmp.execute('query-status')          # {'status': 'prelaunch', 'running': False, ...}
        qmp.execute('system_reset')
        qmp.wait_event('RESET', timeout=5)
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket
import time


class QmpError(Exception):
    """QEMU answered a command with an error, or the connection failed."""

    def __init__(self, message, error_class=None):
        super(QmpError, self).__init__(message)
        self.error_class = error_class


class QmpTimeout(QmpError):
    """No complete message arrived in time (the connection is still usable)."""


class Qmp(object):
    """One QMP connection. ``timeout``: seconds for connect and for each answer."""

    def __init__(self, path, timeout=5.0):
        self.path = path
        self.timeout = timeout
        self.sock = None
        self.buffer = b''
        self.events = []

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as err:
            sock.close()
            raise QmpError('cannot connect to QMP socket %s: %s' % (self.path, err))
        self.sock = sock
        greeting = self._read_message(time.monotonic() + self.timeout)
        if 'QMP' not in greeting:
            self.close()
            raise QmpError('%s: not a QMP greeting: %r' % (self.path, greeting))
        self.execute('qmp_capabilities')
        return self

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    def _read_message(self, deadline):
        while b'\n' not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpTimeout('%s: no answer within %.1f s' % (self.path, self.timeout))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise QmpTimeout('%s: no answer within %.1f s' % (self.path, self.timeout))
            except OSError as err:
                raise QmpError('%s: %s' % (self.path, err))
            if not chunk:
                raise QmpError('%s: QEMU closed the connection' % (self.path,))
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\n', 1)
        return json.loads(line.decode('utf-8'))

    def execute(self, command, **arguments):
        """Run one command; return its ``return`` value. Events seen meanwhile are kept."""
        request = {'execute': command}
        if arguments:
            request['arguments'] = arguments
        self.sock.sendall(json.dumps(request).encode('utf-8') + b'\n')
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read_message(deadline)
            if 'event' in message:
                self.events.append(message)
                continue
            if 'error' in message:
                error = message['error']
                raise QmpError('%s: %s' % (command, error.get('desc')), error.get('class'))
            return message.get('return')

    def wait_event(self, name, timeout=5.0):
        """Return the first event called ``name`` (already seen or arriving within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event['event'] == name:
                    return self.events.pop(index)
            try:
                message = self._read_message(deadline)
            except QmpTimeout:
                raise QmpTimeout('%s: no %s event within %.1f s' % (self.path, name, timeout))
            if 'event' in message:
                self.events.append(message)

    def next_event(self, timeout):
        """The next event (kept ones first), or None if none arrives within ``timeout`` seconds."""
        if self.events:
            return self.events.pop(0)
        try:
            message = self._read_message(time.monotonic() + timeout)
        except QmpTimeout:
            return None
        return message if 'event' in message else None


def qmp_call(path, command, timeout=5.0, **arguments):
    """Connect, run one command, disconnect."""
    with Qmp(path, timeout) as qmp:
        return qmp.execute(command, **arguments)
