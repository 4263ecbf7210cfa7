#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: pxe_config
short_description: Write the network boot files and DHCP host entries of nodes on the boot server
version_added: 0.1.0
description:
  - For each node (given in O(nodes), or taken from the hardware O(registry)) writes, under the boot server
    root O(root), the files that decide how the machine with that MAC address boots, and its line in the
    dnsmasq C(dhcp-hostsfile) O(hosts_file) (C(aa:bb:cc:dd:ee:ff,<ip>,<hostname>), without a C(set:) tag, which
    crashes dnsmasq 2.90 when it rereads the file). Other lines of that file are kept as they are.
  - A node with O(nodes[].state=absent) (or O(state=absent)) loses its files and its hosts line instead.
  - Per node, keyed by MAC, an iPXE script C(http/ipxe/aa-bb-cc-dd-ee-ff.ipxe), a PXELINUX configuration
    C(tftp/pxelinux.cfg/01-aa-bb-cc-dd-ee-ff) (BIOS; kernel and initrd over HTTP, so serve C(lpxelinux.0)) and a
    GRUB configuration C(tftp/grub/grub.cfg-01-aa-bb-cc-dd-ee-ff) (UEFI). A node with O(nodes[].boot_mode=bios)
    gets no GRUB file and one with V(uefi) no PXELINUX file; without a boot mode it gets both.
  - Install mode adds the installer's answers, keyed by host name, C(http/install/<hostname>.preseed) (Debian)
    or C(http/install/<hostname>/user-data) and C(meta-data) (Ubuntu autoinstall, cloud-init NoCloud).
  - Every run also writes the files for machines that have none of their own. C(http/ipxe/boot.ipxe) is the first
    iPXE script (let dnsmasq hand it to iPXE clients); it chains to the machine's own script, else to
    C(http/ipxe/discover.ipxe). C(tftp/pxelinux.cfg/default) and C(tftp/grub/grub.cfg) boot the discovery ramdisk,
    or the local disk when O(discover_unknown=false), which also removes C(discover.ipxe).
    Give every C(pxe_config) task of one boot server the same O(server), O(report_url), O(kernel), O(initrd),
    O(kernel_args) and O(discover_unknown), or these shared files change back and forth.
  - "IPv4 addresses come from O(pool). A node's O(nodes[].ip) must lie in the pool. A node without one keeps the
    address it already has (registry C(provisioning.ip), then its line in the hosts file) while that address is
    still in the pool and free; otherwise it gets the lowest free address. The network and broadcast addresses,
    O(gateway), the boot server's own address (when O(server) names it by IP address), O(reserved) addresses and
    addresses the hosts file or the registry gives to other machines are never handed out."
  - "dnsmasq answers only on the boot server's network, so O(pool), O(gateway), O(reserved) and the address of
    O(server) must lie in it: that network is O(network) when given, else the CIDR of O(pool) that holds the
    address of O(server). A pool of ranges only without O(network), and a O(server) given by name with several
    pool CIDRs, cannot be checked."
  - Everything is validated, and every file rendered, before anything is written; one bad node (invalid MAC or
    host name, address outside the pool, duplicate MAC, host name or address, a path that would leave the TFTP or
    HTTP root) fails the task and nothing is written. So does a directory where files would be written or
    removed that the task may not write in, in check mode too.
  - Only files whose content differs are written, each to a temporary file in its directory renamed over the old
    one (mode 0644); boot files first, the hosts file last. Nodes not named in the task keep their files and lines.
  - dnsmasq rereads the hosts file on SIGHUP; notify a handler when RV(hosts_changed) is true.
  - A node in install mode installs again at every network boot; switch it to V(local) once it is installed.
author:
  - datacenter.iaas developers (!UNKNOWN)
options:
  root:
    description:
      - The boot server root (C(boot_server_root)); it must exist. C(tftp/) is the TFTP root and C(http/) the HTTP
        root below it (either may be a symlink to elsewhere).
    type: path
    required: true
    aliases: [boot_server_root]
  server:
    description:
      - How machines reach the boot server's HTTP root, an IP address, host name or http(s) URL
        (V(198.18.0.1), V(http://198.18.0.1:8080)). All boot scripts fetch from it. Given as an IPv4 address
        (alone or in the URL), it is never handed to a node and must lie in the boot server's network (see
        O(pool)).
    type: str
    required: true
  nodes:
    description:
      - The nodes to configure. Mutually exclusive with O(registry).
    type: list
    elements: dict
    suboptions:
      name:
        description: Node name (as in the registry); the host name defaults to it.
        type: str
        required: true
      mac:
        description: MAC address the machine boots from, in any common form.
        type: str
        required: true
      ip:
        description: IPv4 address to give it; must lie in O(pool). Allocated from O(pool) when left out.
        type: str
      hostname:
        description: Host name (one or more DNS labels). Defaults to O(nodes[].name).
        type: str
      state:
        description: V(present) writes its files and hosts line, V(absent) removes them; defaults to O(state).
        type: str
        choices: [present, absent]
      mode:
        description: How it boots when present; defaults to O(mode). See O(mode).
        type: str
        choices: [discover, deploy, install, local]
      boot_mode:
        description: Firmware mode; V(bios) writes only the PXELINUX file, V(uefi) only the GRUB file.
        type: str
        choices: [bios, uefi]
      image:
        description:
          - Image to deploy (deploy mode), an http(s) URL, a path under the HTTP root, or a file name in C(images/)
            under the HTTP root. Defaults to O(image).
        type: str
      image_sha256:
        description:
          - SHA-256 of O(nodes[].image). Without it, a path image's C(<image>.sha256) file under the HTTP root is read.
        type: str
      disk:
        description: Disk to write the image or install to, V(auto) or a device path. Defaults to O(disk).
        type: str
      install:
        description: Installer settings, merged over O(install) key by key.
        type: dict
      kernel_args:
        description: Kernel arguments for this node, after O(kernel_args).
        type: str
  registry:
    description:
      - Path of the hardware registry; configure its nodes selected by O(states) and O(roles), all by default.
      - A node boots from C(provisioning.mac), else from its NIC with C(pxe=true); nodes with neither are skipped
        (RV(skipped_nodes)). Its host name is C(provisioning.hostname), else its name; its address, boot mode and image
        come from C(provisioning) too. All registry nodes get O(mode).
    type: path
  states:
    description: With O(registry), only nodes in these lifecycle states.
    type: list
    elements: str
    choices: [enrolled, manageable, available, deploying, active, maintenance, failed, retired]
  roles:
    description: With O(registry), only nodes with these roles.
    type: list
    elements: str
    choices: [controller, network, compute, storage]
  update_registry:
    description:
      - With O(registry), record each node's address and host name in its C(provisioning) section (under the
        registry lock, atomically). Absent nodes keep theirs.
    type: bool
    default: false
  state:
    description:
      - State of nodes that do not say. V(present) writes each node's boot files and hosts line, V(absent) removes
        them (the shared files for unknown machines stay).
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - Boot mode of present nodes that do not say. V(discover) boots the discovery ramdisk, which reports the
        hardware. V(deploy) boots the deploy ramdisk, which writes the node's image to its disk. V(install) boots
        the Debian or Ubuntu installer with answers rendered from the O(templates). V(local) boots from the local
        disk.
    type: str
    choices: [discover, deploy, install, local]
    default: discover
  pool:
    description:
      - IPv4 addresses to hand out, CIDRs (whose network and broadcast addresses are left out) or ranges
        (V(198.18.0.10-198.18.0.250)). Required unless every node has an O(nodes[].ip) or is absent.
      - It must lie in the boot server's network (see the description).
    type: list
    elements: str
  network:
    description:
      - The boot server's subnet (CIDR) the pool lies in, when the pool is a range or part of a larger subnet; its
        network and broadcast addresses are left out. O(pool), O(gateway), O(reserved) and the address of
        O(server) must lie in it.
    type: str
  gateway:
    description: The subnet's router, an IPv4 address in the boot server's network; never handed out.
    type: str
  reserved:
    description: IPv4 addresses, ranges or CIDRs of the pool never to hand out; they must lie in the boot server's network.
    type: list
    elements: str
    default: []
  kernel:
    description: The ramdisk kernel, a path under the HTTP root.
    type: str
    default: ramdisk/vmlinuz
  initrd:
    description: The ramdisk initrd, a path under the HTTP root.
    type: str
    default: ramdisk/initramfs.cpio.gz
  image:
    description:
      - Image for deploy mode nodes that name none, an http(s) URL, a path under the HTTP root, or a file name in
        C(images/) under the HTTP root.
    type: str
  image_sha256:
    description: SHA-256 of O(image); applies only to nodes that deploy O(image).
    type: str
  disk:
    description: Disk to deploy or install to, V(auto) (the first disk) or a device path like V(/dev/sda).
    type: str
    default: auto
  install:
    description:
      - Installer settings for install mode; a node's O(nodes[].install) overrides them key by key.
      - C(os) (V(debian) or V(ubuntu)) is required. C(kernel), C(initrd) (and for Ubuntu C(iso)) are URLs or paths
        under the HTTP root (defaults C(images/debian-installer/linux) and C(initrd.gz), C(images/ubuntu-installer/vmlinuz),
        C(initrd) and C(live-server-amd64.iso)).
      - The default templates use C(locale), C(keyboard), C(timezone), C(username) (V(iaas)), C(password_hash)
        (crypted; none locks the password), C(ssh_authorized_keys), C(packages), and for Debian C(mirror),
        C(mirror_directory), C(suite), C(proxy). Any other key is passed to the templates as it is.
    type: dict
  report_url:
    description:
      - Where the ramdisk posts its reports (C(iaas.report)), an http(s) URL (port 1-65535). Defaults to
        C(http://<server host>:8088/v1/reports).
    type: str
  kernel_args:
    description: Extra kernel arguments for every boot (V(console=ttyS0,115200n8)); no quotes, C($), C(;) or C(#).
    type: str
    default: ''
  templates:
    description:
      - Jinja2 templates (files on the managed host) that replace the built-in ones.
      - Boot templates (O(templates.ipxe), O(templates.pxelinux), O(templates.grub)) get C(node) (C(name), C(mac),
        C(mac_dashed), C(ip), C(hostname), C(short_hostname), C(domain), C(mode), C(boot_mode), C(image_url),
        C(image_sha256), C(disk), C(install), C(kernel_args); empty strings for the files of unknown machines,
        then C(unknown) is true), C(server), C(kernel_url), C(initrd_url), C(initrd_name), C(cmdline),
        C(grub_kernel), C(grub_initrd), C(grub_cmdline), C(bootif), C(title), C(marker), C(report_url).
      - Installer templates (O(templates.preseed), O(templates.autoinstall)) get C(node), C(install), C(server),
        C(marker).
      - Undefined variables are errors. Filters C(to_json), C(oneline) (refuses line breaks) and C(shell_quote) are
        available; templates run in Jinja2's sandbox.
    type: dict
    suboptions:
      ipxe:
        description: Template of the per-node iPXE script and of C(discover.ipxe).
        type: path
      pxelinux:
        description: Template of the PXELINUX files.
        type: path
      grub:
        description: Template of the GRUB files.
        type: path
      preseed:
        description: Template of the Debian preseed.
        type: path
      autoinstall:
        description: Template of the Ubuntu autoinstall user-data.
        type: path
  discover_unknown:
    description:
      - Machines without files of their own boot the discovery ramdisk. With V(false) they leave network boot
        (iPXE) or boot from the local disk (PXELINUX, GRUB).
    type: bool
    default: true
  hosts_file:
    description: The dnsmasq C(dhcp-hostsfile), a path under O(root) or an absolute path.
    type: str
    default: dnsmasq/hosts
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the files or the registry.
    support: full
  diff_mode:
    description: Returns the changed files before and after (the hosts file first; at most 20 files, each clipped at 16 KiB).
    support: full
requirements:
  - netaddr
  - Jinja2
  - PyYAML (with O(registry))
'''

EXAMPLES = r'''
- name: Boot three new machines into discovery
  datacenter.iaas.pxe_config:
    root: /srv/iaas
    server: 198.18.0.1
    pool: 198.18.0.0/24
    gateway: 198.18.0.1
    nodes:
      - {name: rack1-u07, mac: "52:54:00:aa:bb:07"}
      - {name: rack1-u08, mac: "52:54:00:aa:bb:08"}
      - {name: rack1-u09, mac: "52:54:00:aa:bb:09", ip: 198.18.0.109}
  notify: Reload dnsmasq

- name: Deploy an image on every available compute node of the registry, recording their addresses
  datacenter.iaas.pxe_config:
    root: /srv/iaas
    server: 198.18.0.1
    registry: /srv/datacenter/registry.yml
    states: [available]
    roles: [compute]
    update_registry: true
    mode: deploy
    image: images/debian-12-generic-amd64.qcow2
    image_sha256: "{{ debian_image_sha256 }}"
    disk: /dev/sda
    pool: 198.18.0.0/22
    gateway: 198.18.0.1
    reserved: [198.18.0.1-198.18.0.20]
  notify: Reload dnsmasq

- name: Install Ubuntu on one machine, with my key
  datacenter.iaas.pxe_config:
    root: /srv/iaas
    server: 198.18.0.1
    pool: 198.18.0.0/24
    nodes:
      - name: rack1-u10
        mac: "52:54:00:aa:bb:10"
        hostname: rack1-u10.dc1.example.net
        mode: install
        boot_mode: uefi
        install:
          os: ubuntu
          ssh_authorized_keys: ["{{ lookup('file', '~/.ssh/id_ed25519.pub') }}"]

- name: Forget a machine (its files and its DHCP entry)
  datacenter.iaas.pxe_config:
    root: /srv/iaas
    server: 198.18.0.1
    nodes:
      - {name: rack1-u07, mac: "52:54:00:aa:bb:07", state: absent}

- name: Remove the boot files of every retired node of the registry
  datacenter.iaas.pxe_config:
    root: /srv/iaas
    server: 198.18.0.1
    registry: /srv/datacenter/registry.yml
    states: [retired]
    state: absent
'''

RETURN = r'''
nodes:
  description: Every node configured, in order, with what it got.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
    mac:
      description: Its MAC address, lower-case and colon-separated.
      type: str
    ip:
      description: Its IPv4 address; V(null) for an absent node.
      type: str
    hostname:
      description: Its host name.
      type: str
    state:
      description: V(present) or V(absent).
      type: str
    mode:
      description: Its boot mode; V(null) for an absent node.
      type: str
    boot_mode:
      description: Its firmware mode, V(null) when not known.
      type: str
    files:
      description: Its files, relative to O(root).
      type: list
      elements: str
    changed:
      description: Whether any of its files or its hosts line changed (or would, in check mode).
      type: bool
  sample:
    - {name: rack1-u07, mac: "52:54:00:aa:bb:07", ip: 198.18.0.2, hostname: rack1-u07, state: present,
       mode: discover, boot_mode: null, changed: true,
       files: [http/ipxe/52-54-00-aa-bb-07.ipxe, tftp/grub/grub.cfg-01-52-54-00-aa-bb-07,
               tftp/pxelinux.cfg/01-52-54-00-aa-bb-07]}
changed_files:
  description: Files written (or that would be), relative to O(root); the hosts file as given in O(hosts_file).
  returned: always
  type: list
  elements: str
  sample: [dnsmasq/hosts, http/ipxe/52-54-00-aa-bb-07.ipxe]
removed_files:
  description: Files removed (or that would be), relative to O(root).
  returned: always
  type: list
  elements: str
  sample: [http/ipxe/52-54-00-aa-bb-08.ipxe]
hosts_changed:
  description: Whether the dnsmasq hosts file changed; dnsmasq needs a SIGHUP to reread it.
  returned: always
  type: bool
  sample: true
skipped_nodes:
  description: Registry nodes left out because they have no boot MAC (no C(provisioning.mac), no NIC with C(pxe=true)).
  returned: always
  type: list
  elements: str
  sample: [rack2-u01]
'''

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.datacenter.iaas.plugins.module_utils.edge import IaasModule
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import run
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.render import JINJA2_IMPORT_ERROR
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.settings import (
    BOOT_MODES, DEFAULT_HOSTS_FILE, DEFAULT_INITRD, DEFAULT_KERNEL, MODES, STATES, TEMPLATE_KINDS, Settings)
from ansible_collections.datacenter.iaas.plugins.module_utils.registry import ROLES, YAML_IMPORT_ERROR
from ansible_collections.datacenter.iaas.plugins.module_utils.registry import STATES as LIFECYCLE_STATES
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import NETADDR_IMPORT_ERROR


def argument_spec():
    return dict(
        root=dict(type='path', required=True, aliases=['boot_server_root']),
        server=dict(type='str', required=True),
        nodes=dict(type='list', elements='dict', options=dict(
            name=dict(type='str', required=True),
            mac=dict(type='str', required=True),
            ip=dict(type='str'),
            hostname=dict(type='str'),
            state=dict(type='str', choices=list(STATES)),
            mode=dict(type='str', choices=list(MODES)),
            boot_mode=dict(type='str', choices=list(BOOT_MODES)),
            image=dict(type='str'),
            image_sha256=dict(type='str'),
            disk=dict(type='str'),
            install=dict(type='dict'),
            kernel_args=dict(type='str'),
        )),
        registry=dict(type='path'),
        states=dict(type='list', elements='str', choices=list(LIFECYCLE_STATES)),
        roles=dict(type='list', elements='str', choices=list(ROLES)),
        update_registry=dict(type='bool', default=False),
        state=dict(type='str', default='present', choices=list(STATES)),
        mode=dict(type='str', default='discover', choices=list(MODES)),
        pool=dict(type='list', elements='str'),
        network=dict(type='str'),
        gateway=dict(type='str'),
        reserved=dict(type='list', elements='str', default=[]),
        kernel=dict(type='str', default=DEFAULT_KERNEL),
        initrd=dict(type='str', default=DEFAULT_INITRD),
        image=dict(type='str'),
        image_sha256=dict(type='str'),
        disk=dict(type='str', default='auto'),
        install=dict(type='dict'),
        report_url=dict(type='str'),
        kernel_args=dict(type='str', default=''),
        templates=dict(type='dict', options=dict((kind, dict(type='path')) for kind in TEMPLATE_KINDS)),
        discover_unknown=dict(type='bool', default=True),
        hosts_file=dict(type='str', default=DEFAULT_HOSTS_FILE),
    )


def work(module):
    params = module.params
    if params['registry'] and YAML_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=str(YAML_IMPORT_ERROR))
    output = run.run(Settings.from_params(params), nodes=params['nodes'], registry=params['registry'],
                     states=params['states'], roles=params['roles'], update_registry=params['update_registry'],
                     check_mode=module.check_mode, diff=module._diff)
    if output['skipped_nodes']:
        module.warn(run.skipped_warning(output['skipped_nodes']))
    return output


def main():
    IaasModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[('nodes', 'registry')],
        required_one_of=[('nodes', 'registry')],
        required_by={'states': 'registry', 'roles': 'registry'},
        required_if=[('update_registry', True, ('registry',))],
        supports_check_mode=True,
        libraries=[('netaddr', NETADDR_IMPORT_ERROR), ('Jinja2', JINJA2_IMPORT_ERROR)],
    ).run(work)


if __name__ == '__main__':
    main()
