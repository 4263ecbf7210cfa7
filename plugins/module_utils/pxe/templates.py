# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Default Jinja2 templates of the boot files (``render`` compiles them).

They live here as strings because module_utils cannot ship data files. Users
replace any of them with the ``templates`` option of ``pxe_config``; the
context each template gets is described in that module's documentation.

Environment: trim_blocks, lstrip_blocks, keep_trailing_newline, StrictUndefined
(a misspelt variable is an error, not an empty string), filters ``to_json``,
``oneline`` and ``shell_quote``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# First comment of every file pxe_config writes.
MARKER = 'Managed by datacenter.iaas.pxe_config; local changes are overwritten.'

# iPXE: load the ramdisk or installer; retry forever on a transient HTTP failure.
# For local boot, BIOS hands over to the first disk; UEFI returns to the firmware's next boot entry.
IPXE = r'''#!ipxe
# {{ marker }}
{% if node.mode == 'local' %}
iseq ${platform} efi && goto exit ||
sanboot --no-describe --drive 0x80 || goto exit
:exit
exit
{% else %}
:retry
imgfree
kernel {{ kernel_url }} initrd={{ initrd_name }} {{ cmdline }} BOOTIF={{ bootif }} || goto failed
initrd {{ initrd_url }} || goto failed
boot || goto failed
:failed
echo {{ title }}: boot failed, retrying in 10 seconds
sleep 10
goto retry
{% endif %}
'''

# PXELINUX: kernel and initrd over HTTP (lpxelinux.0); IPAPPEND 2 adds BOOTIF=01-<mac>.
PXELINUX = r'''# {{ marker }}
{% if node.mode == 'local' %}
DEFAULT local
PROMPT 0
TIMEOUT 0
LABEL local
  LOCALBOOT 0
{% else %}
DEFAULT {{ node.mode }}
PROMPT 0
TIMEOUT 0
LABEL {{ node.mode }}
  KERNEL {{ kernel_url }}
  APPEND initrd={{ initrd_url }} {{ cmdline }}
  IPAPPEND 2
{% endif %}
'''

# GRUB (UEFI): kernel and initrd over HTTP from the boot server; 'exit' returns to the firmware.
GRUB = r'''# {{ marker }}
{% if node.mode == 'local' %}
exit
{% else %}
set default=0
set timeout=0
menuentry '{{ title }}' {
  linux {{ grub_kernel }} {{ grub_cmdline }} BOOTIF={{ bootif }}
  initrd {{ grub_initrd }}
}
{% endif %}
'''

# Debian installer preseed (fetched with url=... on the installer's command line).
PRESEED = r'''# {{ marker }}
d-i debian-installer/locale string {{ install.locale | oneline }}
d-i keyboard-configuration/xkb-keymap select {{ install.keyboard | oneline }}
d-i netcfg/choose_interface select auto
d-i netcfg/get_hostname string {{ node.short_hostname }}
d-i netcfg/get_domain string {{ node.domain }}
d-i netcfg/hostname string {{ node.short_hostname }}
d-i hw-detect/load_firmware boolean true
d-i mirror/country string manual
d-i mirror/http/hostname string {{ install.mirror | oneline }}
d-i mirror/http/directory string {{ install.mirror_directory | oneline }}
d-i mirror/http/proxy string {{ install.proxy | default('', true) | oneline }}
d-i mirror/suite string {{ install.suite | oneline }}
d-i clock-setup/utc boolean true
d-i time/zone string {{ install.timezone | oneline }}
d-i clock-setup/ntp boolean true
d-i passwd/root-login boolean false
d-i passwd/user-fullname string {{ install.username | oneline }}
d-i passwd/username string {{ install.username | oneline }}
d-i passwd/user-password-crypted password {{ install.password_hash | default('!', true) | oneline }}
{% if node.disk == 'auto' %}
d-i partman/early_command string debconf-set partman-auto/disk "$(list-devices disk | head -n1)"
{% else %}
d-i partman-auto/disk string {{ node.disk }}
{% endif %}
d-i partman-auto/method string lvm
d-i partman-auto/choose_recipe select atomic
d-i partman-lvm/device_remove_lvm boolean true
d-i partman-md/device_remove_md boolean true
d-i partman-lvm/confirm boolean true
d-i partman-lvm/confirm_nooverwrite boolean true
d-i partman-auto-lvm/guided_size string max
d-i partman-partitioning/confirm_write_new_label boolean true
d-i partman/choose_partition select finish
d-i partman/confirm boolean true
d-i partman/confirm_nooverwrite boolean true
d-i partman-efi/non_efi_system boolean true
tasksel tasksel/first multiselect standard, ssh-server
d-i pkgsel/include string {{ install.packages | join(' ') | oneline }}
d-i pkgsel/upgrade select full-upgrade
popularity-contest popularity-contest/participate boolean false
d-i grub-installer/only_debian boolean true
d-i grub-installer/bootdev string default
{% if install.ssh_authorized_keys %}
{% set home = '/target/home/' ~ install.username %}
d-i preseed/late_command string \
  mkdir -p {{ home }}/.ssh; \
  printf '%s\n' {{ install.ssh_authorized_keys | map('oneline') | map('shell_quote') | join(' ') }} > {{ home }}/.ssh/authorized_keys; \
  in-target chown -R {{ install.username }}:{{ install.username }} /home/{{ install.username }}/.ssh; \
  chmod 0700 {{ home }}/.ssh; chmod 0600 {{ home }}/.ssh/authorized_keys
{% endif %}
d-i finish-install/reboot_in_progress note
'''

# Ubuntu autoinstall (subiquity), served as cloud-init NoCloud user-data; values are JSON, which is YAML.
AUTOINSTALL = r'''#cloud-config
# {{ marker }}
autoinstall:
  version: 1
  locale: {{ install.locale | to_json }}
  keyboard: {layout: {{ install.keyboard | to_json }}}
  timezone: {{ install.timezone | to_json }}
  refresh-installer: {update: false}
  ssh: {install-server: true, allow-pw: false}
  packages: {{ install.packages | to_json }}
  storage:
    layout:
      name: lvm
{% if node.disk != 'auto' %}
      match: {path: {{ node.disk | to_json }}}
{% endif %}
  user-data:
    hostname: {{ node.short_hostname | to_json }}
    fqdn: {{ node.hostname | to_json }}
    users:
      - name: {{ install.username | to_json }}
        shell: /bin/bash
        sudo: "ALL=(ALL) NOPASSWD:ALL"
{% if install.password_hash %}
        lock_passwd: false
        passwd: {{ install.password_hash | to_json }}
{% else %}
        lock_passwd: true
{% endif %}
        ssh_authorized_keys: {{ install.ssh_authorized_keys | to_json }}
  shutdown: reboot
'''

# NoCloud meta-data: a stable instance id per host, so cloud-init runs once.
META_DATA = r'''instance-id: iaas-{{ node.hostname }}
local-hostname: {{ node.short_hostname }}
'''

# The first iPXE script (dnsmasq hands it to iPXE clients): the node's own script, else discovery.
BOOT_IPXE = r'''#!ipxe
# {{ marker }}
chain --autofree {{ server }}/ipxe/${mac:hexhyp}.ipxe ||
{% if discover_unknown %}
chain --autofree {{ server }}/ipxe/discover.ipxe ||
{% endif %}
echo No boot configuration for ${mac}: leaving network boot
exit
'''

DEFAULTS = {
    'ipxe': IPXE,
    'pxelinux': PXELINUX,
    'grub': GRUB,
    'preseed': PRESEED,
    'autoinstall': AUTOINSTALL,
}
