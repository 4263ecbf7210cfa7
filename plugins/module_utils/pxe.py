# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Boot files of the boot server (docs/architecture.md, "Boot server layout").

Three steps, each usable alone:

* ``Settings`` and ``prepare_nodes`` (or ``registry_entries``) validate
  everything the user gave and raise InputError before anything is touched;
* ``plan`` allocates addresses, renders every file in memory (pure functions
  of the settings and the nodes), reads what is on disk and keeps only the
  differences: files to write, files to remove, the new dnsmasq hosts file;
* ``apply`` writes those differences, each through a temporary file in the same
  directory and an atomic rename, boot files first and the hosts file last,
  then removes what is no longer wanted.

Every path is built from a normalized MAC or a validated host name, and is
checked to stay inside its root (TFTP, HTTP) after symlinks are resolved.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import io
import json
import os
import re
import shlex
import stat
import tempfile
import time

from ansible_collections.datacenter.iaas.plugins.module_utils import pxe_templates
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import (
    _span, normalize_mac, validate_host, validate_ip, validate_node_name)

try:
    import jinja2
    import jinja2.sandbox
    HAS_JINJA2 = True
    JINJA2_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_JINJA2 = False
    JINJA2_IMPORT_ERROR = exc

MODES = ('discover', 'deploy', 'install', 'local', 'absent')
BOOT_MODES = ('bios', 'uefi')
INSTALL_OS = ('debian', 'ubuntu')
TEMPLATE_KINDS = ('ipxe', 'pxelinux', 'grub', 'preseed', 'autoinstall')
FILE_MODE = 0o644
DIR_MODE = 0o755
DEFAULT_KERNEL = 'ramdisk/vmlinuz'
DEFAULT_INITRD = 'ramdisk/initramfs.cpio.gz'
DEFAULT_HOSTS_FILE = 'dnsmasq/hosts'
# Port of the report receiver when report_url is not given (the boot_server role's boot_server_receiver_port).
REPORT_PORT = 8088
LOCK_TIMEOUT = 60.0
MAX_DIFF_FILES = 20
MAX_DIFF_CHARS = 16384
MARKER = 'Managed by datacenter.iaas.pxe_config; local changes are overwritten.'
# No set:<tag> field: dnsmasq 2.90 (Debian 12) crashes on SIGHUP once a host of a tagged line has been answered.
HOSTS_HEADER = ('# %s\n# dnsmasq dhcp-hostsfile: MAC,IP,hostname (reread on SIGHUP)\n' % MARKER)

# Installer defaults; ``install`` options override them key by key.
INSTALL_DEFAULTS = {
    'debian': {
        'kernel': 'images/debian-installer/linux', 'initrd': 'images/debian-installer/initrd.gz',
        'mirror': 'deb.debian.org', 'mirror_directory': '/debian', 'suite': 'bookworm', 'proxy': '',
    },
    'ubuntu': {
        'kernel': 'images/ubuntu-installer/vmlinuz', 'initrd': 'images/ubuntu-installer/initrd',
        'iso': 'images/ubuntu-installer/live-server-amd64.iso',
    },
}
INSTALL_COMMON = {
    'locale': 'en_US.UTF-8', 'keyboard': 'us', 'timezone': 'Etc/UTC', 'username': 'iaas', 'password_hash': '',
    'ssh_authorized_keys': [], 'packages': ['openssh-server'],
}

_HOST_LABEL_RE = re.compile(r'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
_PATH_PART_RE = re.compile(r'^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]*$')
# Characters safe in a URL or kernel argument inside iPXE, PXELINUX and GRUB scripts: no blanks, quotes,
# '$' (iPXE/GRUB expansion), ';' or '#' (GRUB), '\\', braces.
_ARG_RE = re.compile(r'^[A-Za-z0-9._~:/?=&%+,@\[\]-]+$')
_URL_RE = re.compile(r'^https?://[A-Za-z0-9._~:/?=&%+,@\[\]-]+$')
_GRUB_PLAIN_RE = re.compile(r'^[A-Za-z0-9._:/=,@+-]+$')
_SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
_DISK_RE = re.compile(r'^/dev/[A-Za-z0-9._:+/-]+$')
_USER_RE = re.compile(r'^[a-z_][a-z0-9_-]{0,31}$')
_PACKAGE_RE = re.compile(r'^[A-Za-z0-9.+:~_-]+$')
_COLON_MAC_RE = re.compile(r'^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$')
_LEASE_RE = re.compile(r'^([0-9]+[smhdw]?|infinite)$')


# --- small validators ----------------------------------------------------------------------------------------------

def validate_hostname(value, node=None):
    """Return ``value`` lower-case if it is a DNS name (labels of letters, digits and '-'), else InputError."""
    if isinstance(value, str) and 0 < len(value) <= 253:
        text = value.lower().rstrip('.')
        labels = text.split('.')
        if all(_HOST_LABEL_RE.match(label) for label in labels) and not labels[-1].isdigit():
            return text
    raise InputError('%r is not a valid host name: DNS labels of 1-63 letters, digits and "-" (not at either '
                     'end), separated by "."' % (value,), node=node)


def _relpath(value, what, node=None):
    """A relative path under the HTTP root: plain names, no '..', no leading '/' or '.'."""
    if isinstance(value, str) and value and not value.startswith('/'):
        parts = value.split('/')
        if all(_PATH_PART_RE.match(part) for part in parts):
            return value
    raise InputError('%s %r must be a relative path under the HTTP root (names of letters, digits, ".", "_", '
                     '"-", "+", "~", without ".." or a leading "/" or ".")' % (what, value), node=node)


def _url(value, what, node=None):
    if isinstance(value, str) and _URL_RE.match(value):
        return value
    raise InputError('%s %r is not a usable http(s) URL (no blanks, quotes, "$", ";" or "#")' % (what, value),
                     node=node)


def _http_ref(value, what, base, node=None):
    """An http(s) URL kept as it is, or a path under the HTTP root made into a URL on the boot server."""
    if isinstance(value, str) and value.startswith(('http://', 'https://')):
        return _url(value, what, node)
    return '%s/%s' % (base, _relpath(value, what, node))


def _kernel_args(value, what, node=None):
    if value is None:
        return []
    if not isinstance(value, str):
        raise InputError('%s must be a string, got %r' % (what, value), node=node)
    args = value.split()
    for arg in args:
        if not _ARG_RE.match(arg):
            raise InputError('%s: %r cannot be passed safely to iPXE, PXELINUX and GRUB (no quotes, "$", ";", '
                             '"#", "\\" or braces)' % (what, arg), node=node)
    return args


def _sha256(value, what, node=None):
    if isinstance(value, str) and _SHA256_RE.match(value.strip().lower()):
        return value.strip().lower()
    raise InputError('%s %r is not a SHA-256 (64 hex digits)' % (what, value), node=node)


def _disk(value, node=None):
    if value is None or value == 'auto':
        return 'auto'
    if isinstance(value, str) and _DISK_RE.match(value) and '/../' not in value + '/':
        return value
    raise InputError('disk %r must be "auto" or a device path like /dev/sda' % (value,), node=node)


def _v4(value, what, node=None):
    try:
        text = validate_ip(value)
    except InputError:
        raise InputError('%s %r is not an IP address' % (what, value), node=node)
    if ':' in text:
        raise InputError('%s %r: only IPv4 addresses are handed out over DHCP here' % (what, value), node=node)
    return text


def _ip_int(text):
    a, b, c, d = text.split('.')
    return (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d)


def _ip_text(value):
    return '%d.%d.%d.%d' % ((value >> 24) & 255, (value >> 16) & 255, (value >> 8) & 255, value & 255)


def server_base(value):
    """``(base URL, GRUB device, path prefix)`` for the boot server given as a host, IP or http(s) URL."""
    if not isinstance(value, str) or not value.strip():
        raise InputError('server must be the boot server\'s IP address, host name or http(s) URL, got %r' % (value,))
    text = value.strip().rstrip('/')
    if '://' not in text:
        host = validate_host(text)
        netloc = '[%s]' % host if ':' in host else host
        return 'http://%s' % netloc, '(http,%s)' % netloc, ''
    base = _url(text, 'server')
    rest = base.split('://', 1)[1]
    netloc, _sep, prefix = rest.partition('/')
    host = netloc.rsplit(':', 1)[0] if netloc.count(':') == 1 else netloc
    if not host or (not host.startswith('[') and not validate_host(host)):
        raise InputError('server %r has no host' % value)
    return base, '(http,%s)' % netloc, ('/' + prefix) if prefix else ''


def default_report_url(server):
    """The report receiver on the boot server's host (docs/architecture.md: /v1/reports)."""
    netloc = server.split('://', 1)[1].split('/', 1)[0]
    if netloc.startswith('['):
        host = netloc[:netloc.index(']') + 1]
    else:
        host = netloc.split(':', 1)[0]
    return 'http://%s:%d/v1/reports' % (host, REPORT_PORT)


# --- the address pool ----------------------------------------------------------------------------------------------

class Pool(object):
    """IPv4 addresses to hand out: CIDRs and ranges, minus network, broadcast, gateway and reserved addresses.

    ``why_not(address)`` says why an address cannot be given (None if it can);
    ``free(taken)`` yields the usable addresses not in ``taken``, lowest first.
    """

    def __init__(self, specs, network=None, gateway=None, reserved=None):
        if isinstance(specs, str):
            specs = [specs]
        if not specs:
            raise InputError('pool is empty: give a CIDR (198.18.0.0/24) or a range (198.18.0.10-198.18.0.250)')
        self.specs = list(specs)
        spans = []
        self.excluded = {}
        for spec in self.specs:
            version, first, last, net = _span(spec)
            if version != 4:
                raise InputError('pool %r: only IPv4 addresses are handed out over DHCP here' % spec)
            spans.append((first, last, spec))
            if net is not None and net.prefixlen < 31:
                self.excluded.setdefault(first, 'the network address of %s' % net.cidr)
                self.excluded.setdefault(last, 'the broadcast address of %s' % net.cidr)
        self.spans = sorted((low, high) for low, high, _spec in spans)
        self.network = None
        if network:
            version, first, last, net = _span(network)
            if version != 4 or net is None:
                raise InputError('network %r must be an IPv4 CIDR like 198.18.0.0/24' % network)
            outside = [spec for low, high, spec in spans if low < first or high > last]
            if outside:
                raise InputError('pool %s is not inside network %s' % (', '.join(outside), net.cidr))
            self.network = net
            if net.prefixlen < 31:
                self.excluded[first] = 'the network address of %s' % net.cidr
                self.excluded[last] = 'the broadcast address of %s' % net.cidr
        self.gateway = None
        if gateway:
            self.gateway = _v4(gateway, 'gateway')
            self.excluded[_ip_int(self.gateway)] = 'the gateway'
        self.reserved = []
        for spec in reserved or []:
            version, first, last, _net = _span(spec)
            if version == 4:
                self.reserved.append((first, last, spec))

    def why_not(self, value):
        if not any(low <= value <= high for low, high in self.spans):
            return 'outside the pool %s' % ', '.join(self.specs)
        if value in self.excluded:
            return self.excluded[value]
        for low, high, spec in self.reserved:
            if low <= value <= high:
                return 'reserved (%s)' % spec
        return None

    def free(self, taken):
        for low, high in self.spans:
            value = low
            while value <= high:
                jump = None
                for r_low, r_high, _spec in self.reserved:
                    if r_low <= value <= r_high:
                        jump = r_high + 1
                        break
                if jump is not None:
                    value = jump
                    continue
                if value not in taken and value not in self.excluded:
                    yield value
                value += 1


# --- settings and nodes --------------------------------------------------------------------------------------------

class Settings(object):
    """The validated call-wide options of one run."""

    def __init__(self, root, server, pool=None, network=None, gateway=None, reserved=None, mode='discover',
                 kernel=DEFAULT_KERNEL, initrd=DEFAULT_INITRD, report_url=None, kernel_args='', templates=None,
                 discover_unknown=True, hosts_file=DEFAULT_HOSTS_FILE, image=None, image_sha256=None, disk=None,
                 install=None):
        if not isinstance(root, str) or not root:
            raise InputError('root (the boot server root) must be a directory path, got %r' % (root,))
        self.root = os.path.abspath(root)
        self.server, self.grub_server, self.grub_prefix = server_base(server)
        self.pool = Pool(pool, network, gateway, reserved) if pool else None
        if network and not pool:
            raise InputError('network is given without a pool')
        if mode not in MODES:
            raise InputError('mode must be one of %s, got %r' % (', '.join(MODES), mode))
        self.mode = mode
        self.kernel = _relpath(kernel, 'kernel')
        self.initrd = _relpath(initrd, 'initrd')
        self.report_url = _url(report_url, 'report_url') if report_url else default_report_url(self.server)
        self.kernel_args = _kernel_args(kernel_args, 'kernel_args')
        self.templates = {}
        for kind, path in (templates or {}).items():
            if path is None:
                continue
            if kind not in TEMPLATE_KINDS:
                raise InputError('templates: unknown kind %r (kinds: %s)' % (kind, ', '.join(TEMPLATE_KINDS)))
            self.templates[kind] = path
        self.discover_unknown = bool(discover_unknown)
        if not isinstance(hosts_file, str) or not hosts_file:
            raise InputError('hosts_file must be a path, got %r' % (hosts_file,))
        if os.path.isabs(hosts_file):
            self.hosts_path = os.path.normpath(hosts_file)
            self.hosts_file = self.hosts_path
        else:
            parts = hosts_file.split('/')
            if not all(_PATH_PART_RE.match(part) for part in parts):
                raise InputError('hosts_file %r must be an absolute path or a path under root without ".."' % hosts_file)
            self.hosts_file = hosts_file
            self.hosts_path = os.path.join(self.root, hosts_file)
        self.image = image
        self.image_sha256 = _sha256(image_sha256, 'image_sha256') if image_sha256 else None
        self.disk = _disk(disk)
        self.install = dict(install or {})


class Node(object):
    """One node to configure: validated identity plus what its boot files need."""

    __slots__ = ('name', 'mac', 'ip', 'known_ips', 'hostname', 'mode', 'boot_mode', 'image', 'image_sha256',
                 'disk', 'install', 'kernel_args', 'registry')

    def __init__(self, **kwargs):
        for slot in self.__slots__:
            setattr(self, slot, kwargs.get(slot))

    @property
    def dashed(self):
        return self.mac.replace(':', '-')


def prepare_node(entry, settings, index=0):
    """Validate one node dict (name, mac, ip, hostname, mode, boot_mode, image, image_sha256, disk, install,
    kernel_args; registry nodes also bring known_ips) into a Node."""
    if not isinstance(entry, dict):
        raise InputError('nodes[%d] must be a mapping, got %r' % (index, entry))
    name = entry.get('name')
    try:
        validate_node_name(name)
    except InputError as exc:
        raise InputError('nodes[%d]: %s' % (index, exc.message))
    if entry.get('mac') is None:
        raise InputError('no MAC address: give mac (registry: provisioning.mac or a NIC with pxe: true)', node=name)
    try:
        mac = normalize_mac(entry['mac'])
    except InputError as exc:
        raise InputError(exc.message, node=name)
    mode = entry.get('mode') or settings.mode
    if mode not in MODES:
        raise InputError('mode must be one of %s, got %r' % (', '.join(MODES), mode), node=name)
    boot_mode = entry.get('boot_mode')
    if boot_mode is not None and boot_mode not in BOOT_MODES:
        raise InputError('boot_mode must be bios or uefi, got %r' % (boot_mode,), node=name)
    node = Node(name=name, mac=mac, mode=mode, boot_mode=boot_mode, registry=bool(entry.get('registry')),
                known_ips=[ip for ip in entry.get('known_ips') or [] if ip])
    node.hostname = validate_hostname(entry['hostname'], name) if entry.get('hostname') else None
    if node.hostname is None:
        try:
            node.hostname = validate_hostname(name)
        except InputError:
            raise InputError('its name %r is not a valid host name (DNS label): give hostname' % name, node=name)
    if entry.get('ip'):
        node.ip = _v4(entry['ip'], 'ip', name)
    node.kernel_args = _kernel_args(entry.get('kernel_args'), 'kernel_args', name)
    node.disk = _disk(entry['disk'], name) if entry.get('disk') is not None else settings.disk
    if mode == 'deploy':
        _prepare_image(node, entry, settings)
    if mode == 'install':
        node.install = _prepare_install(entry.get('install'), settings, name)
    return node


def _prepare_image(node, entry, settings):
    own = entry.get('image')
    image = own or settings.image
    if not image:
        raise InputError('deploy needs an image (a URL, or a path under the HTTP root like images/debian-12.qcow2)',
                         node=node.name)
    if '/' not in image:
        image = 'images/' + image  # a bare file name (as registry provisioning.image often is) lives in images/
    node.image = _http_ref(image, 'image', settings.server, node.name)
    if entry.get('image_sha256'):
        node.image_sha256 = _sha256(entry['image_sha256'], 'image_sha256', node.name)
    elif not own and settings.image_sha256:
        node.image_sha256 = settings.image_sha256
    elif not image.startswith(('http://', 'https://')):
        node.image_sha256 = _sidecar_sha256(settings, image, node.name)
    if not node.image_sha256:
        raise InputError('deploy of image %s needs image_sha256 (the image\'s own, or a %s.sha256 file beside an '
                         'image under the HTTP root)' % (image, image), node=node.name)


def _sidecar_sha256(settings, image, name):
    path = os.path.join(settings.root, 'http', image + '.sha256')
    try:
        with io.open(path, 'r', encoding='utf-8') as handle:
            words = handle.read(4096).split()
    except (IOError, OSError, UnicodeDecodeError):
        return None
    return _sha256(words[0], 'checksum in %s' % path, name) if words else None


def _prepare_install(own, settings, name):
    merged = dict(settings.install)
    if own is not None:
        if not isinstance(own, dict):
            raise InputError('install must be a mapping, got %r' % (own,), node=name)
        merged.update(own)
    system = merged.get('os')
    if system not in INSTALL_OS:
        raise InputError('install needs os: %s, got %r' % (' or '.join(INSTALL_OS), system), node=name)
    values = dict(INSTALL_COMMON)
    values.update(INSTALL_DEFAULTS[system])
    values.update(dict((key, value) for key, value in merged.items() if value is not None))
    if not isinstance(values['username'], str) or not _USER_RE.match(values['username']):
        raise InputError('install.username %r is not a valid user name' % (values['username'],), node=name)
    for key in ('ssh_authorized_keys', 'packages'):
        if isinstance(values[key], str):
            values[key] = [values[key]]
        if not isinstance(values[key], list) or not all(isinstance(item, str) for item in values[key]):
            raise InputError('install.%s must be a list of strings' % key, node=name)
    for package in values['packages']:
        if not _PACKAGE_RE.match(package):
            raise InputError('install.packages: %r is not a package name' % package, node=name)
    for key in ('kernel', 'initrd', 'iso'):
        if key in values:
            _http_ref(values[key], 'install.%s' % key, settings.server, name)
    return values


def prepare_nodes(entries, settings):
    """Validate all node dicts; refuse duplicate names, MACs, host names and explicit IPs."""
    nodes = [prepare_node(entry, settings, index) for index, entry in enumerate(entries or [])]
    for attribute, what in (('name', 'name'), ('mac', 'MAC'), ('hostname', 'host name'), ('ip', 'IP address')):
        seen = {}
        for node in nodes:
            value = getattr(node, attribute)
            if value is None or (attribute == 'ip' and node.mode == 'absent'):
                continue
            if attribute == 'hostname' and node.mode == 'absent':
                continue
            if value in seen:
                raise InputError('%s %s is given to both node %s and node %s' % (what, value, seen[value], node.name))
            seen[value] = node.name
    return nodes


def registry_entries(data, states=None, roles=None):
    """Node dicts (for prepare_nodes) of the registry nodes in ``states`` and ``roles``, and the names skipped
    because they have no boot MAC (neither provisioning.mac nor a NIC with pxe: true)."""
    entries, skipped = [], []
    for name in sorted(data.get('nodes') or {}):
        node = data['nodes'][name]
        if states and node.get('state') not in states:
            continue
        if roles and node.get('role') not in roles:
            continue
        prov = node.get('provisioning') or {}
        mac = prov.get('mac')
        if not mac:
            mac = next((nic['mac'] for nic in (node.get('hardware') or {}).get('nics') or []
                        if nic.get('pxe') and nic.get('mac')), None)
        if not mac:
            skipped.append(name)
            continue
        entries.append({'name': name, 'mac': mac, 'hostname': prov.get('hostname'), 'boot_mode': prov.get('boot_mode'),
                        'image': prov.get('image'), 'known_ips': [prov.get('ip')], 'registry': True})
    return entries, skipped


def registry_ips(data, exclude_names):
    """IPv4 addresses registry nodes outside ``exclude_names`` hold in provisioning.ip: never hand them out."""
    taken = {}
    for name, node in (data.get('nodes') or {}).items():
        ip = (node.get('provisioning') or {}).get('ip')
        if ip and name not in exclude_names and ':' not in ip:
            taken[_ip_int(ip)] = 'registry node %s' % name
    return taken


# --- the dnsmasq hosts file ----------------------------------------------------------------------------------------

class HostsLine(object):
    """One line of a dhcp-hostsfile: its text and, for a host line, its MACs, IPv4 address and host name."""

    __slots__ = ('text', 'macs', 'ip', 'hostname')

    def __init__(self, text, macs=(), ip=None, hostname=None):
        self.text, self.macs, self.ip, self.hostname = text, list(macs), ip, hostname


def parse_hosts(text):
    """The lines of a dnsmasq dhcp-hostsfile; lines that are not host lines are kept as they are."""
    lines = []
    for raw in text.splitlines():
        body = raw.strip()
        if not body or body.startswith('#'):
            lines.append(HostsLine(raw))
            continue
        macs, ip, hostname = [], None, None
        for field in body.split(','):
            field = field.strip()
            if _COLON_MAC_RE.match(field):
                macs.append(field.lower())
            elif field.startswith(('set:', 'tag:', 'net:', 'id:')) or field in ('ignore', '') or _LEASE_RE.match(field):
                continue
            elif field[0].isdigit() and field.count('.') == 3:
                try:
                    ip = _v4(field, 'ip')
                except InputError:
                    pass
            elif not field.startswith('['):
                hostname = field.lower()
        lines.append(HostsLine(raw, macs, ip, hostname))
    return lines


def hosts_line(node):
    return '%s,%s,%s' % (node.mac, node.ip, node.hostname)


# --- rendering -----------------------------------------------------------------------------------------------------

def _oneline(value):
    text = '' if value is None else str(value)
    if '\n' in text or '\r' in text:
        raise InputError('a value for a one-line setting holds a line break: %r' % text)
    return text


def _to_json(value):
    return json.dumps(value, sort_keys=True)


def _require_jinja2():
    if not HAS_JINJA2:
        raise IaasError('the Jinja2 Python library is required: %s' % JINJA2_IMPORT_ERROR)


class Renderer(object):
    """Renders the boot files of nodes: the default templates, or the user's per kind."""

    def __init__(self, settings):
        _require_jinja2()
        self.settings = settings
        self.env = jinja2.sandbox.ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
            autoescape=False)
        self.env.filters.update(to_json=_to_json, oneline=_oneline, shell_quote=shlex.quote)
        self.templates = {}
        for kind in TEMPLATE_KINDS:
            path = settings.templates.get(kind)
            if path is None:
                source, origin = pxe_templates.DEFAULTS[kind], 'default %s template' % kind
            else:
                try:
                    with io.open(path, 'r', encoding='utf-8') as handle:
                        source = handle.read()
                except (IOError, OSError, UnicodeDecodeError) as exc:
                    raise InputError('templates.%s: cannot read %s: %s' % (kind, path, getattr(exc, 'strerror', None) or exc))
                origin = '%s template %s' % (kind, path)
            self.templates[kind] = (self._compile(source, origin), origin)
        self.meta_data = (self._compile(pxe_templates.META_DATA, 'meta-data template'), 'meta-data template')
        self.boot_ipxe = (self._compile(pxe_templates.BOOT_IPXE, 'boot.ipxe template'), 'boot.ipxe template')

    def _compile(self, source, origin):
        try:
            return self.env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError('%s, line %s: %s' % (origin, exc.lineno, exc.message))

    def _render(self, compiled, context, node=None):
        template, origin = compiled
        try:
            return template.render(context)
        except InputError as exc:
            raise InputError('%s: %s' % (origin, exc.message), node=node)
        except jinja2.TemplateError as exc:
            raise InputError('%s: %s' % (origin, exc), node=node)
        except Exception as exc:  # a user template can raise anything (a filter on the wrong type, ...)
            raise InputError('%s: %s: %s' % (origin, type(exc).__name__, exc), node=node)

    def _boot(self, node):
        """What the kernel/initrd and command line of a node (or the fallback, ``node.name`` empty) are."""
        settings = self.settings
        args = []
        if node['mode'] in ('discover', 'deploy'):
            kernel = '%s/%s' % (settings.server, settings.kernel)
            initrd = '%s/%s' % (settings.server, settings.initrd)
            args = ['iaas.mode=%s' % node['mode'], 'iaas.report=%s' % settings.report_url]
            if node['mode'] == 'deploy':
                args += ['iaas.image=%s' % node['image_url'], 'iaas.sha256=%s' % node['image_sha256'],
                         'iaas.disk=%s' % node['disk']]
        elif node['mode'] == 'install':
            install = node['install']
            kernel = _http_ref(install['kernel'], 'install.kernel', settings.server)
            initrd = _http_ref(install['initrd'], 'install.initrd', settings.server)
            if install['os'] == 'debian':
                args = ['auto=true', 'priority=critical', 'url=%s' % node['install_url'],
                        'hostname=%s' % node['short_hostname'], 'domain=%s' % node['domain'], 'interface=auto']
            else:
                iso = _http_ref(install['iso'], 'install.iso', settings.server)
                args = ['ip=dhcp', 'url=%s' % iso, 'autoinstall', 'ds=nocloud-net;s=%s/' % node['install_url'],
                        'cloud-config-url=/dev/null']
        else:
            kernel = initrd = ''
        args += settings.kernel_args + list(node['kernel_args'])
        return kernel, initrd, args

    def _context(self, node, unknown=False):
        kernel, initrd, args = self._boot(node)
        settings = self.settings
        grub_args = []
        for arg in args:
            grub_args.append(arg if _GRUB_PLAIN_RE.match(arg) else "'%s'" % arg)
        server_prefix = settings.server + '/'
        return {
            'node': node, 'server': settings.server, 'unknown': unknown, 'marker': MARKER,
            'title': 'iaas %s %s' % (node['mode'], node['name'] or 'unknown machine'),
            'kernel_url': kernel, 'initrd_url': initrd, 'initrd_name': initrd.rsplit('/', 1)[-1],
            'cmdline': ' '.join(args), 'grub_cmdline': ' '.join(grub_args),
            'grub_kernel': self._grub_path(kernel, server_prefix), 'grub_initrd': self._grub_path(initrd, server_prefix),
            'report_url': settings.report_url,
        }

    def _grub_path(self, url, server_prefix):
        """GRUB's (http,host)/path for a URL on the boot server; other http URLs get their own device."""
        if not url:
            return ''
        if url.startswith(server_prefix):
            return '%s%s/%s' % (self.settings.grub_server, self.settings.grub_prefix, url[len(server_prefix):])
        rest = url.split('://', 1)[1]
        netloc, _sep, path = rest.partition('/')
        return '(http,%s)/%s' % (netloc, path)

    def node_files(self, node):
        """{relative path: content} of one node's boot files (nothing for absent)."""
        if node.mode == 'absent':
            return {}
        short, _sep, domain = node.hostname.partition('.')
        view = {
            'name': node.name, 'mac': node.mac, 'mac_dashed': node.dashed, 'ip': node.ip, 'hostname': node.hostname,
            'short_hostname': short, 'domain': domain, 'mode': node.mode, 'boot_mode': node.boot_mode,
            'image_url': node.image, 'image_sha256': node.image_sha256, 'disk': node.disk,
            'install': node.install or {}, 'kernel_args': node.kernel_args,
            'install_url': None,
        }
        files = {}
        if node.mode == 'install':
            paths = install_paths(node.hostname, node.install['os'])
            if node.install['os'] == 'debian':
                view['install_url'] = '%s/install/%s.preseed' % (self.settings.server, node.hostname)
            else:
                view['install_url'] = '%s/install/%s' % (self.settings.server, node.hostname)
            context = {'node': view, 'install': node.install, 'server': self.settings.server, 'marker': MARKER}
            if node.install['os'] == 'debian':
                files[paths[0]] = self._render(self.templates['preseed'], context, node.name)
            else:
                files[paths[0]] = self._render(self.templates['autoinstall'], context, node.name)
                files[paths[1]] = self._render(self.meta_data, context, node.name)
        context = self._context(view)
        paths = boot_paths(node.mac)
        context['bootif'] = '01-' + node.dashed
        files[paths['ipxe']] = self._render(self.templates['ipxe'], context, node.name)
        if node.boot_mode != 'uefi':
            files[paths['pxelinux']] = self._render(self.templates['pxelinux'], context, node.name)
        if node.boot_mode != 'bios':
            files[paths['grub']] = self._render(self.templates['grub'], context, node.name)
        return files

    def fallback_files(self):
        """The files for machines without their own: boot.ipxe, and discovery (or local boot when it is off)."""
        mode = 'discover' if self.settings.discover_unknown else 'local'
        view = {
            'name': '', 'mac': '', 'mac_dashed': '', 'ip': '', 'hostname': '', 'short_hostname': '', 'domain': '',
            'mode': mode, 'boot_mode': None, 'image_url': None, 'image_sha256': None, 'disk': 'auto', 'install': {},
            'kernel_args': [], 'install_url': None,
        }
        context = self._context(view, unknown=True)
        files = {'http/ipxe/boot.ipxe': self._render(self.boot_ipxe, dict(
            context, discover_unknown=self.settings.discover_unknown))}
        if self.settings.discover_unknown:
            files['http/ipxe/discover.ipxe'] = self._render(self.templates['ipxe'], dict(
                context, bootif='01-${mac:hexhyp}'))
        files['tftp/pxelinux.cfg/default'] = self._render(self.templates['pxelinux'], dict(context, bootif=''))
        files['tftp/grub/grub.cfg'] = self._render(self.templates['grub'], dict(context, bootif='${net_default_mac}'))
        return files


def boot_paths(mac):
    dashed = mac.replace(':', '-')
    return {'ipxe': 'http/ipxe/%s.ipxe' % dashed, 'pxelinux': 'tftp/pxelinux.cfg/01-%s' % dashed,
            'grub': 'tftp/grub/grub.cfg-01-%s' % dashed}


def install_paths(hostname, system=None):
    """Installer files of a host: Debian's preseed, Ubuntu's NoCloud user-data and meta-data."""
    preseed = 'http/install/%s.preseed' % hostname
    nocloud = ['http/install/%s/user-data' % hostname, 'http/install/%s/meta-data' % hostname]
    if system == 'debian':
        return [preseed]
    if system == 'ubuntu':
        return nocloud
    return [preseed] + nocloud


# --- planning ------------------------------------------------------------------------------------------------------

class Plan(object):
    """What a run changes: ``writes`` [(path, new, old or None)] and ``removes`` [(path, old)], relative paths
    (the hosts file as given), and the result of every node."""

    def __init__(self, settings):
        self.settings = settings
        self.writes = []
        self.removes = []
        self.nodes = []
        self.hosts_changed = False

    @property
    def changed(self):
        return bool(self.writes or self.removes)

    def changed_files(self):
        return [path for path, _new, _old in self.writes]

    def removed_files(self):
        return [path for path, _old in self.removes]

    def diff(self, max_files=MAX_DIFF_FILES, max_chars=MAX_DIFF_CHARS):
        """Ansible diffs of the changed text files (the hosts file first), at most ``max_files``."""
        entries = [(path, old or '', new) for path, new, old in self.writes]
        entries += [(path, old, '') for path, old in self.removes]
        entries.sort(key=lambda item: (item[0] != self.settings.hosts_file, item[0]))
        out = []
        for path, before, after in entries[:max_files]:
            out.append({'before_header': path, 'after_header': path,
                        'before': _clip(before, max_chars), 'after': _clip(after, max_chars)})
        if len(entries) > max_files:
            out.append({'prepared': '... and %d more changed files, not shown\n' % (len(entries) - max_files)})
        return out


def _clip(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + '\n[... %d more characters not shown]\n' % (len(text) - limit)


def _read(path):
    """(content or None, mode or None) of a file; a directory or unreadable file is an error."""
    try:
        with io.open(path, 'rb') as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            data = handle.read()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        raise IaasError('cannot read %s: %s' % (path, exc.strerror or exc))
    try:
        return data.decode('utf-8'), mode
    except UnicodeDecodeError:
        return data.decode('latin-1'), mode


class _Guard(object):
    """Checks that relative paths resolve (symlinks too) inside the root they belong to."""

    def __init__(self, root):
        self.root = root
        self.real = {}
        self.dirs = {}

    def _realroot(self, top):
        if top not in self.real:
            self.real[top] = os.path.realpath(os.path.join(self.root, top)) if top else os.path.realpath(self.root)
        return self.real[top]

    def _existing_ancestors_are_dirs(self, directory):
        """A file where a directory must be made would fail half-way through the writes: refuse it now."""
        while not os.path.isdir(directory):
            if os.path.lexists(directory):
                raise InputError('%s is not a directory, where boot files belong' % directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                return
            directory = parent

    def check(self, relpath, top):
        """``relpath`` (under ``top``, 'http' or 'tftp' or '' for root) as an absolute path, or InputError."""
        path = os.path.join(self.root, relpath)
        base = self._realroot(top)
        directory = os.path.dirname(path)
        real_dir = self.dirs.get(directory)
        if real_dir is None:
            real_dir = self.dirs[directory] = os.path.realpath(directory)
            self._existing_ancestors_are_dirs(directory)
        real = os.path.join(real_dir, os.path.basename(path))
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not (real == base or real.startswith(base + os.sep)):
            raise InputError('%s would be written outside %s (resolves to %s)' % (relpath, os.path.join(self.root, top),
                                                                                  real))
        if os.path.isdir(real):
            raise InputError('%s is a directory, where a boot file belongs' % path)
        return path


def _top(relpath):
    return relpath.split('/', 1)[0] if relpath.startswith(('http/', 'tftp/')) else ''


def plan(settings, nodes, registry_data=None, renderer=None):
    """Everything a run would change, computed without changing anything.

    IP addresses: an explicit ``ip`` must be usable (in the pool, not the
    gateway/network/broadcast/reserved) and not held by a MAC outside this run;
    else the node keeps the address it has (registry provisioning.ip, then its
    line in the hosts file) when that is still usable and free; else it gets the
    lowest free address of the pool. Addresses of other lines of the hosts file
    and of other registry nodes are never handed out.
    """
    if not os.path.isdir(settings.root):
        raise InputError('root %s is not a directory' % settings.root)
    renderer = renderer or Renderer(settings)
    hosts_text, hosts_mode = _read(settings.hosts_path)
    lines = parse_hosts(hosts_text or '')
    ours = set(node.mac for node in nodes)

    # Who holds what outside this run.
    foreign_ips, foreign_names, current = {}, {}, {}
    for line in lines:
        if not line.macs:
            continue
        mine = [mac for mac in line.macs if mac in ours]
        if mine and len(mine) != len(line.macs):
            raise InputError('%s has a line for several MACs, some of them configured here (%s): split it by hand '
                             'first: %s' % (settings.hosts_file, ', '.join(mine), line.text.strip()))
        if mine:
            for mac in mine:
                current.setdefault(mac, line)
            continue
        label = 'MAC %s in %s' % (line.macs[0], settings.hosts_file)
        if line.ip:
            foreign_ips.setdefault(_ip_int(line.ip), label)
        if line.hostname:
            foreign_names.setdefault(line.hostname, label)
    if registry_data is not None:
        for value, label in registry_ips(registry_data, set(node.name for node in nodes if node.registry)).items():
            foreign_ips.setdefault(value, label)

    _allocate(settings, nodes, current, foreign_ips)
    for node in nodes:
        if node.mode != 'absent' and node.hostname in foreign_names:
            raise InputError('host name %s is already given to %s; remove that line (mode absent) first'
                             % (node.hostname, foreign_names[node.hostname]), node=node.name)

    result = Plan(settings)
    guard = _Guard(settings.root)
    desired, owner, unwanted = {}, {}, {}  # path -> content; path -> node name (both for desired and unwanted)
    node_files = {}
    for node in nodes:
        files = renderer.node_files(node)
        desired.update(files)
        node_files[node.name] = sorted(files)
        for path in files:
            owner[path] = node.name
        previous = current.get(node.mac)
        hostnames = set([node.hostname] + ([previous.hostname] if previous and previous.hostname else []))
        candidates = list(boot_paths(node.mac).values())
        for hostname in hostnames:
            try:
                candidates += install_paths(validate_hostname(hostname))
            except InputError:
                continue  # a hand-written line with an odd name: it never had our files
        for path in candidates:
            if path not in files:
                unwanted[path] = node.name
    for path, content in renderer.fallback_files().items():
        desired[path] = content
    if not settings.discover_unknown:
        unwanted['http/ipxe/discover.ipxe'] = None
    for path in desired:
        unwanted.pop(path, None)
    _check_layout(desired)

    # The hosts file: our lines replaced in place, new ones appended, removed ones dropped.
    new_lines, placed = [], set()
    by_mac = dict((node.mac, node) for node in nodes)
    for line in lines:
        mine = [mac for mac in line.macs if mac in by_mac]
        if not mine:
            new_lines.append(line.text)
            continue
        for mac in mine:
            if mac not in placed and by_mac[mac].mode != 'absent':
                new_lines.append(hosts_line(by_mac[mac]))
            placed.add(mac)
    for node in nodes:
        if node.mac not in placed and node.mode != 'absent':
            new_lines.append(hosts_line(node))
    new_hosts = ('' if hosts_text is not None else HOSTS_HEADER) + ''.join(line + '\n' for line in new_lines)

    changed_nodes = set()
    for path in sorted(desired):
        absolute = guard.check(path, _top(path))
        old, mode = _read(absolute)
        if old != desired[path] or mode != FILE_MODE:
            result.writes.append((path, desired[path], old))
            if path in owner:
                changed_nodes.add(owner[path])
    for path in sorted(unwanted):
        absolute = guard.check(path, _top(path))
        if os.path.lexists(absolute):
            old, _mode = _read(absolute)
            result.removes.append((path, old or ''))
            if unwanted[path] is not None:
                changed_nodes.add(unwanted[path])
    if new_hosts != hosts_text or hosts_mode != FILE_MODE:
        if not os.path.isabs(settings.hosts_file):
            guard.check(settings.hosts_file, '')
        elif os.path.isdir(settings.hosts_path):
            raise InputError('hosts_file %s is a directory' % settings.hosts_path)
        result.writes.append((settings.hosts_file, new_hosts, hosts_text))
        result.hosts_changed = True
    for node in nodes:
        previous = current.get(node.mac)
        wanted = None if node.mode == 'absent' else hosts_line(node)
        if (previous.text.strip() if previous else None) != wanted:
            changed_nodes.add(node.name)
        result.nodes.append({
            'name': node.name, 'mac': node.mac, 'ip': node.ip, 'hostname': node.hostname, 'mode': node.mode,
            'boot_mode': node.boot_mode, 'changed': node.name in changed_nodes,
            'files': node_files[node.name],
        })
    return result


def _allocate(settings, nodes, current, foreign_ips):
    """Give every node that is not absent an IPv4 address (see ``plan``); InputError if impossible."""
    pool = settings.pool
    active = [node for node in nodes if node.mode != 'absent']
    if not active:
        return
    claimed = {}
    for node in active:
        if node.ip is None:
            continue
        if pool is None:
            raise InputError('ip %s is given but no pool: give pool (a CIDR or range the addresses come from)'
                             % node.ip, node=node.name)
        value = _ip_int(node.ip)
        reason = pool.why_not(value)
        if reason:
            raise InputError('ip %s is %s' % (node.ip, reason), node=node.name)
        if value in foreign_ips:
            raise InputError('ip %s is already given to %s' % (node.ip, foreign_ips[value]), node=node.name)
        claimed[value] = node.name
    waiting = []
    for node in active:
        if node.ip is not None:
            continue
        if pool is None:
            raise InputError('no pool to take an IP address from: give pool, or ip for every node', node=node.name)
        line = current.get(node.mac)
        for known in list(node.known_ips or []) + ([line.ip] if line is not None and line.ip else []):
            value = _ip_int(known) if known.count('.') == 3 else None
            if value is not None and value not in claimed and value not in foreign_ips and not pool.why_not(value):
                node.ip = known
                claimed[value] = node.name
                break
        if node.ip is None:
            waiting.append(node)
    if waiting:
        taken = set(claimed) | set(foreign_ips)
        free = pool.free(taken)
        for node in waiting:
            value = next(free, None)
            if value is None:
                raise InputError('pool %s has no free address left for %d more node(s), starting with %s'
                                 % (', '.join(pool.specs), len(waiting) - waiting.index(node), node.name), node=node.name)
            node.ip = _ip_text(value)
            taken.add(value)


def _check_layout(desired):
    """No desired file may be the directory of another (hostname 'a.preseed' vs host 'a' installing Debian)."""
    directories = set()
    for path in desired:
        parts = path.split('/')[:-1]
        for index in range(1, len(parts) + 1):
            directories.add('/'.join(parts[:index]))
    clash = sorted(path for path in desired if path in directories)
    if clash:
        raise InputError('%s would be both a file and a directory; choose other host names' % clash[0])


# --- applying ------------------------------------------------------------------------------------------------------

class RootLock(object):
    """An exclusive flock on the root directory itself, held from plan to apply: two runs on one boot server
    would otherwise both read the old hosts file and one would lose the other's lines. Creates no file."""

    def __init__(self, root, timeout=LOCK_TIMEOUT):
        self.root = root
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.root, os.O_RDONLY)
        except (IOError, OSError) as exc:
            raise InputError('root %s cannot be opened: %s' % (self.root, exc.strerror or exc))
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    self._close()
                    raise IaasError('cannot lock %s: %s' % (self.root, exc.strerror or exc))
            if time.monotonic() >= deadline:
                self._close()
                raise IaasError('%s is still locked by another pxe_config run after %ss' % (self.root, self.timeout))
            time.sleep(0.05)

    def __exit__(self, *exc_info):
        self._close()
        return False

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def _atomic_write(path, content):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with io.open(fd, 'w', encoding='utf-8', newline='') as handle:
            handle.write(content)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def apply(result):
    """Write and remove what ``plan`` found: boot files, then the hosts file (synced), then removals."""
    settings = result.settings
    made = set()
    writes = sorted(result.writes, key=lambda item: item[0] == settings.hosts_file)
    for path, content, _old in writes:
        absolute = path if os.path.isabs(path) else os.path.join(settings.root, path)
        directory = os.path.dirname(absolute)
        try:
            if directory not in made:
                if not os.path.isdir(directory):
                    os.makedirs(directory, DIR_MODE)
                made.add(directory)
            _atomic_write(absolute, content)
            if path == settings.hosts_file:
                _sync(absolute)
        except (IOError, OSError) as exc:
            raise IaasError('cannot write %s: %s' % (absolute, exc.strerror or exc))
    emptied = set()
    for path, _old in result.removes:
        absolute = os.path.join(settings.root, path)
        try:
            os.unlink(absolute)
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                raise IaasError('cannot remove %s: %s' % (absolute, exc.strerror or exc))
        if path.startswith('http/install/') and path.count('/') == 3:
            emptied.add(os.path.dirname(absolute))
    for directory in sorted(emptied):
        try:
            os.rmdir(directory)
        except OSError:
            pass  # not empty: someone else's files live there too


def _sync(path):
    """The hosts file decides who gets which address: make it and its rename durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
