# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report receiver: the boot server's small HTTP service that takes the ramdisk's reports into the spool.

``POST /v1/reports`` with ``Content-Type: application/json``, from an allowed
network only, with a body of at most ``max_bytes``: the report is validated
(reports.validate) and written, normalized, to the spool as
``<sha256>.json`` (temp file, fsync, rename, mode 0600); the answer is 202.
Everything else gets a 4xx naming the reason, and one log line on stderr
(never the body). Hostile input never reaches a shell, a path or a template:
the only file name is the hash of the normalized report.

Standard library only. The boot_server role installs this file, reports.py
and roles/boot_server/files/iaas-report-receiver.py side by side and runs the
latter as a systemd service; it stops cleanly on SIGTERM.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from ansible_collections.datacenter.iaas.plugins.module_utils.reports import (
        MAX_REPORT_BYTES, SPOOL_NAME_RE, InputError, parse, spool_write, validate)
except ImportError:  # installed by the boot_server role: reports.py sits beside this file
    from reports import MAX_REPORT_BYTES, SPOOL_NAME_RE, InputError, parse, spool_write, validate

LOG = logging.getLogger('iaas-report-receiver')
REPORTS_PATH = '/v1/reports'
DEFAULT_MAX_FILES = 10000
DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_TIMEOUT = 10.0
MAX_BYTES_CEILING = 1024 * 1024


class Config(object):
    """What the server enforces; ``allow`` is a list of ipaddress networks."""

    def __init__(self, spool, allow, max_bytes=MAX_REPORT_BYTES, max_files=DEFAULT_MAX_FILES,
                 max_connections=DEFAULT_MAX_CONNECTIONS, timeout=DEFAULT_TIMEOUT):
        self.spool = spool
        self.allow = list(allow)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.max_connections = max_connections
        self.timeout = timeout

    def allowed(self, peer):
        try:
            address = ipaddress.ip_address(peer.split('%', 1)[0])
        except ValueError:
            return False
        mapped = getattr(address, 'ipv4_mapped', None)
        if mapped is not None:
            address = mapped
        return any(address.version == net.version and address in net for net in self.allow)


def _escape(text, limit=200):
    """One printable line of at most ``limit`` characters, whatever ``text`` holds."""
    text = repr(text)[1:-1] if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _spool_count(spool):
    count = 0
    for name in os.listdir(spool):
        if SPOOL_NAME_RE.match(name):
            count += 1
    return count


class _Refused(Exception):
    def __init__(self, status, reason):
        super(_Refused, self).__init__(reason)
        self.status = status
        self.reason = reason


class ReportHandler(BaseHTTPRequestHandler):
    """One request: check, validate, spool, answer, log one line."""

    server_version = 'iaas-report-receiver/1'
    protocol_version = 'HTTP/1.0'  # one request per connection

    def setup(self):
        self.timeout = self.server.config.timeout  # socket timeout: a slow client cannot hold a slot forever
        BaseHTTPRequestHandler.setup(self)

    def version_string(self):
        return self.server_version  # no Python version in the Server header

    def do_POST(self):
        self.handle_report()

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def handle_report(self):
        config = self.server.config
        extra = ''
        try:
            name, size = self.receive(config)
            status, reason, extra = 202, 'accepted', ' report=%s bytes=%d' % (name, size)
            body = {'status': 'accepted', 'report': name}
        except _Refused as exc:
            status, reason = exc.status, exc.reason
            body = {'error': reason}
        self.answer(status, body)
        self.linger()
        LOG.info('%s %s %s %d %s%s', self.client_address[0], _escape(self.command, 16), _escape(self.path, 80),
                 status, _escape(reason), extra)

    def receive(self, config):
        if not config.allowed(self.client_address[0]):
            raise _Refused(403, 'source address not allowed')
        if self.path.split('?', 1)[0] != REPORTS_PATH:
            raise _Refused(404, 'no such path (reports go to POST %s)' % REPORTS_PATH)
        if self.command != 'POST':
            raise _Refused(405, 'method not allowed (reports go to POST %s)' % REPORTS_PATH)
        content_type = (self.headers.get('Content-Type') or '').split(';', 1)[0].strip().lower()
        if content_type != 'application/json':
            raise _Refused(415, 'Content-Type must be application/json, got %s' % _escape(content_type, 60))
        if self.headers.get('Transfer-Encoding'):
            raise _Refused(411, 'chunked bodies are not accepted: send Content-Length')
        length_text = (self.headers.get('Content-Length') or '').strip()
        if not length_text.isdigit() or len(length_text) > 12:
            raise _Refused(411, 'Content-Length is missing or not a number')
        length = int(length_text)
        if length > config.max_bytes:
            raise _Refused(413, 'body of %d bytes is over the limit of %d' % (length, config.max_bytes))
        try:
            body = self.rfile.read(length)
        except socket.timeout:
            raise _Refused(408, 'timed out reading the body')
        except OSError as exc:
            raise _Refused(400, 'error reading the body: %s' % (exc.strerror or exc))
        if len(body) != length:
            raise _Refused(400, 'body shorter than its Content-Length')
        try:
            report = validate(parse(body, config.max_bytes))
        except InputError as exc:
            raise _Refused(400, exc.message)
        try:
            if _spool_count(config.spool) >= config.max_files:
                raise _Refused(507, 'the spool holds %d reports already: run the ingestion' % config.max_files)
            name = spool_write(config.spool, report)
        except OSError as exc:
            LOG.error('cannot write to spool %s: %s', config.spool, exc.strerror or exc)
            raise _Refused(500, 'cannot store the report')
        return name, length

    def answer(self, status, body):
        data = (json.dumps(body, sort_keys=True) + '\n').encode('ascii')
        self.close_connection = True
        try:
            self.send_response(status)
            if status == 405:
                self.send_header('Allow', 'POST')
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.send_header('Connection', 'close')
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(data)
        except OSError:
            pass  # the client went away; the log line still says what happened

    def linger(self):
        """Half-close, then drain a bounded rest of an unread body, so the client reads the answer before the close.

        Closing a socket with unread input sends a reset, which can destroy the
        answer in flight (a 403 or 413 would then look like a network error).
        """
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            left = self.server.config.max_bytes + 4096
            while left > 0:
                chunk = self.connection.recv(min(left, 16384))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def log_request(self, code='-', size='-'):
        pass  # handle_report logs one line of its own

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        # Requests that never reach handle_report (malformed request line, unknown method, timeout).
        LOG.info('%s %s', self.client_address[0], _escape(format % args))


class ReceiverServer(ThreadingHTTPServer):
    """A threading HTTP server with a bound on concurrent connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, config, handler=ReportHandler):
        self.config = config
        self.slots = threading.BoundedSemaphore(config.max_connections)
        ThreadingHTTPServer.__init__(self, address, handler)

    def process_request(self, request, client_address):
        """Serve the connection in a thread of its own, if a slot is free; else a bare 503."""
        if not self.slots.acquire(blocking=False):
            LOG.warning('%s refused: %d connections already open', client_address[0], self.config.max_connections)
            try:
                request.sendall(b'HTTP/1.0 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
            except OSError:
                pass
            self.shutdown_request(request)
            return
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address))
        thread.daemon = True
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: the slot was never used
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            ThreadingHTTPServer.process_request_thread(self, request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        LOG.error('%s: internal error: %s', client_address[0], _escape(str(sys.exc_info()[1])))


class ReceiverServer6(ReceiverServer):
    address_family = socket.AF_INET6


def parse_listen(text):
    """``HOST:PORT`` or ``[V6]:PORT`` as ``(host, port)``."""
    host, sep, port = text.rpartition(':')
    host = host[1:-1] if host.startswith('[') and host.endswith(']') else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError('%r is not HOST:PORT (e.g. 0.0.0.0:8088 or [::]:8088)' % text)
    ipaddress.ip_address(host)
    return host, int(port)


def make_server(listen, config):
    host, port = parse_listen(listen)
    cls = ReceiverServer6 if ipaddress.ip_address(host).version == 6 else ReceiverServer
    return cls((host, port), config)


def _network(text):
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError('%s' % exc)


def _bytes_limit(text):
    value = int(text)
    if not 1 <= value <= MAX_BYTES_CEILING:
        raise argparse.ArgumentTypeError('must be from 1 to %d' % MAX_BYTES_CEILING)
    return value


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError('must be at least 1')
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog='iaas-report-receiver',
                                     description='Take hardware reports from the datacenter.iaas ramdisk into a spool.')
    parser.add_argument('--listen', default='0.0.0.0:8088', help='HOST:PORT to listen on [%(default)s]; port 0 picks one')
    parser.add_argument('--spool', required=True, help='spool directory (created 0700 if missing)')
    parser.add_argument('--allow', type=_network, action='append', required=True, metavar='CIDR',
                        help='network allowed to post reports; repeat for more')
    parser.add_argument('--max-bytes', type=_bytes_limit, default=MAX_REPORT_BYTES,
                        help='largest accepted body [%(default)s]')
    parser.add_argument('--max-files', type=_positive, default=DEFAULT_MAX_FILES,
                        help='refuse reports (507) while the spool holds this many [%(default)s]')
    parser.add_argument('--max-connections', type=_positive, default=DEFAULT_MAX_CONNECTIONS,
                        help='concurrent connections; more get 503 [%(default)s]')
    parser.add_argument('--timeout', type=float, default=DEFAULT_TIMEOUT, help='socket timeout in seconds [%(default)s]')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format='%(levelname)s %(message)s')
    os.umask(0o077)
    try:
        if not os.path.isdir(args.spool):
            os.makedirs(args.spool, 0o700)
        if not os.access(args.spool, os.W_OK | os.X_OK):
            raise OSError('not writable')
    except OSError as exc:
        LOG.error('spool %s is not usable: %s', args.spool, getattr(exc, 'strerror', None) or exc)
        return 2
    config = Config(os.path.abspath(args.spool), args.allow, max_bytes=args.max_bytes, max_files=args.max_files,
                    max_connections=args.max_connections, timeout=args.timeout)
    try:
        server = make_server(args.listen, config)
    except (OSError, ValueError) as exc:
        LOG.error('cannot listen on %s: %s', args.listen, getattr(exc, 'strerror', None) or exc)
        return 2
    stopping = []

    def stop(signum, frame):
        # shutdown() waits for serve_forever() to return, so it runs in a thread of its own; nothing is raised
        # into whatever the main thread was doing.
        if not stopping:
            stopping.append(signum)
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    LOG.info('listening on %s:%d, spool %s, allowed %s, max %d bytes', host, port, config.spool,
             ', '.join(str(net) for net in config.allow), config.max_bytes)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    LOG.info('stopping on signal %s', stopping[0] if stopping else '-')
    return 0
