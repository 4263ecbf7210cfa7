# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot server in full DHCP mode, seen from inside its container (testinfra, podman backend)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest
import testinfra

ROOT = '/srv/iaas'
CONF = '/etc/dnsmasq.d/iaas.conf'
REPORT = {
    'version': 1, 'kind': 'discover', 'boot_mac': '52:54:00:aa:bb:07',
    'system': {'vendor': 'QEMU', 'model': 'Standard PC', 'serial': 'LAB-0001',
               'uuid': '6f1c2f4e-4a8e-4d0f-9f4e-2b8a1c3d5e70'},
    'cpus': 2, 'cpu_model': 'QEMU Virtual CPU', 'memory_mb': 1024,
    'disks': [{'name': 'vda', 'size_gb': 8, 'rotational': True, 'serial': 'DISK-0001'}],
    'nics': [{'name': 'eth0', 'mac': '52:54:00:aa:bb:07', 'link': True}],
    'lldp': [],
}


@pytest.fixture(scope='module')
def address(host):
    """The container's address on the scenario's podman network (podman picks the /24)."""
    return [a for a in host.interface('eth0').addresses if '.' in a][0]


@pytest.fixture(scope='module')
def prefix(address):
    return address.rsplit('.', 1)[0]


@pytest.mark.parametrize('unit', ['dnsmasq.service', 'nginx.service', 'iaas-report-receiver.service'])
def test_service_running_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running
    assert service.is_enabled


def test_dnsmasq_configuration(host, address, prefix):
    conf = host.file(CONF)
    assert conf.mode == 0o644
    lines = conf.content_string.splitlines()
    for line in ('port=0', 'interface=eth0', 'bind-interfaces', 'enable-tftp', 'tftp-root=%s/tftp' % ROOT,
                 'dhcp-range=%s.100,%s.150,255.255.255.0,30m' % (prefix, prefix), 'dhcp-authoritative', 'no-ping',
                 'dhcp-option=option:router,%s.1' % prefix, 'dhcp-hostsfile=%s/dnsmasq/hosts' % ROOT,
                 'dhcp-match=set:ipxe,175', 'dhcp-userclass=set:ipxe,iPXE',
                 'dhcp-match=set:efi64,option:client-arch,7', 'dhcp-match=set:efi64,option:client-arch,9',
                 'dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe', 'dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi',
                 'dhcp-boot=tag:ipxe,http://%s/ipxe/boot.ipxe' % address, 'dhcp-option=tag:ipxe,encap:175,176,1b',
                 'enable-ra', 'dhcp-range=fd00:89:66::,ra-only,64', 'log-dhcp'):
        assert line in lines, line
    # Discovery is on: unknown machines are not ignored.
    assert 'dhcp-ignore=tag:!known' not in lines
    # dnsmasq reads only our configuration, and never becomes the local resolver.
    default = host.file('/etc/default/dnsmasq').content_string
    assert 'DNSMASQ_OPTS="--conf-file=%s"' % CONF in default
    assert 'CONFIG_DIR=\n' in default


def test_dnsmasq_listens(host, address):
    udp = host.run('ss -Hlunp').stdout.splitlines()
    dnsmasq = [line.split()[3] for line in udp if '"dnsmasq"' in line]
    assert '0.0.0.0%eth0:67' in dnsmasq            # DHCP, bound to the interface
    assert '%s:69' % address in dnsmasq            # TFTP
    assert not [local for local in dnsmasq if local.endswith(':53')]   # no DNS


@pytest.fixture(scope='module')
def client():
    """The second container on the network: a DHCP client (with the role's DHCP probe)."""
    return testinfra.get_host('podman://iaas-boot-client')


def _offers(client, server):
    """The client's PXE DHCPDISCOVER: what ``server`` offers it (none, or one offer)."""
    run = client.run('python3 /usr/local/lib/iaas-dhcp-probe.py --interface eth0 --timeout 3')
    assert run.rc == 0, run.stdout + run.stderr
    found = json.loads(run.stdout)
    return [offer for offer in found['offers'] if offer['server'] == server]


def test_unknown_machine_gets_an_address_and_ipxe(client, address, prefix):
    """Discovery is on: an unknown PXE client (BIOS) gets an address from the range and undionly.kpxe."""
    offers = _offers(client, address)
    assert len(offers) == 1, offers
    assert offers[0]['yiaddr'].startswith(prefix + '.')
    assert 100 <= int(offers[0]['yiaddr'].rsplit('.', 1)[1]) <= 150
    assert offers[0]['bootfile'] == 'undionly.kpxe'
    assert offers[0]['siaddr'] == address               # TFTP from the boot server


def test_known_machine_gets_its_own_address(host, client, address, prefix):
    """A hosts-file line and a reload (SIGHUP) give a MAC its fixed address, and a second reload
    (the line removed) keeps dnsmasq running. Untagged lines: with "set:TAG" lines, dnsmasq 2.90
    crashes on that second SIGHUP (see test_dnsmasq_comes_back_after_a_crash)."""
    hosts = host.file('%s/dnsmasq/hosts' % ROOT).content_string
    mac = client.file('/sys/class/net/eth0/address').content_string.strip()
    try:
        host.run_test('printf %%s %s >> %s/dnsmasq/hosts && systemctl reload dnsmasq.service',
                      '%s,%s.60,pxe-client\n' % (mac, prefix), ROOT)
        offers = _offers(client, address)
        assert [offer['yiaddr'] for offer in offers] == ['%s.60' % prefix]
    finally:
        host.run_test('printf %%s %s > %s/dnsmasq/hosts && systemctl reload dnsmasq.service', hosts, ROOT)
    assert host.service('dnsmasq.service').is_running


def test_dnsmasq_comes_back_after_a_crash(host):
    """The drop-in restarts a dead dnsmasq (Debian's unit alone leaves DHCP down)."""
    before = host.run('systemctl show -p MainPID --value dnsmasq.service').stdout.strip()
    host.run_test('kill -SEGV %s', before)
    host.run_test('for i in $(seq 50); do sleep 0.2; pid=$(systemctl show -p MainPID --value dnsmasq.service); '
                  '[ "$pid" != 0 ] && [ "$pid" != %s ] && systemctl is-active -q dnsmasq.service && exit 0; done; '
                  'exit 1', before)


def test_dnsmasq_started_cleanly(host, prefix):
    log = host.run('journalctl -u dnsmasq.service -b --no-pager -o cat').stdout
    assert 'DHCP, IP range %s.100 -- %s.150' % (prefix, prefix) in log
    assert 'TFTP root is %s/tftp' % ROOT in log


@pytest.mark.parametrize('name', ['undionly.kpxe', 'snponly.efi', 'ipxe.efi'])
def test_ipxe_binaries_over_tftp(host, address, name):
    served = host.file('%s/tftp/%s' % (ROOT, name))
    assert served.is_file
    assert served.mode == 0o644
    assert served.sha256sum == host.file('/usr/lib/ipxe/%s' % name).sha256sum
    fetched = host.run('curl -sS --max-time 10 tftp://%s/%s | sha256sum', address, name)
    assert fetched.rc == 0, fetched.stderr
    assert fetched.stdout.split()[0] == served.sha256sum


def test_http_serves_boot_script(host, address):
    got = host.run('curl -sS --fail --max-time 5 http://%s/ipxe/boot.ipxe', address)
    assert got.rc == 0, got.stderr
    assert got.stdout.startswith('#!ipxe\n')
    assert 'http://%s/ipxe/${mac:hexhyp}.ipxe' % address in got.stdout
    assert 'http://%s/ipxe/discover.ipxe' % address in got.stdout


def test_http_listens_on_the_boot_address_only(host, address):
    tcp = host.run('ss -Hltnp').stdout.splitlines()
    nginx = [line.split()[3] for line in tcp if '"nginx"' in line]
    assert nginx == ['%s:80' % address]


def test_http_hides_dot_files_and_misses(host, address):
    host.run('echo secret > %s/http/ipxe/.tmp-half-written', ROOT)
    for path in ('ipxe/.tmp-half-written', 'ipxe/none.ipxe', ''):
        code = host.run('curl -s -o /dev/null -w "%%{http_code}" --max-time 5 http://%s/%s', address, path).stdout
        assert code in ('403', '404'), (path, code)
    host.run('rm -f %s/http/ipxe/.tmp-half-written', ROOT)


def test_hosts_file_present(host):
    hosts = host.file('%s/dnsmasq/hosts' % ROOT)
    assert hosts.is_file
    assert hosts.mode == 0o644


def _post(host, address, body, content_type='application/json'):
    """POST body to the receiver from inside the container; (status, answer)."""
    out = host.run("printf '%%s' %s | curl -s --max-time 5 -o /dev/stderr -w '%%{http_code}' "
                   "-H 'Content-Type: %s' --data-binary @- http://%s:8088/v1/reports", body, content_type, address)
    return out.stdout.strip(), out.stderr


def test_receiver_accepts_a_valid_report(host, address):
    status, answer = _post(host, address, json.dumps(REPORT))
    assert status == '202', answer
    name = json.loads(answer)['report']
    spooled = host.file('%s/reports/%s' % (ROOT, name))
    assert spooled.exists
    assert spooled.user == 'iaas-report'
    assert json.loads(spooled.content_string)['boot_mac'] == REPORT['boot_mac']


@pytest.mark.parametrize('body', [
    '{"version": 1, "kind": "discover"',                                      # not JSON
    json.dumps(dict(REPORT, boot_mac='not-a-mac')),                            # off schema
    json.dumps(dict(REPORT, kind='../../etc/passwd')),                         # hostile
])
def test_receiver_refuses_a_malformed_report(host, address, body):
    before = host.run('ls %s/reports | wc -l', ROOT).stdout
    status, answer = _post(host, address, body)
    assert status == '400', answer
    assert host.run('ls %s/reports | wc -l', ROOT).stdout == before


def test_receiver_is_confined(host):
    unit = host.run('systemctl show iaas-report-receiver.service -p User -p ProtectSystem -p ReadWritePaths').stdout
    assert 'User=iaas-report' in unit
    assert 'ProtectSystem=strict' in unit
    assert 'ReadWritePaths=%s/reports' % ROOT in unit
    spool = host.file('%s/reports' % ROOT)
    assert spool.user == 'iaas-report'
    assert spool.mode == 0o700


def test_probe_command_installed(host, address):
    """Operators re-check a network with the pre-flight probe; our own offers are left out."""
    run = host.run('iaas-dhcp-probe --interface eth0 --timeout 2 --ignore %s', address)
    assert run.rc == 0, run.stderr
    found = json.loads(run.stdout)
    assert found['interface'] == 'eth0'
    assert found['conflicts'] == []
