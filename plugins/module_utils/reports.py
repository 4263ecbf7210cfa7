# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hardware reports posted by the ramdisk: the schema gate, the spool, and ingestion into the registry.

``validate`` is the one gate every report passes: the receiver runs it before
a report touches the disk, and ``ingest`` runs it again on every spool file.
Reports come from machines nobody has vetted yet, so the schema is strict:
unknown keys, wrong types, oversized strings or lists, and characters outside
a small printable set are refused, never repaired. Nothing a report says ever
becomes a file name (spool files are named by the SHA-256 of their normalized
content), a shell word or a template.

``ingest`` merges the spool into registry data in place and returns what it
did; it moves no file. The caller writes the registry, and only then calls
``consume``: a crash in between leaves the reports in the spool, and ingesting
them again changes nothing (ingestion is idempotent).

Standard library only, so the boot server's receiver service can carry a copy
of this file without the collection installed; ``ingest`` needs the collection.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import errno
import hashlib
import json
import os
import re
import stat
import tempfile

try:
    from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError
    from ansible_collections.datacenter.iaas.plugins.module_utils.validation import normalize_mac
except ImportError:  # a standalone copy beside the receiver, outside the collection
    class InputError(ValueError):
        """Bad input (the collection's errors.InputError, when the collection is there)."""

        kind = 'invalid_input'

        def __init__(self, message, node=None, address=None):
            super(InputError, self).__init__(message)
            self.message = message
            self.node = node
            self.address = address

    _MAC_FORMS = (
        re.compile(r'^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$'),
        re.compile(r'^([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})$'),
        re.compile(r'^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$'),
        re.compile(r'^([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$'),
    )

    def normalize_mac(value):
        """Same forms and result as validation.normalize_mac."""
        if isinstance(value, str):
            text = value.strip().lower()
            for form in _MAC_FORMS:
                match = form.match(text)
                if match:
                    return ':'.join(match.groups())
        raise InputError('%r is not a MAC address (expected e.g. 52:54:00:aa:bb:07)' % (value,))

try:
    from ansible_collections.datacenter.iaas.plugins.module_utils.discovery import node_name_for
    from ansible_collections.datacenter.iaas.plugins.module_utils.registry import ROLES, normalize_node, transition
    HAS_REGISTRY = True
except ImportError:  # the receiver's copy only validates
    HAS_REGISTRY = False
    ROLES = ('controller', 'network', 'compute', 'storage')

VERSION = 1
MAX_REPORT_BYTES = 64 * 1024
MAX_DISKS = 64
MAX_NICS = 64
MAX_LLDP = 256
MAX_CPUS = 16384
MAX_MEMORY_MB = 64 * 1024 * 1024       # 64 TiB
MAX_DISK_GB = 1000 * 1000              # 1 PB
SPOOL_NAME_RE = re.compile(r'^[0-9a-f]{64}\.json$')
DONE_DIR = 'done'
REFUSED_DIR = 'refused'

# Identity strings (vendor, model, serials, CPU model): printable ASCII without '/', quotes, '$', '`', '\\',
# braces or '%' (never a path, a shell word or a template), and never '..'.
_SAFE_RE = re.compile(r'^[A-Za-z0-9 _.,:;+()#@=-]*$')
# Free text that may name devices or switch ports (LLDP port "Ethernet1/1", a deploy message naming /dev/vda).
_SAFE_SLASH_RE = re.compile(r'^[A-Za-z0-9 _.,:;+()#@=/-]*$')
_URL_RE = re.compile(r'^https?://[A-Za-z0-9._~:/?=&%+,@-]+$')
_DEVICE_RE = re.compile(r'^/dev/[A-Za-z0-9_][A-Za-z0-9_.:+/-]*$')
_DISK_NAME_RE = re.compile(r'^[a-z][a-z0-9]{0,31}$')
_NIC_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$')
_UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
_SHA256_RE = re.compile(r'^[0-9a-f]{64}$')

# Serials that firmware ships unfilled: many machines share them, so they identify nothing.
PLACEHOLDER_SERIALS = frozenset((
    'none', 'null', 'na', 'unknown', 'empty', 'default', 'default string', 'not specified', 'not available',
    'not applicable', 'not present', 'to be filled by o.e.m.', 'to be filled by oem', 'system serial number',
    'chassis serial number', 'serial number', 'serial', 'sn', 'oem', 'o.e.m.', '0123456789', '123456789',
    '1234567890', '12345678', '1234567',
))
_PLACEHOLDER_SERIAL_RE = re.compile(r'^([0 ]+|[xX]+|[fF]+|[#*.-]+)$')
_PLACEHOLDER_UUIDS = frozenset((
    '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
    '03000200-0400-0500-0006-000700080009',
))

RULE_CONDITIONS = ('min_disks', 'min_memory_mb', 'min_cpus', 'has_rotational', 'vendor')


# --- schema --------------------------------------------------------------------------------------------------------

def _show(value, limit=40):
    """A short, escaped rendering of a hostile value for an error message: one line, bounded."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _text(pattern, limit, lower=False):
    def check(value, where):
        if not isinstance(value, str):
            raise InputError('%s must be a string, got %s' % (where, type(value).__name__))
        if len(value) > limit * 4:  # cheap early stop before any regex work on a huge string
            raise InputError('%s is longer than %d characters' % (where, limit))
        text = value.strip()
        if lower:
            text = text.lower()
        if len(text) > limit:
            raise InputError('%s is longer than %d characters' % (where, limit))
        if not pattern.match(text) or '..' in text:
            raise InputError('%s has characters outside the allowed set or "..": %s' % (where, _show(value)))
        return text or None
    return check


def _integer(low, high):
    def check(value, where):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InputError('%s must be a whole number from %d to %d, got %s' % (where, low, high, _show(value)))
        return value
    return check


def _number(low, high):
    def check(value, where):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise InputError('%s must be a number from %d to %d, got %s' % (where, low, high, _show(value)))
        return value
    return check


def _flag(value, where):
    if not isinstance(value, bool):
        raise InputError('%s must be true or false, got %s' % (where, _show(value)))
    return value


def _one_of(*choices):
    def check(value, where):
        if not isinstance(value, str) or value not in choices:
            raise InputError('%s must be one of %s, got %s' % (where, ', '.join(choices), _show(value)))
        return value
    return check


def _mac(value, where):
    if not isinstance(value, str) or len(value) > 32:
        raise InputError('%s is not a MAC address: %s' % (where, _show(value)))
    try:
        mac = normalize_mac(value)
    except InputError:
        raise InputError('%s is not a MAC address: %s' % (where, _show(value)))
    if int(mac[:2], 16) & 1 or mac == '00:00:00:00:00:00':
        raise InputError('%s is a multicast, broadcast or zero MAC, not a NIC: %s' % (where, mac))
    return mac


def _pattern(regex, limit, what, lower=False):
    def check(value, where):
        if not isinstance(value, str) or len(value) > limit:
            raise InputError('%s is not %s: %s' % (where, what, _show(value)))
        text = value.strip().lower() if lower else value.strip()
        if not regex.match(text) or '..' in text:
            raise InputError('%s is not %s: %s' % (where, what, _show(value)))
        return text
    return check


def _mapping(fields, required=()):
    """A checker for a dict with exactly the keys of ``fields`` (None and '' values count as absent)."""
    known = [key for key, _checker in fields]

    def check(value, where):
        if not isinstance(value, dict):
            raise InputError('%s must be an object, got %s' % (where or 'the report', type(value).__name__))
        unknown = sorted((key for key in value if key not in known), key=str)
        if unknown:
            raise InputError('%s has unknown key %s (known: %s)'
                             % (where or 'the report', _show(unknown[0]), ', '.join(known)))
        out = {}
        for key, checker in fields:
            name = '%s.%s' % (where, key) if where else key
            checked = None if value.get(key) is None else checker(value[key], name)
            if checked is None:
                if key in required:
                    raise InputError('%s is missing' % name)
                continue
            out[key] = checked
        return out
    return check


def _list_of(item, limit):
    def check(value, where):
        if not isinstance(value, list):
            raise InputError('%s must be a list, got %s' % (where, type(value).__name__))
        if len(value) > limit:
            raise InputError('%s has %d entries; at most %d are accepted' % (where, len(value), limit))
        return [item(entry, '%s[%d]' % (where, index)) for index, entry in enumerate(value)]
    return check


_identity = _text(_SAFE_RE, 128)
_serial = _text(_SAFE_RE, 64)

SYSTEM_FIELDS = (
    ('vendor', _identity), ('model', _identity), ('serial', _serial),
    ('uuid', _pattern(_UUID_RE, 36, 'a UUID', lower=True)),
)
DISK_FIELDS = (
    ('name', _pattern(_DISK_NAME_RE, 32, 'a disk name (e.g. vda, sda, nvme0n1)')),
    ('size_gb', _number(0, MAX_DISK_GB)), ('rotational', _flag), ('serial', _serial),
)
NIC_FIELDS = (
    ('name', _pattern(_NIC_NAME_RE, 15, 'an interface name (e.g. eth0)')), ('mac', _mac), ('link', _flag),
)
LLDP_FIELDS = (
    ('interface', _pattern(_NIC_NAME_RE, 15, 'an interface name (e.g. eth0)')),
    ('chassis_id', _text(_SAFE_SLASH_RE, 255)), ('port_id', _text(_SAFE_SLASH_RE, 255)),
    ('system_name', _text(_SAFE_SLASH_RE, 255)), ('port_description', _text(_SAFE_SLASH_RE, 255)),
)
COMMON_FIELDS = (('version', _integer(VERSION, VERSION)), ('kind', _one_of('discover', 'deploy')), ('boot_mac', _mac))
DISCOVER_FIELDS = COMMON_FIELDS + (
    ('system', _mapping(SYSTEM_FIELDS)),
    ('cpus', _integer(1, MAX_CPUS)), ('cpu_model', _identity), ('memory_mb', _integer(1, MAX_MEMORY_MB)),
    ('disks', _list_of(_mapping(DISK_FIELDS, required=('name', 'size_gb')), MAX_DISKS)),
    ('nics', _list_of(_mapping(NIC_FIELDS, required=('name', 'mac')), MAX_NICS)),
    ('lldp', _list_of(_mapping(LLDP_FIELDS, required=('interface',)), MAX_LLDP)),
)
DEPLOY_FIELDS = COMMON_FIELDS + (
    ('status', _one_of('success', 'failure')),
    ('image', _pattern(_URL_RE, 1024, 'an http(s) URL')),
    ('sha256', _pattern(_SHA256_RE, 64, 'a SHA-256 in hex', lower=True)),
    ('disk', _pattern(_DEVICE_RE, 128, 'a device path (e.g. /dev/vda)')),
    ('message', _text(_SAFE_SLASH_RE, 512)),
)
_check_discover = _mapping(DISCOVER_FIELDS, required=('version', 'kind', 'boot_mac', 'cpus', 'memory_mb', 'disks',
                                                      'nics'))
_check_deploy = _mapping(DEPLOY_FIELDS, required=('version', 'kind', 'boot_mac', 'status'))


def validate(document):
    """Return the normalized report ``document`` (parsed JSON); InputError says what is off schema.

    Normal form: MACs lower-case with colons, UUID and SHA-256 lower-case,
    strings stripped, empty strings and nulls dropped, ``lldp`` and ``system``
    always present in discover reports.
    """
    if not isinstance(document, dict):
        raise InputError('a report must be a JSON object, got %s' % type(document).__name__)
    version = document.get('version')
    if isinstance(version, bool) or version != VERSION:
        raise InputError('version must be %d, got %s' % (VERSION, _show(version)))
    kind = document.get('kind')
    if kind == 'discover':
        report = _check_discover(document, '')
        report.setdefault('system', {})
        report.setdefault('lldp', [])
        _unique(report['nics'], 'mac', 'nics')
        _unique(report['nics'], 'name', 'nics')
        _unique(report['disks'], 'name', 'disks')
        macs = [nic['mac'] for nic in report['nics']]
        if macs and report['boot_mac'] not in macs:
            raise InputError('boot_mac %s is not the MAC of any NIC in the report' % report['boot_mac'])
        # A neighbour is seen through one of the machine's NICs, and a switch port has one neighbour per NIC.
        names = [nic['name'] for nic in report['nics']]
        for index, entry in enumerate(report['lldp']):
            if entry['interface'] not in names:
                raise InputError('lldp[%d].interface %s is not the name of any NIC in the report'
                                 % (index, entry['interface']))
        return report
    if kind == 'deploy':
        return _check_deploy(document, '')
    raise InputError('kind must be discover or deploy, got %s' % _show(kind))


def _unique(entries, key, where):
    seen = set()
    for entry in entries:
        if entry[key] in seen:
            raise InputError('%s: %s %s appears twice' % (where, key, entry[key]))
        seen.add(entry[key])


def _no_duplicate_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise InputError('key %s appears twice in one object' % _show(key))
        out[key] = value
    return out


def _no_constant(name):
    raise InputError('%s is not a JSON number' % name)


def parse(body, limit=MAX_REPORT_BYTES):
    """The JSON document in ``body`` (bytes or str, UTF-8); InputError if it is not one, or too big."""
    if len(body) > limit:
        raise InputError('the report is larger than %d bytes' % limit)
    if isinstance(body, bytes):
        try:
            body = body.decode('utf-8')
        except UnicodeDecodeError:
            raise InputError('the report is not UTF-8 text')
    try:
        return json.loads(body, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except RecursionError:
        raise InputError('the report nests too deeply')
    except ValueError as exc:  # JSONDecodeError, and int() of a number with thousands of digits
        raise InputError('the report is not valid JSON: %s' % str(exc).split('\n', 1)[0][:120])


def serialize(report):
    """The canonical bytes of a normalized report: same report, same bytes, same spool name."""
    return (json.dumps(report, sort_keys=True, separators=(',', ':'), ensure_ascii=True) + '\n').encode('ascii')


# --- the spool -----------------------------------------------------------------------------------------------------

def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def spool_write(spool_dir, report):
    """Write normalized ``report`` to the spool as ``<sha256>.json`` (0600, atomic); return the file name.

    A report already in the spool is not written again; its time is refreshed,
    so it counts as the newest word of its machine.
    """
    data = serialize(report)
    name = hashlib.sha256(data).hexdigest() + '.json'
    path = os.path.join(spool_dir, name)
    if os.path.isfile(path) and not os.path.islink(path):
        os.utime(path, None)
        return name
    fd, tmp = tempfile.mkstemp(prefix='.incoming-', suffix='.tmp', dir=spool_dir)  # mode 0600
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(spool_dir)
    return name


def spool_files(spool_dir):
    """Names of the reports waiting in ``spool_dir``, oldest first (by time, then name).

    Only regular files named ``<sha256>.json`` count: temp files, sub-directories and symlinks are ignored.
    """
    found = []
    try:
        entries = os.listdir(spool_dir)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise
    for name in entries:
        if not SPOOL_NAME_RE.match(name):
            continue
        try:
            info = os.lstat(os.path.join(spool_dir, name))
        except OSError:
            continue  # consumed meanwhile
        if stat.S_ISREG(info.st_mode):
            found.append((info.st_mtime_ns, name))
    return [name for _mtime, name in sorted(found)]


def read_spool_file(spool_dir, name, limit=MAX_REPORT_BYTES):
    """The validated report in spool file ``name``; InputError if it is off schema or oversized."""
    if not SPOOL_NAME_RE.match(name):
        raise InputError('%s is not a spool file name' % _show(name))
    fd = os.open(os.path.join(spool_dir, name), os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
    with os.fdopen(fd, 'rb') as handle:
        body = handle.read(limit + 1)
    return validate(parse(body, limit))


def consume(spool_dir, result, keep=True):
    """Take the files ``ingest`` handled out of the spool. Call it only after the registry was written.

    With ``keep``, consumed files go to ``done/`` and refused ones to
    ``refused/`` (where an operator can read them, and move one back to try
    again); without, both are deleted. Returns the names moved or deleted.
    """
    moved = []
    plan = [(name, DONE_DIR) for name in result.get('consumed') or []]
    plan += [(name, REFUSED_DIR) for name in sorted(result.get('refused') or {})]
    for name, sub in plan:
        if not SPOOL_NAME_RE.match(name):
            continue
        source = os.path.join(spool_dir, name)
        try:
            if keep:
                target_dir = os.path.join(spool_dir, sub)
                if not os.path.isdir(target_dir):
                    os.mkdir(target_dir, 0o700)
                os.replace(source, os.path.join(target_dir, name))
            else:
                os.unlink(source)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            continue
        moved.append(name)
    if moved:
        _fsync_dir(spool_dir)
    return moved


# --- rules ---------------------------------------------------------------------------------------------------------

def validate_rules(rules):
    """Return ``rules`` normalized: a list of ``{role, when: {...}}``; InputError names the bad rule."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise InputError('rules must be a list of {role, when}, got %s' % type(rules).__name__)
    out = []
    for index, rule in enumerate(rules):
        where = 'rules[%d]' % index
        if not isinstance(rule, dict):
            raise InputError('%s must be a mapping with role and when' % where)
        unknown = sorted(str(key) for key in rule if key not in ('role', 'when'))
        if unknown:
            raise InputError('%s has unknown key %s (known: role, when)' % (where, unknown[0]))
        if rule.get('role') not in ROLES:
            raise InputError('%s.role must be one of %s, got %s' % (where, ', '.join(ROLES), _show(rule.get('role'))))
        when = {} if rule.get('when') is None else rule['when']
        if not isinstance(when, dict):
            raise InputError('%s.when must be a mapping' % where)
        unknown = sorted(str(key) for key in when if key not in RULE_CONDITIONS)
        if unknown:
            raise InputError('%s.when has unknown condition %s (known: %s)' % (where, unknown[0], ', '.join(RULE_CONDITIONS)))
        checked = {}
        for key, value in when.items():
            if value is None:
                continue
            if key.startswith('min_'):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise InputError('%s.when.%s must be a whole number >= 0, got %s' % (where, key, _show(value)))
            elif key == 'has_rotational':
                if not isinstance(value, bool):
                    raise InputError('%s.when.has_rotational must be true or false, got %s' % (where, _show(value)))
            else:
                vendors = [value] if isinstance(value, str) else value
                if not isinstance(vendors, list) or not vendors or not all(isinstance(v, str) for v in vendors):
                    raise InputError('%s.when.vendor must be a string or a list of strings' % where)
                value = [v.strip().lower() for v in vendors]
            checked[key] = value
        out.append({'role': rule['role'], 'when': checked})
    return out


def rule_matches(when, hardware):
    """Whether a node's ``hardware`` meets every condition of ``when`` (an empty ``when`` always does)."""
    disks = hardware.get('disks') or []
    if len(disks) < when.get('min_disks', 0):
        return False
    if (hardware.get('memory_mb') or 0) < when.get('min_memory_mb', 0):
        return False
    if (hardware.get('cpus') or 0) < when.get('min_cpus', 0):
        return False
    if 'has_rotational' in when and any(disk.get('rotational') for disk in disks) != when['has_rotational']:
        return False
    if 'vendor' in when and (hardware.get('vendor') or '').strip().lower() not in when['vendor']:
        return False
    return True


# --- ingestion -----------------------------------------------------------------------------------------------------

def usable_serial(serial):
    """``serial`` if it can identify one machine, None for empty firmware placeholders."""
    if not serial:
        return None
    folded = serial.strip().lower()
    if folded in PLACEHOLDER_SERIALS or _PLACEHOLDER_SERIAL_RE.match(folded):
        return None
    return serial


def _node_macs(node):
    macs = set(nic.get('mac') for nic in (node.get('hardware') or {}).get('nics') or [])
    macs.add((node.get('provisioning') or {}).get('mac'))
    macs.discard(None)
    return macs


def _report_macs(report):
    return set([report['boot_mac']] + [nic['mac'] for nic in report.get('nics') or []])


def _macs_text(macs):
    return ', '.join(sorted(macs)) or 'none'


def _serial_conflicts(loaded):
    """Serials that reports in this batch claim for machines with disjoint MAC sets: ``{serial: [mac sets]}``."""
    claims = {}
    for _name, report in loaded:
        serial = report['kind'] == 'discover' and usable_serial(report['system'].get('serial'))
        if serial:
            claims.setdefault(serial, []).append(_report_macs(report))
    conflicts = {}
    for serial, sets in claims.items():
        groups = []  # merge MAC sets that overlap: one group per machine
        for macs in sets:
            macs = set(macs)
            for group in [g for g in groups if g & macs]:
                groups.remove(group)
                macs |= group
            groups.append(macs)
        if len(groups) > 1:
            conflicts[serial] = groups
    return conflicts


def _hardware_of(report):
    system = report['system']
    hardware = {}
    for key in ('vendor', 'model'):
        if system.get(key):
            hardware[key] = system[key]
    if usable_serial(system.get('serial')):
        hardware['serial'] = system['serial']
    if system.get('uuid') and system['uuid'] not in _PLACEHOLDER_UUIDS:
        hardware['uuid'] = system['uuid']
    hardware['cpus'] = report['cpus']
    if report.get('cpu_model'):
        hardware['cpu_model'] = report['cpu_model']
    hardware['memory_mb'] = report['memory_mb']
    hardware['disks'] = [dict((key, disk[key]) for key in ('name', 'size_gb', 'rotational', 'serial') if key in disk)
                         for disk in report['disks']]
    hardware['nics'] = [{'name': nic['name'], 'mac': nic['mac'], 'pxe': nic['mac'] == report['boot_mac']}
                        for nic in report['nics']]
    return hardware


def _new_node_name(serial, mac, prefix):
    if serial and re.search(r'[A-Za-z0-9]', serial):
        return node_name_for({'serial': serial}, mac, prefix)
    base = 'mac-' + mac.replace(':', '')
    return '%s-%s' % (prefix, base) if prefix else base


class _Ingest(object):
    """One pass over the spool; the registry indexes stay current as reports are applied."""

    def __init__(self, data, rules, prefix):
        self.nodes = data.setdefault('nodes', {})
        self.rules = rules
        self.prefix = prefix
        self.result = {'matched': [], 'enrolled': [], 'deployed': {}, 'roles': {}, 'refused': {}, 'consumed': []}

    def owner_of_serial(self, serial):
        for name, node in self.nodes.items():
            if (node.get('hardware') or {}).get('serial') == serial:
                return name
        return None

    def owners_of_macs(self, macs):
        return sorted(name for name, node in self.nodes.items() if _node_macs(node) & macs)

    def install(self, name, node):
        """Check the changed record against the registry schema before it replaces the old one."""
        try:
            self.nodes[name] = normalize_node(name, node)
        except InputError as exc:
            raise InputError('the registry would not accept the result for node %s: %s' % (name, exc.message))

    def discover(self, report, conflicts):
        macs = _report_macs(report)
        serial = usable_serial(report['system'].get('serial'))
        name = self.owner_of_serial(serial) if serial else None
        known = _node_macs(self.nodes[name]) if name else set()
        if serial in conflicts and not known & macs:
            raise InputError('%d machines in the spool claim serial %s (MAC sets: %s), and the registry knows none of '
                             'them by MAC: none is taken' % (len(conflicts[serial]), serial,
                                                             '; '.join(_macs_text(group) for group in conflicts[serial])))
        owners = self.owners_of_macs(macs)
        if name is not None:
            if known and not known & macs:
                raise InputError('two machines claim serial %s: node %s has MACs %s, this report has %s'
                                 % (serial, name, _macs_text(known), _macs_text(macs)))
            others = [owner for owner in owners if owner != name]
            if others:
                raise InputError('serial %s is node %s, but MACs of this report belong to node %s'
                                 % (serial, name, ', '.join(others)))
        elif owners:
            if len(owners) > 1:
                raise InputError('the MACs of this report (%s) belong to several nodes: %s'
                                 % (_macs_text(macs), ', '.join(owners)))
            name = owners[0]
            known_serial = usable_serial((self.nodes[name].get('hardware') or {}).get('serial'))
            if serial and known_serial and known_serial != serial:
                raise InputError('node %s has serial %s, but the machine with its MACs now reports serial %s'
                                 % (name, known_serial, serial))
        return self.apply_discover(name, report)

    def apply_discover(self, name, report):
        hardware = _hardware_of(report)
        new = name is None
        if new:
            name = _new_node_name(hardware.get('serial'), report['boot_mac'], self.prefix)
            if name in self.nodes:
                raise InputError('a new machine (boot MAC %s) would be named %s, which the registry already has for '
                                 'another machine' % (report['boot_mac'], name))
            node = {'state': 'manageable', 'role': None, 'protected': False}
        else:
            node = copy.deepcopy(self.nodes[name])
        node_hardware = node.setdefault('hardware', {})
        node_hardware.update(hardware)
        provisioning = node.setdefault('provisioning', {})
        if not provisioning.get('mac'):
            provisioning['mac'] = report['boot_mac']
        if node.get('state', 'enrolled') == 'enrolled':
            node['state'] = transition(name, node, 'manage')
        role = None
        if node.get('role') is None:
            for rule in self.rules:
                if rule_matches(rule['when'], node_hardware):
                    role = node['role'] = rule['role']
                    break
        self.install(name, node)
        if role:
            self.result['roles'][name] = role
        listing = self.result['enrolled'] if new else self.result['matched']
        if name not in self.result['enrolled'] and name not in self.result['matched']:
            listing.append(name)
        return name

    def deploy(self, report):
        owners = self.owners_of_macs(set([report['boot_mac']]))
        if not owners:
            raise InputError('a deploy report from MAC %s, which no registry node has' % report['boot_mac'])
        name = owners[0]
        node = copy.deepcopy(self.nodes[name])
        state = node.get('state', 'enrolled')
        if state != 'deploying':
            raise InputError('a deploy report for node %s, which is %s: only a deploying node takes one' % (name, state))
        deployed = dict((key, report[key]) for key in ('status', 'image', 'sha256', 'disk', 'message') if key in report)
        node.setdefault('provisioning', {})['deployed'] = deployed
        self.install(name, node)
        self.result['deployed'][name] = report['status']
        return name


def ingest(data, spool_dir, rules=None, prefix='node'):
    """Merge the reports waiting in ``spool_dir`` into registry ``data`` (changed in place); move no file.

    Discover reports match a node by serial, then by any MAC; the node gets the
    reported hardware, ``provisioning.mac`` (when unset) and, if it was
    ``enrolled``, the state ``manageable``. A machine no node matches is
    enrolled as a new ``manageable`` node without BMC, named like the BMC sweep
    names nodes (``<prefix>-<serial>``, or ``<prefix>-mac-<boot mac>``).
    ``rules`` (see validate_rules) give a role to nodes that have none.
    Deploy reports are recorded as ``provisioning.deployed`` of the deploying
    node with that MAC; the state stays for the provision playbook to decide.

    A report is refused as a whole (nothing of it is applied) when it is off
    schema, when two machines claim one serial, when its serial and its MACs
    point at different nodes, or when the registry would not accept the result.

    Returns ``{'matched': [...], 'enrolled': [...], 'deployed': {node: status},
    'roles': {node: role}, 'refused': {file: reason}, 'consumed': [files]}``.
    Write the registry, then hand this result to ``consume``.
    """
    if not HAS_REGISTRY:
        raise InputError('ingesting reports needs the datacenter.iaas collection (this is a standalone copy)')
    checked_rules = validate_rules(rules)
    run = _Ingest(data, checked_rules, prefix)
    refused = run.result['refused']
    loaded = []
    for name in spool_files(spool_dir):
        try:
            loaded.append((name, read_spool_file(spool_dir, name)))
        except InputError as exc:
            refused[name] = exc.message
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:  # gone meanwhile: someone else consumed it
                refused[name] = 'cannot read: %s' % (exc.strerror or exc)
    conflicts = _serial_conflicts(loaded)
    for name, report in loaded:
        try:
            if report['kind'] == 'discover':
                run.discover(report, conflicts)
            else:
                run.deploy(report)
        except InputError as exc:
            refused[name] = exc.message
            continue
        run.result['consumed'].append(name)
    return run.result
