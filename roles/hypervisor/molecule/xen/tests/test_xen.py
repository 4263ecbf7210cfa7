# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Xen in a container: installed and configured, no boot loader, not rebooted (testinfra, podman backend)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

XEN_CFG = '/etc/default/grub.d/xen.cfg'


@pytest.mark.parametrize('name', ['xen-system-amd64', 'xen-utils-4.17', 'libvirt-daemon-system',
                                  'libvirt-clients', 'libvirt-daemon-driver-xen'])
def test_packages_installed(host, name):
    assert host.package(name).is_installed


def test_no_qemu_for_kvm(host):
    assert not host.package('qemu-system-x86').is_installed


def test_xl_installed(host):
    assert host.exists('xl')


def test_libvirtd_running_and_enabled(host):
    service = host.service('libvirtd.service')
    assert service.is_running
    assert service.is_enabled


def test_grub_settings_written(host):
    cfg = host.file(XEN_CFG)
    assert cfg.mode == 0o644
    lines = cfg.content_string.splitlines()
    assert 'GRUB_CMDLINE_XEN_DEFAULT="dom0_mem=1024M,max:1024M dom0_max_vcpus=1-2 console=com1 com1=115200,8n1"' \
        in lines
    assert 'XEN_OVERRIDE_GRUB_DEFAULT=1' in lines


def test_grub_settings_make_xen_the_default_entry(host):
    """Sourced the way grub-mkconfig does, the file sets GRUB_DEFAULT to the Xen entry, quietly."""
    run = host.run('GRUB_DISTRIBUTOR=Debian; grub_warn() { echo WARN; }; . %s; echo "$GRUB_DEFAULT"', XEN_CFG)
    assert run.rc == 0, run.stderr
    assert run.stdout.strip() == 'Debian GNU/Linux, with Xen hypervisor'


def test_update_grub_skipped(host):
    """No GRUB in a container: the role wrote its settings but generated no boot menu."""
    assert not host.exists('update-grub')
    assert not host.file('/boot/grub/grub.cfg').exists


def test_no_reboot(host):
    # prepare.yml put this file on /run (a tmpfs): a reboot would have removed it.
    assert host.file('/run/iaas-hyp-boot-marker').exists


def test_bridge_up(host):
    flags = int(host.file('/sys/class/net/br-instances/flags').content_string.strip(), 16)
    assert flags & 1


def test_fact_file(host):
    fact = host.file('/etc/ansible/facts.d/iaas_hypervisor.fact')
    assert fact.mode == 0o644
    assert json.loads(fact.content_string) == {
        'type': 'xen', 'live': 'none', 'virt_type': None, 'reboot_required': True, 'nested': None}
