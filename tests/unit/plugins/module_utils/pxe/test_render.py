# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
from ansible_collections.datacenter.iaas.tests.unit.plugins.module_utils.pxe.helpers import SHA, node, render


def test_render_discover(tmp_path):
    files = render(tmp_path, node(7), kernel_args='console=ttyS0,115200n8')
    assert sorted(files) == ['http/ipxe/52-54-00-00-00-07.ipxe', 'tftp/grub/grub.cfg-01-52-54-00-00-00-07',
                             'tftp/pxelinux.cfg/01-52-54-00-00-00-07']
    ipxe = files['http/ipxe/52-54-00-00-00-07.ipxe']
    assert ipxe.startswith('#!ipxe\n')
    assert ('kernel http://198.18.0.1/ramdisk/vmlinuz initrd=initramfs.cpio.gz iaas.mode=discover '
            'iaas.report=http://198.18.0.1:8088/v1/reports console=ttyS0,115200n8 BOOTIF=01-52-54-00-00-00-07') in ipxe
    assert '\ninitrd http://198.18.0.1/ramdisk/initramfs.cpio.gz || goto failed\nboot || goto failed\n' in ipxe
    grub = files['tftp/grub/grub.cfg-01-52-54-00-00-00-07']
    assert '  linux (http,198.18.0.1)/ramdisk/vmlinuz iaas.mode=discover' in grub
    assert '  initrd (http,198.18.0.1)/ramdisk/initramfs.cpio.gz\n' in grub
    pxelinux = files['tftp/pxelinux.cfg/01-52-54-00-00-00-07']
    assert 'KERNEL http://198.18.0.1/ramdisk/vmlinuz\n' in pxelinux
    assert 'APPEND initrd=http://198.18.0.1/ramdisk/initramfs.cpio.gz iaas.mode=discover' in pxelinux


def test_render_deploy(tmp_path):
    files = render(tmp_path, node(7, mode='deploy', disk='/dev/vda', boot_mode='uefi'),
                   image='images/debian-12.qcow2', image_sha256=SHA.upper())
    assert sorted(files) == ['http/ipxe/52-54-00-00-00-07.ipxe', 'tftp/grub/grub.cfg-01-52-54-00-00-00-07']
    args = 'iaas.image=http://198.18.0.1/images/debian-12.qcow2 iaas.sha256=%s iaas.disk=/dev/vda' % SHA
    assert 'iaas.mode=deploy' in files['http/ipxe/52-54-00-00-00-07.ipxe']
    assert all(args in content for content in files.values())


def test_deploy_checksum_from_sidecar_file(tmp_path):
    os.makedirs(str(tmp_path / 'http' / 'images'))
    (tmp_path / 'http' / 'images' / 'a.img.sha256').write_text('%s  a.img\n' % SHA)
    files = render(tmp_path, node(7, mode='deploy', image='images/a.img', boot_mode='bios'))
    assert 'iaas.sha256=%s' % SHA in files['tftp/pxelinux.cfg/01-52-54-00-00-00-07']
    # The call-wide checksum belongs to the call-wide image only.
    with pytest.raises(InputError, match='needs image_sha256'):
        render(tmp_path, node(7, mode='deploy', image='images/b.img'), image='images/a.img', image_sha256=SHA)


def test_render_local(tmp_path):
    files = render(tmp_path, node(7, mode='local'))
    assert 'sanboot --no-describe --drive 0x80' in files['http/ipxe/52-54-00-00-00-07.ipxe']
    assert 'LOCALBOOT 0' in files['tftp/pxelinux.cfg/01-52-54-00-00-00-07']
    assert files['tftp/grub/grub.cfg-01-52-54-00-00-00-07'].splitlines()[1:] == ['exit']


def test_render_install_debian(tmp_path):
    files = render(tmp_path, node(7, mode='install', hostname='web1.dc1.example', disk='/dev/sdb',
                                  install={'ssh_authorized_keys': ["ssh-ed25519 AAAA it's me"]}),
                   install={'os': 'debian', 'suite': 'trixie'})
    preseed = files['http/install/web1.dc1.example.preseed']
    assert 'd-i netcfg/get_hostname string web1\n' in preseed
    assert 'd-i netcfg/get_domain string dc1.example\n' in preseed
    assert 'd-i mirror/suite string trixie\n' in preseed
    assert 'd-i partman-auto/disk string /dev/sdb\n' in preseed
    assert "printf '%s\\n' 'ssh-ed25519 AAAA it'\"'\"'s me' >" in preseed
    ipxe = files['http/ipxe/52-54-00-00-00-07.ipxe']
    assert ('kernel http://198.18.0.1/images/debian-installer/linux initrd=initrd.gz auto=true priority=critical '
            'url=http://198.18.0.1/install/web1.dc1.example.preseed hostname=web1 domain=dc1.example') in ipxe


def test_render_install_ubuntu(tmp_path):
    files = render(tmp_path, node(7, mode='install', install={'os': 'ubuntu', 'iso': 'http://mirror/u.iso'}))
    assert sorted(files)[:2] == ['http/install/n7/meta-data', 'http/install/n7/user-data']
    user_data = files['http/install/n7/user-data']
    assert user_data.startswith('#cloud-config\n')
    assert 'lock_passwd: true' in user_data
    grub = files['tftp/grub/grub.cfg-01-52-54-00-00-00-07']
    assert "url=http://mirror/u.iso autoinstall 'ds=nocloud-net;s=http://198.18.0.1/install/n7/'" in grub
    assert 'autoinstall ds=nocloud-net;s=http://198.18.0.1/install/n7/ ' in files['http/ipxe/52-54-00-00-00-07.ipxe']
    yaml = pytest.importorskip('yaml')
    document = yaml.safe_load(user_data)
    assert document['autoinstall']['user-data']['hostname'] == 'n7'
    assert document['autoinstall']['version'] == 1


def test_user_templates(tmp_path):
    template = tmp_path / 'my.ipxe.j2'
    template.write_text('#!ipxe\n# {{ node.name or "unknown" }} {{ node.mac }} {{ node.ip }}\nchain {{ kernel_url }}\n')
    files = render(tmp_path, node(7), templates={'ipxe': str(template)})
    assert files['http/ipxe/52-54-00-00-00-07.ipxe'] == (
        '#!ipxe\n# n7 52:54:00:00:00:07 198.18.0.9\nchain http://198.18.0.1/ramdisk/vmlinuz\n')
    template.write_text('{{ node.nmae }}')
    with pytest.raises(InputError, match="ipxe template .*my.ipxe.j2.*'nmae'"):
        render(tmp_path, node(7), templates={'ipxe': str(template)})
    template.write_text('{% if %}')
    with pytest.raises(InputError, match='line 1'):
        render(tmp_path, node(7), templates={'ipxe': str(template)})
    with pytest.raises(InputError, match='cannot read'):
        render(tmp_path, node(7), templates={'grub': str(tmp_path / 'missing')})


def test_template_cannot_reach_python_internals(tmp_path):
    template = tmp_path / 'evil.j2'
    template.write_text("{{ node.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(InputError):
        render(tmp_path, node(7), templates={'pxelinux': str(template)})


def test_oneline_filter_refuses_line_breaks(tmp_path):
    with pytest.raises(InputError, match='line break'):
        render(tmp_path, node(7, mode='install', install={'os': 'debian', 'suite': 'x\nd-i evil string y'}))


def test_bare_image_name_lives_in_images(tmp_path):
    files = render(tmp_path, node(7, mode='deploy', image='debian-12.qcow2', image_sha256=SHA, boot_mode='bios'))
    assert 'iaas.image=http://198.18.0.1/images/debian-12.qcow2 ' in files['tftp/pxelinux.cfg/01-52-54-00-00-00-07']


def test_absent_node_has_no_files(tmp_path):
    assert render(tmp_path, node(7, state='absent')) == {}
