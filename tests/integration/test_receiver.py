# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report receiver as the boot server runs it: a process on 127.0.0.1, spool on disk, log on stderr.

Most tests run the installed layout (the entry script, receiver.py and
reports.py copied into one directory, started with ``python -I`` so the
collection is out of reach); one runs it from the checkout.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import ROOT

from ansible_collections.datacenter.iaas.plugins.module_utils import reports

ENTRY = os.path.join(ROOT, 'roles', 'boot_server', 'files', 'iaas-report-receiver.py')
MODULE_UTILS = os.path.join(ROOT, 'plugins', 'module_utils')
MAC = '52:54:00:aa:bb:07'


def report(serial='LAB-0001', **extra):
    document = {
        'version': 1, 'kind': 'discover', 'boot_mac': MAC,
        'system': {'vendor': 'QEMU', 'model': 'Standard PC (i440FX + PIIX, 1996)', 'serial': serial},
        'cpus': 2, 'cpu_model': 'QEMU Virtual CPU version 2.5+', 'memory_mb': 1024,
        'disks': [{'name': 'vda', 'size_gb': 8, 'rotational': True, 'serial': 'D1'}],
        'nics': [{'name': 'eth0', 'mac': MAC, 'link': True}], 'lldp': [],
    }
    document.update(extra)
    return document


class Receiver(object):
    """One receiver process; ``log()`` is what it wrote to stderr so far."""

    def __init__(self, tmp_path, allow=('127.0.0.0/8',), layout='installed', extra=(), host='127.0.0.1'):
        self.host = host
        self.spool = str(tmp_path / 'spool')
        self.log_path = str(tmp_path / 'receiver.log')
        if layout == 'installed':
            install = tmp_path / 'install'
            install.mkdir()
            shutil.copy(ENTRY, str(install / 'iaas-report-receiver.py'))
            for name in ('receiver.py', 'reports.py'):
                shutil.copy(os.path.join(MODULE_UTILS, name), str(install / name))
            command = [sys.executable, '-I', str(install / 'iaas-report-receiver.py')]
            env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
        else:
            command = [sys.executable, ENTRY]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        listen = '[%s]:0' % host if ':' in host else '%s:0' % host
        command += ['--listen', listen, '--spool', self.spool] + list(extra)
        for network in allow:
            command += ['--allow', network]
        self.log_file = open(self.log_path, 'wb')
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=self.log_file, env=env, cwd=str(tmp_path))
        self.port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r'listening on \S+:(\d+),', self.log())
            if match:
                self.port = int(match.group(1))
                break
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise AssertionError('receiver did not start: %s' % self.log())

    def log(self):
        with open(self.log_path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')

    def log_lines(self, count, timeout=5.0):
        """The request lines (after the start line), once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log().splitlines() if 'listening on' not in line]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def post(self, body, content_type='application/json', path='/v1/reports', method='POST', headers=None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            sent = dict({'Content-Type': content_type} if content_type else {}, **(headers or {}))
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            data = answer.read()
            return answer.status, (json.loads(data.decode()) if data and method != 'HEAD' else None)
        finally:
            connection.close()

    def raw(self, data, read=True):
        with socket.create_connection((self.host, self.port), timeout=10) as sock:
            sock.sendall(data)
            if not read:
                return b''
            chunks = []
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b''.join(chunks)

    def spool_names(self):
        return sorted(os.listdir(self.spool))

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return self.process.returncode


@pytest.fixture
def receiver(tmp_path):
    server = Receiver(tmp_path, extra=['--max-bytes', '8192'])
    yield server
    server.stop()


def test_good_report_is_spooled(receiver):
    status, answer = receiver.post(report(cpu_model='MARKER-7f3a9 CPU'))
    assert status == 202 and answer['status'] == 'accepted'
    name = answer['report']
    assert receiver.spool_names() == [name]
    path = os.path.join(receiver.spool, name)
    data = open(path, 'rb').read()
    assert name == hashlib.sha256(data).hexdigest() + '.json'
    assert data == reports.serialize(reports.validate(report(cpu_model='MARKER-7f3a9 CPU')))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(receiver.spool).st_mode) == 0o700
    line, = receiver.log_lines(1)
    assert line.startswith('INFO 127.0.0.1 POST /v1/reports 202 accepted report=%s' % name)
    assert 'MARKER-7f3a9' not in receiver.log()  # never the body


def test_same_report_twice_is_one_file(receiver):
    first = receiver.post(report())
    second = receiver.post(report())
    assert first == second and first[0] == 202
    assert receiver.spool_names() == [first[1]['report']]


def test_normalized_forms_give_the_same_file(receiver):
    loud = report(boot_mac='52-54-00-AA-BB-07')
    assert receiver.post(loud)[1]['report'] == receiver.post(report())[1]['report']


def test_charset_parameter_is_fine(receiver):
    assert receiver.post(report(), content_type='application/json; charset=utf-8')[0] == 202


@pytest.mark.parametrize('body, status, reason', [
    (b'{"version": 1, "kind": "discover"', 400, 'not valid JSON'),
    (b'\xff\xfe\x00', 400, 'not UTF-8'),
    (b'[]', 400, 'must be a JSON object'),
    (json.dumps(report(serial='../../etc/passwd')).encode(), 400, 'characters outside the allowed set'),
    (json.dumps(report(serial='$(reboot)')).encode(), 400, 'characters outside the allowed set'),
    (json.dumps(report(serial='x\u001b[2Jy')).encode(), 400, 'characters outside the allowed set'),
    (json.dumps(report(extra_key=1)).encode(), 400, "unknown key 'extra_key'"),
    (json.dumps(report(nics=[{'name': 'eth%d' % i, 'mac': '52:54:00:00:00:%02x' % i} for i in range(65)])).encode(),
     400, 'at most 64'),
])
def test_bad_reports_are_refused(receiver, body, status, reason):
    got, answer = receiver.post(body)
    assert (got, reason in answer['error']) == (status, True)
    assert receiver.spool_names() == []
    line, = receiver.log_lines(1)
    assert ' %d ' % status in line and reason in line
    assert '\x1b' not in receiver.log()


def test_oversized_body_is_refused_unread(receiver):
    body = json.dumps(report(lldp=[{'interface': 'eth0', 'port_id': 'p' * 200}] * 40)).encode()
    assert len(body) > 8192
    status, answer = receiver.post(body)
    assert status == 413 and 'over the limit of 8192' in answer['error']
    # A client announcing a gigabyte gets its 413 without sending any of it.
    answer = receiver.raw(b'POST /v1/reports HTTP/1.0\r\nContent-Type: application/json\r\n'
                          b'Content-Length: 1000000000\r\n\r\n')
    assert answer.startswith(b'HTTP/1.0 413 ')
    assert receiver.spool_names() == []
    lines = receiver.log_lines(2)
    assert all(' 413 body of ' in line for line in lines)


@pytest.mark.parametrize('kwargs, status, reason', [
    ({'content_type': 'text/plain'}, 415, 'Content-Type must be application/json'),
    ({'content_type': None}, 415, 'Content-Type must be application/json'),
    ({'method': 'GET'}, 405, 'method not allowed'),
    ({'method': 'PUT'}, 405, 'method not allowed'),
    ({'path': '/v1/reports/../../../etc/passwd'}, 404, 'no such path'),
    ({'path': '/'}, 404, 'no such path'),
])
def test_wrong_requests(receiver, kwargs, status, reason):
    got, answer = receiver.post(json.dumps(report()).encode(), **kwargs)
    assert got == status and reason in answer['error']
    assert receiver.spool_names() == []
    line, = receiver.log_lines(1)
    assert ' %d ' % status in line


def test_length_rules(receiver):
    head = b'POST /v1/reports HTTP/1.0\r\nContent-Type: application/json\r\n'
    assert receiver.raw(head + b'\r\n{}').startswith(b'HTTP/1.0 411 ')
    assert receiver.raw(head + b'Content-Length: -5\r\n\r\n').startswith(b'HTTP/1.0 411 ')
    assert receiver.raw(head + b'Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n').startswith(b'HTTP/1.0 411 ')
    lines = receiver.log_lines(3)
    assert [' 411 ' in line for line in lines] == [True] * 3


def test_hostile_request_line_is_logged_escaped(receiver):
    answer = receiver.raw(b'POST /v1/reports\x1b[2J\x07 HTTP/1.0\r\nContent-Type: application/json\r\n'
                          b'Content-Length: 2\r\n\r\n{}')
    assert answer.startswith(b'HTTP/1.0 404 ')
    receiver.raw(b'\x00\x01garbage\r\n\r\n')
    lines = receiver.log_lines(2)
    assert len(lines) == 2
    log = receiver.log()
    assert '\x1b' not in log and '\x07' not in log and '\x00' not in log
    assert '\\x1b[2J' in log


def test_slow_client_times_out(tmp_path):
    server = Receiver(tmp_path, extra=['--timeout', '1'])
    try:
        answer = server.raw(b'POST /v1/reports HTTP/1.0\r\nContent-Type: application/json\r\n'
                            b'Content-Length: 100\r\n\r\n{"version"')
        assert answer.startswith(b'HTTP/1.0 408 ')
        assert ' 408 timed out reading the body' in server.log_lines(1)[0]
    finally:
        server.stop()


def test_disallowed_network_is_refused(tmp_path):
    server = Receiver(tmp_path, allow=('10.0.0.0/8',))
    try:
        status, answer = server.post(report())
        assert status == 403 and answer == {'error': 'source address not allowed'}
        assert server.post(b'x', path='/anything', method='GET')[0] == 403  # nothing is told to strangers
        assert server.spool_names() == []
        lines = server.log_lines(2)
        assert lines[0] == 'INFO 127.0.0.1 POST /v1/reports 403 source address not allowed'
    finally:
        server.stop()


def test_several_networks(tmp_path):
    server = Receiver(tmp_path, allow=('10.0.0.0/8', '127.0.0.1/32'))
    try:
        assert server.post(report())[0] == 202
    finally:
        server.stop()


def test_ipv6(tmp_path):
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).bind(('::1', 0))
    except OSError:
        pytest.skip('no IPv6 loopback here')
    server = Receiver(tmp_path, allow=('127.0.0.0/8', 'fd00::/8'), host='::1')
    try:
        assert server.post(report())[0] == 403  # ::1 is not in the allowed networks
        server.stop()
        (tmp_path / 'again').mkdir()
        server = Receiver(tmp_path / 'again', allow=('::1/128',), host='::1')
        assert server.post(report())[0] == 202
        assert server.log_lines(1)[0].startswith('INFO ::1 POST /v1/reports 202 accepted')
    finally:
        server.stop()


def test_full_spool_is_refused(tmp_path):
    server = Receiver(tmp_path, extra=['--max-files', '1'])
    try:
        assert server.post(report(serial='ONE'))[0] == 202
        status, answer = server.post(report(serial='TWO'))
        assert status == 507 and 'run the ingestion' in answer['error']
        assert len(server.spool_names()) == 1
    finally:
        server.stop()


def test_connection_limit(tmp_path):
    server = Receiver(tmp_path, extra=['--max-connections', '1', '--timeout', '3'])
    try:
        with socket.create_connection(('127.0.0.1', server.port), timeout=10) as idle:
            idle.sendall(b'POST /v1/reports HTTP/1.0\r\n')  # and then nothing: holds the only slot
            time.sleep(0.3)
            assert server.raw(b'GET / HTTP/1.0\r\n\r\n').startswith(b'HTTP/1.0 503 ')
        assert 'connections already open' in server.log()
        deadline = time.monotonic() + 10
        while True:  # the slot comes back once the idle client is gone
            try:
                if server.post(report())[0] == 202:
                    break
            except OSError:
                pass  # a 503 and a close while the body was still on its way
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        server.stop()


def test_sigterm_stops_cleanly(tmp_path):
    server = Receiver(tmp_path)
    assert server.stop() == 0
    assert 'stopping on signal 15' in server.log()


def test_checkout_layout(tmp_path):
    server = Receiver(tmp_path, layout='checkout')
    try:
        assert server.post(report())[0] == 202
    finally:
        server.stop()


@pytest.mark.parametrize('args, words', [
    (['--allow', '10.0.0.1/8'], 'has host bits set'),
    (['--allow', 'everyone'], 'does not appear to be an IPv4 or IPv6 network'),
    (['--allow', '10.0.0.0/8', '--max-bytes', '0'], 'must be from 1'),
    (['--allow', '10.0.0.0/8', '--listen', 'localhost:80'], 'does not appear to be an IPv4 or IPv6 address'),
    ([], 'the following arguments are required: --allow'),
])
def test_bad_command_lines(tmp_path, args, words):
    command = [sys.executable, ENTRY, '--spool', str(tmp_path / 'spool')] + args
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60, check=False)
    assert result.returncode == 2
    assert words in result.stderr.decode()
