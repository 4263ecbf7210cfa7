# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sushy-tools' Redfish emulator (fake driver) on loopback, with TLS and basic auth.

The emulator runs in its own process (``python -m lab.redfish --serve CONFIG``),
with a generated config file: fake systems (name, UUID, power, NIC MACs), a bcrypt
htpasswd file, a self-signed certificate made with ``cryptography`` (pyghmi's
Redfish client always uses TLS) and a private state directory (sushy's default,
/tmp/sushy-emulator, is shared between all emulators on the machine).

Power changes: sushy-tools' fake driver applies them 1-11 s later, at random, and
has no setting for it. ``power_delay`` (seconds, default 0) replaces that random
delay in the emulator process; ``power_delay=None`` keeps sushy's own behaviour.
A pending change shows on the next read once its time has come.

With several systems, pyghmi needs ``sysurl=emulator.sysurl(name)``.

Usage::

    with RedfishEmulator(port=lab.free_port(socket.SOCK_STREAM)) as rf:
        cmd = pyghmi.redfish.command.Command(rf.address, 'admin', 'password',
                                             verifycallback=lambda cert: True,
                                             port=rf.port)

pyghmi 1.6.19's Redfish Command takes the port as ``port=``; 'host:port' in ``bmc``
fails in getaddrinfo.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import base64
import datetime
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid as uuidlib

LAB_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UUID_NAMESPACE = uuidlib.UUID('6c1f0b5e-3f53-4d8e-9b8e-7f0c2d4e5a61')


def make_systems(count, prefix='rf'):
    """``count`` fake systems with names ``rf-0001``..., stable UUIDs and one NIC each."""
    systems = []
    for index in range(1, count + 1):
        name = '%s-%04d' % (prefix, index)
        systems.append({'name': name, 'uuid': str(uuidlib.uuid5(UUID_NAMESPACE, name)),
                        'power': 'off',
                        'nics': [{'mac': '52:54:00:%02x:%02x:%02x' % (
                            0xf0, index >> 8 & 0xff, index & 0xff)}]})
    return systems


def write_self_signed_cert(cert_path, key_path, address):
    """Write a self-signed EC certificate for ``address`` (IP SAN) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'lab-redfish')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
            .sign(key, hashes.SHA256()))
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))


class RedfishEmulator(object):
    """Run sushy-emulator with the fake driver; a context manager.

    ``systems``: list of dicts with name, uuid, power ('on'/'off'), nics
    ([{'mac': ...}]), optional boot_mode ('UEFI'/'Legacy'). Defaults to one system.
    """

    def __init__(self, address='127.0.0.1', port=8443, username='admin', password='password',
                 systems=None, power_delay=0, workdir=None, start_timeout=30.0):
        self.address = address
        self.port = int(port)
        self.username = username
        self.password = password
        self.systems = [dict(system) for system in (systems or make_systems(1))]
        self.power_delay = power_delay
        self.start_timeout = start_timeout
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.proc = None

    @property
    def url(self):
        return 'https://%s:%d' % (self.address, self.port)

    def _path(self, name):
        return os.path.join(self.workdir, name)

    def _system(self, name):
        for system in self.systems:
            if name in (system['name'], system['uuid']):
                return system
        raise KeyError(name)

    def sysurl(self, name):
        """The system's Redfish path (pyghmi's ``sysurl`` when there are several)."""
        return '/redfish/v1/Systems/%s' % self._system(name)['uuid']

    # --- lifecycle

    def _write_files(self):
        import bcrypt  # sushy-tools' own dependency; it accepts bcrypt entries only

        write_self_signed_cert(self._path('cert.pem'), self._path('key.pem'), self.address)
        digest = bcrypt.hashpw(self.password.encode('utf-8'), bcrypt.gensalt(rounds=4))
        with open(self._path('htpasswd'), 'w') as handle:
            handle.write('%s:%s\n' % (self.username, digest.decode('ascii')))
        fake_systems = []
        for system in self.systems:
            fake_systems.append({
                'uuid': system['uuid'],
                'name': system['name'],
                'power_state': 'On' if system.get('power') == 'on' else 'Off',
                'boot_mode': system.get('boot_mode', 'UEFI'),
                'external_notifier': False,
                'nics': [{'mac': nic['mac'], 'ip': nic.get('ip', '')}
                         for nic in system.get('nics', [])],
            })
        config = {
            'SUSHY_EMULATOR_LISTEN_IP': self.address,
            'SUSHY_EMULATOR_LISTEN_PORT': self.port,
            'SUSHY_EMULATOR_SSL_CERT': self._path('cert.pem'),
            'SUSHY_EMULATOR_SSL_KEY': self._path('key.pem'),
            'SUSHY_EMULATOR_AUTH_FILE': self._path('htpasswd'),
            'SUSHY_EMULATOR_STATE_DIR': self._path('state'),
            'SUSHY_EMULATOR_FAKE_DRIVER': True,
            'SUSHY_EMULATOR_FAKE_SYSTEMS': fake_systems,
        }
        with open(self._path('emulator.conf'), 'w') as handle:
            for key, value in sorted(config.items()):
                handle.write('%s = %r\n' % (key, value))

    def start(self):
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='redfish-')
        os.makedirs(self._path('state'), exist_ok=True)
        self._write_files()
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [LAB_ROOT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
        command = [sys.executable, '-m', 'lab.redfish', '--serve', self._path('emulator.conf')]
        if self.power_delay is not None:
            command += ['--power-delay', str(self.power_delay)]
        log = open(self._path('emulator.log'), 'wb')
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                self.get('/redfish/v1/Systems')
                return self
            except (OSError, ValueError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    rc = self.proc.poll()
                    self.stop(keep_workdir=True)
                    raise RuntimeError('sushy-emulator did not answer on %s (exit code %s); see %s'
                                       % (self.url, rc, self._path('emulator.log')))
                time.sleep(0.1)

    def stop(self, keep_workdir=False):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        if self._own_workdir and self.workdir and not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- out-of-band reads, through the emulator itself

    def get(self, path, timeout=5.0):
        """GET ``path`` with basic auth (certificate not checked: loopback only); parsed JSON."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(self.url + path)
        token = base64.b64encode(('%s:%s' % (self.username, self.password)).encode('utf-8'))
        request.add_header('Authorization', 'Basic ' + token.decode('ascii'))
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read().decode('utf-8'))

    def state(self, name):
        """{'power': 'on'|'off', 'boot': Redfish target, 'boot_mode', 'enabled'} of one system."""
        system = self.get(self.sysurl(name))
        boot = system.get('Boot', {})
        return {'power': system.get('PowerState', '').lower(),
                'boot': boot.get('BootSourceOverrideTarget'),
                'boot_mode': boot.get('BootSourceOverrideMode'),
                'enabled': boot.get('BootSourceOverrideEnabled')}


class _FixedDelay(object):
    """Stands in for the ``random`` module in sushy's fake driver: a fixed delay."""

    def __init__(self, delay):
        self.delay = delay

    def randint(self, low, high):
        return self.delay


def serve(config_path, power_delay=None):
    """Emulator process: sushy-emulator's own main(), with the power delay fixed."""
    from sushy_tools.emulator import main as sushy_main
    from sushy_tools.emulator.resources.systems import fakedriver

    if power_delay is not None:
        fakedriver.random = _FixedDelay(int(power_delay))
    sys.argv = ['sushy-emulator', '--config', config_path, '--fake']
    return sushy_main.main()


def main(argv=None):
    parser = argparse.ArgumentParser(description='Run sushy-emulator for the lab.')
    parser.add_argument('--serve', required=True, metavar='CONFIG')
    parser.add_argument('--power-delay', type=int, default=None)
    args = parser.parse_args(argv)
    return serve(args.serve, args.power_delay)


if __name__ == '__main__':
    sys.exit(main())
