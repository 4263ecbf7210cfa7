# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proxy mode beside another DHCP server (the converge already checked the full-mode failure)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest
import testinfra

CONF = '/etc/dnsmasq.d/iaas.conf'


@pytest.fixture(scope='module')
def client():
    """The other container: the network's DHCP server, and a PXE client's point of view."""
    return testinfra.get_host('podman://iaas-rogue-dhcp')


def _ipv4(host):
    return [a for a in host.interface('eth0').addresses if '.' in a][0]


@pytest.fixture(scope='module')
def address(host):
    return _ipv4(host)


def test_dnsmasq_runs_in_proxy_mode(host, address):
    assert host.service('dnsmasq.service').is_running
    lines = host.file(CONF).content_string.splitlines()
    network = address.rsplit('.', 1)[0] + '.0'
    assert 'dhcp-range=%s,proxy,255.255.255.0' % network in lines
    assert 'pxe-service=tag:!ipxe,x86PC,"datacenter.iaas: iPXE (BIOS)",undionly.kpxe' in lines
    assert 'pxe-service=tag:ipxe,x86PC,"datacenter.iaas: boot script",http://%s/ipxe/boot.ipxe' % address in lines
    assert 'dhcp-ignore=tag:!known' in lines            # discovery off
    # Not the network's DHCP server: no authority, no addresses, no router.
    for absent in ('dhcp-authoritative', 'no-ping', 'dhcp-option=option:router'):
        assert absent not in lines


def _probe(client, address):
    """What a PXE client (the other container) is offered by the boot server at ``address``."""
    run = client.run('python3 /usr/local/lib/iaas-dhcp-probe.py --interface eth0 --timeout 4 --mode proxy --ignore %s', _ipv4(client))
    assert run.rc == 0, run.stdout + run.stderr
    found = json.loads(run.stdout)
    return [offer for offer in found['offers'] if offer['server'] == address], found


def test_only_known_machines_get_our_boot_information(host, client, address):
    """Discovery is off: an unknown MAC gets nothing from us; once the hosts file knows it (as
    pxe_config writes it, less the tag, then a SIGHUP), its PXE DHCPDISCOVER gets our boot file, and no
    address."""
    hosts = host.file('/srv/iaas/dnsmasq/hosts').content_string
    mac = client.file('/sys/class/net/eth0/address').content_string.strip()
    ours, found = _probe(client, address)
    assert ours == [], found
    line = '%s,%s.50,pxe-client\n' % (mac, address.rsplit('.', 1)[0])
    try:
        host.run_test('printf %%s %s >> /srv/iaas/dnsmasq/hosts && systemctl reload dnsmasq.service', line)
        ours, found = _probe(client, address)
        assert ours, found
        assert ours[0]['pxe'] is True
        assert ours[0]['yiaddr'] is None               # proxy-DHCP gives no address
    finally:
        host.run('printf %%s %s > /srv/iaas/dnsmasq/hosts && systemctl reload dnsmasq.service', hosts)


def test_the_dhcp_server_still_answers(client, host, address):
    """The expected DHCP server keeps handing out addresses, seen from the boot server."""
    run = host.run('iaas-dhcp-probe --interface eth0 --timeout 4 --mode proxy --ignore %s', address)
    assert run.rc == 0, run.stdout + run.stderr
    found = json.loads(run.stdout)
    assert [offer for offer in found['offers'] if offer['server'] == _ipv4(client) and offer['yiaddr']], found
    assert found['conflicts'] == []
