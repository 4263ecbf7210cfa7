# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KVM in a container, seen from inside it (testinfra, podman backend)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

BRIDGE = 'br-instances'
UPLINK = 'iaas-up0'
FACT = '/etc/ansible/facts.d/iaas_hypervisor.fact'


@pytest.mark.parametrize('name', ['qemu-system-x86', 'libvirt-daemon-system', 'libvirt-clients',
                                  'ifupdown', 'bridge-utils'])
def test_packages_installed(host, name):
    assert host.package(name).is_installed


def test_no_recommended_packages(host):
    # qemu-system-x86 recommends qemu-system-gui and ovmf; --no-install-recommends keeps them out.
    assert not host.package('qemu-system-gui').is_installed
    assert not host.package('xen-system-amd64').is_installed


def test_libvirtd_running_and_enabled(host):
    service = host.service('libvirtd.service')
    assert service.is_running
    assert service.is_enabled


def test_libvirt_answers(host):
    out = host.check_output('virsh -c qemu:///system version')
    assert 'Running hypervisor: QEMU' in out


def test_libvirt_default_network_off(host):
    info = host.check_output('virsh -c qemu:///system net-info default')
    assert 'Active:         no' in info
    assert 'Autostart:      no' in info


def test_bridge_up_with_its_uplink(host):
    assert host.file('/sys/class/net/%s/bridge' % BRIDGE).is_directory
    flags = int(host.file('/sys/class/net/%s/flags' % BRIDGE).content_string.strip(), 16)
    assert flags & 1, 'bridge is not up'
    assert host.file('/sys/class/net/%s/master' % UPLINK).linked_to == '/sys/devices/virtual/net/%s' % BRIDGE


def test_bridge_configured_persistently(host):
    conf = host.file('/etc/network/interfaces.d/iaas-%s' % BRIDGE)
    assert conf.mode == 0o644
    lines = [line.strip() for line in conf.content_string.splitlines()]
    for line in ('auto %s' % BRIDGE, 'iface %s inet manual' % BRIDGE, 'bridge_ports %s' % UPLINK):
        assert line in lines, line
    assert 'source /etc/network/interfaces.d/*' in host.file('/etc/network/interfaces').content_string
    # ifupdown itself knows the bridge is up (so `ifdown`/`ifup` and the boot work on it).
    assert host.run('ifquery --state %s', BRIDGE).stdout.strip() == '%s=%s' % (BRIDGE, BRIDGE)


def test_fact_file(host):
    fact = host.file(FACT)
    assert fact.mode == 0o644
    # No vmx/svm on this machine's CPU: QEMU runs guests in software emulation (TCG).
    hardware = host.run("grep -Eqw 'vmx|svm' /proc/cpuinfo").rc == 0
    live = 'kvm' if hardware and host.file('/dev/kvm').is_character_device else 'qemu'
    nested = None
    for vendor in ('kvm_intel', 'kvm_amd'):
        param = host.file('/sys/module/%s/parameters/nested' % vendor)
        if param.exists:
            nested = param.content_string.strip() in ('Y', '1')
    assert json.loads(fact.content_string) == {
        'type': 'kvm', 'live': live, 'virt_type': live, 'reboot_required': False, 'nested': nested}
