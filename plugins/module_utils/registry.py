# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hardware registry: one YAML file that says which machines exist and where they are in their life.

``parse``/``dump`` turn text into validated, normalized data and back
(deterministically, so diffs and version control stay quiet). ``Registry``
reads without a lock (writers replace the file atomically) and changes it only
inside ``update()``, under an exclusive lock. ``transition`` and ``guard_power``
are the lifecycle rules of docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import errno
import fcntl
import gc
import io
import os
import tempfile
import time

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import (
    IaasError, InputError, RegistryError, TransitionError)
from ansible_collections.datacenter.iaas.plugins.module_utils.validation import (
    normalize_mac, validate_host, validate_ip, validate_node_name)

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

VERSION = 1
STATES = ('enrolled', 'manageable', 'available', 'deploying', 'active', 'maintenance', 'failed', 'retired')
ROLES = ('controller', 'network', 'compute', 'storage')
LOCK_TIMEOUT = 60.0

# One lifecycle action: the states it starts from, the state it ends in, the
# starting states that need force, and whether a protected node needs force.
Action = collections.namedtuple('Action', 'sources target force_states force_if_protected')

ACTIONS = {
    'manage': Action(('enrolled', 'available', 'maintenance', 'failed'), 'manageable', (), False),
    'provide': Action(('manageable',), 'available', (), False),
    'deploy': Action(('available', 'active'), 'deploying', ('active',), True),
    'activate': Action(('deploying',), 'active', (), False),
    'fail': Action(('deploying',), 'failed', (), False),
    'undeploy': Action(('active', 'failed'), 'available', ('active',), True),
    'maintenance': Action(tuple(s for s in STATES if s != 'retired'), 'maintenance', (), False),
    'retire': Action(STATES, 'retired', ('active',), True),
}

# Power actions that take a running machine away from its workload.
GUARDED_POWER = ('off', 'shutdown', 'reset', 'cycle')


# --- schema --------------------------------------------------------------------------------------------------------
# Each checker takes (value, where) and returns the normalized value or raises InputError naming ``where``.

def _describe(value):
    return '%r (%s)' % (value, type(value).__name__)


def _text(value, where):
    if not isinstance(value, str):
        raise InputError('%s must be a string, got %s' % (where, _describe(value)))
    return value


def _count(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError('%s must be a whole number >= 0, got %s' % (where, _describe(value)))
    return value


def _size(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InputError('%s must be a number >= 0, got %s' % (where, _describe(value)))
    return value


def _port(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise InputError('%s must be a port number from 1 to 65535, got %s' % (where, _describe(value)))
    return value


def _flag(value, where):
    if not isinstance(value, bool):
        raise InputError('%s must be true or false, got %s' % (where, _describe(value)))
    return value


def _one_of(*choices):
    def check(value, where):
        if value not in choices:
            raise InputError('%s must be one of %s, got %r' % (where, ', '.join(choices), value))
        return value
    return check


def _wrap(convert):
    """A checker from a validation function, with ``where`` put in front of its message."""
    def check(value, where):
        try:
            return convert(value)
        except InputError as exc:
            raise InputError('%s: %s' % (where, exc.message))
    return check


def _mapping(fields):
    """A checker for a dict with the keys of ``fields``; None values are dropped (unknown = absent)."""
    known = [key for key, _checker in fields]

    def check(value, where):
        if not isinstance(value, dict):
            raise InputError('%s must be a mapping, got %s' % (where, _describe(value)))
        unknown = sorted(str(key) for key in value if key not in known)
        if unknown:
            raise InputError('%s has unknown key %s (known: %s)' % (where, ', '.join(unknown), ', '.join(known)))
        out = {}
        for key, checker in fields:
            if value.get(key) is not None:
                out[key] = checker(value[key], '%s.%s' % (where, key) if where else key)
        return out
    return check


def _list_of(fields):
    item = _mapping(fields)

    def check(value, where):
        if not isinstance(value, list):
            raise InputError('%s must be a list, got %s' % (where, _describe(value)))
        return [item(entry, '%s[%d]' % (where, index)) for index, entry in enumerate(value)]
    return check


def _properties(value, where):
    if not isinstance(value, dict):
        raise InputError('%s must be a mapping, got %s' % (where, _describe(value)))
    out = {}
    for key in sorted(value, key=str):
        if not isinstance(key, str):
            raise InputError('%s: key %r must be a string' % (where, key))
        if value[key] is None:
            continue
        if not isinstance(value[key], (str, bool, int, float)):
            raise InputError('%s.%s must be a string, number or bool (quote dates), got %s'
                             % (where, key, _describe(value[key])))
        out[key] = value[key]
    return out


BMC_FIELDS = (
    ('address', _wrap(validate_host)),
    ('port', _port),
    ('protocol', _one_of('ipmi', 'redfish')),
    ('credential', _text),
)
DISK_FIELDS = (('name', _text), ('size_gb', _size), ('rotational', _flag), ('serial', _text))
NIC_FIELDS = (('name', _text), ('mac', _wrap(normalize_mac)), ('pxe', _flag))
HARDWARE_FIELDS = (
    ('vendor', _text), ('model', _text), ('serial', _text), ('uuid', _text), ('cpus', _count),
    ('cpu_model', _text), ('memory_mb', _count), ('disks', _list_of(DISK_FIELDS)), ('nics', _list_of(NIC_FIELDS)),
)
# What the deploy ramdisk last reported for the node (reports.ingest writes it).
DEPLOYED_FIELDS = (
    ('status', _one_of('success', 'failure')), ('image', _text), ('sha256', _text), ('disk', _text), ('message', _text),
)
PROVISIONING_FIELDS = (
    ('mac', _wrap(normalize_mac)), ('ip', _wrap(validate_ip)), ('hostname', _text),
    ('boot_mode', _one_of('uefi', 'bios')), ('image', _text), ('deployed', _mapping(DEPLOYED_FIELDS)),
)
NODE_FIELDS = (
    ('state', _one_of(*STATES)),
    ('role', _one_of(*ROLES)),
    ('protected', _flag),
    ('bmc', _mapping(BMC_FIELDS)),
    ('hardware', _mapping(HARDWARE_FIELDS)),
    ('provisioning', _mapping(PROVISIONING_FIELDS)),
    ('properties', _properties),
)
# Key order on disk, for dump() of data that did not come through normalize().
_ORDER = {
    'node': [key for key, _c in NODE_FIELDS], 'bmc': [key for key, _c in BMC_FIELDS],
    'hardware': [key for key, _c in HARDWARE_FIELDS], 'provisioning': [key for key, _c in PROVISIONING_FIELDS],
    'disks': [key for key, _c in DISK_FIELDS], 'nics': [key for key, _c in NIC_FIELDS],
    'deployed': [key for key, _c in DEPLOYED_FIELDS],
}
_check_node = _mapping(NODE_FIELDS)


def normalize_node(name, node):
    """Return the validated, normalized record of node ``name``; InputError says what is wrong."""
    validate_node_name(name)
    if not isinstance(node, dict):
        raise InputError('the record must be a mapping, got %s' % _describe(node), node=name)
    try:
        checked = _check_node(node, '')
    except InputError as exc:
        raise InputError(exc.message, node=name)
    out = {'state': checked.get('state', 'enrolled'), 'role': checked.get('role'),
           'protected': checked.get('protected', False)}
    for key in ('bmc', 'hardware', 'provisioning', 'properties'):
        if checked.get(key):  # an empty section says nothing: leave it out
            out[key] = checked[key]
    return out


def _node_macs(node):
    macs = set(nic.get('mac') for nic in (node.get('hardware') or {}).get('nics') or [])
    macs.add((node.get('provisioning') or {}).get('mac'))
    macs.discard(None)
    return macs


def normalize(data):
    """Return a validated, normalized copy of a whole registry; InputError says what is wrong.

    Serials and MACs must be unique across nodes; the error names both nodes.
    """
    if not isinstance(data, dict):
        raise InputError('a registry must be a mapping with version and nodes, got %s' % _describe(data))
    unknown = sorted(str(key) for key in data if key not in ('version', 'nodes'))
    if unknown:
        raise InputError('unknown top-level key %s (known: version, nodes)' % ', '.join(unknown))
    if 'version' not in data:
        raise InputError('the registry has no version (expected version: %d)' % VERSION)
    if data['version'] != VERSION or isinstance(data['version'], bool):
        raise InputError('unknown registry version %r: this collection reads version %d' % (data['version'], VERSION))
    nodes = {} if data.get('nodes') is None else data['nodes']
    if not isinstance(nodes, dict):
        raise InputError('nodes must be a mapping of node name to record, got %s' % _describe(nodes))

    out = {}
    serials, macs = {}, {}
    for name in sorted(nodes, key=str):
        node = out[name] = normalize_node(name, nodes[name])
        serial = node.get('hardware', {}).get('serial')
        if serial is not None:
            if serial in serials:
                raise InputError('serial %s is on both node %s and node %s' % (serial, serials[serial], name))
            serials[serial] = name
        for mac in sorted(_node_macs(node)):
            if mac in macs:
                raise InputError('MAC %s is on both node %s and node %s' % (mac, macs[mac], name))
            macs[mac] = name
    return {'version': VERSION, 'nodes': out}


# --- text <-> data -------------------------------------------------------------------------------------------------

def _require_yaml():
    if not HAS_YAML:
        raise IaasError('the PyYAML Python library is required: %s' % YAML_IMPORT_ERROR)


if HAS_YAML:
    class _Loader(getattr(yaml, 'CSafeLoader', yaml.SafeLoader)):
        """Safe loader (libyaml when present) that refuses duplicate keys: YAML would keep only the last node."""

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != 'tag:yaml.org,2002:merge':
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            'while constructing a mapping', node.start_mark,
                            'found duplicate key %r' % key_node.value, key_node.start_mark)
                    seen.add(key_node.value)
            return super(_Loader, self).construct_mapping(node, deep=deep)

    class _Dumper(getattr(yaml, 'CSafeDumper', yaml.SafeDumper)):
        def ignore_aliases(self, data):
            return True


def parse(text, source='<registry>'):
    """Return the validated, normalized registry in ``text``; RegistryError names ``source`` and the problem."""
    _require_yaml()
    if not text.strip():
        raise RegistryError('%s is empty (truncated?); a new registry holds at least "version: %d"' % (source, VERSION))
    # A registry is a tree without reference cycles: the cyclic garbage collector
    # only slows the load of a big one down (10,000 nodes: about 3x), so pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = ' line %d, column %d:' % (mark.line + 1, mark.column + 1) if mark else ''
        raise RegistryError('%s:%s YAML error: %s' % (source, where, exc.problem or exc.context))
    except yaml.YAMLError as exc:
        raise RegistryError('%s: YAML error: %s' % (source, exc))
    finally:
        if collecting:
            gc.enable()
    if data is None:
        raise RegistryError('%s holds no data (truncated?); a new registry holds at least "version: %d"'
                            % (source, VERSION))
    try:
        return normalize(data)
    except InputError as exc:
        raise RegistryError('%s: %s' % (source, exc))


def _ordered(value, kind):
    """A copy of ``value`` with dict keys in schema order (unknown keys last, sorted)."""
    if isinstance(value, list):
        return [_ordered(item, kind) for item in value]
    if not isinstance(value, dict):
        return value
    order = _ORDER.get(kind)
    if order is None:
        keys = sorted(value, key=str)
    else:
        keys = [key for key in order if key in value] + sorted((key for key in value if key not in order), key=str)
    return dict((key, _ordered(value[key], key)) for key in keys)


def _dump_yaml(document):
    return yaml.dump(document, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
                     allow_unicode=True, width=1000)


def dump(data):
    """The registry as YAML text: nodes sorted by name, keys in schema order, same data gives same bytes."""
    _require_yaml()
    nodes = data.get('nodes') or {}
    document = {'version': data.get('version', VERSION),
                'nodes': dict((name, _ordered(nodes[name], 'node')) for name in sorted(nodes, key=str))}
    return _dump_yaml(document)


def dump_nodes(nodes):
    """Just these nodes as YAML (``name: record``), for diffs; '' when there are none."""
    _require_yaml()
    if not nodes:
        return ''
    return _dump_yaml(dict((name, _ordered(nodes[name], 'node')) for name in sorted(nodes, key=str)))


def _copy(value):
    """Copy plain data; much faster than copy.deepcopy on a 10,000-node registry."""
    if isinstance(value, dict):
        return dict((key, _copy(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def empty():
    return {'version': VERSION, 'nodes': {}}


# --- the file ------------------------------------------------------------------------------------------------------

class Registry(object):
    """The registry file at ``path``. With ``create``, a missing file reads as an empty registry."""

    def __init__(self, path, create=False, lock_timeout=LOCK_TIMEOUT):
        self.path = path
        self.create = create
        self.lock_timeout = lock_timeout

    @property
    def lock_path(self):
        return self.path + '.lock'

    def exists(self):
        return os.path.exists(self.path)

    def read(self):
        """The validated registry. No lock: writers replace the file in one rename, never in place."""
        try:
            with io.open(self.path, 'r', encoding='utf-8') as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT and self.create:
                return empty()
            if exc.errno == errno.ENOENT:
                raise RegistryError('registry %s does not exist' % self.path)
            raise RegistryError('cannot read registry %s: %s' % (self.path, exc.strerror or exc))
        except UnicodeDecodeError as exc:
            raise RegistryError('registry %s is not UTF-8 text: %s' % (self.path, exc))
        return parse(text, self.path)

    def update(self, check_mode=False):
        """A context manager: ``with reg.update() as data:`` change ``data`` in place; see RegistryUpdate."""
        return RegistryUpdate(self, check_mode)

    def _lock(self):
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except (IOError, OSError) as exc:
            raise RegistryError('cannot open lock file %s: %s' % (self.lock_path, exc.strerror or exc))
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise RegistryError('cannot lock %s: %s' % (self.lock_path, exc.strerror or exc))
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RegistryError('registry %s is still locked by another writer after %ss (lock file %s)'
                                    % (self.path, self.lock_timeout, self.lock_path))
            time.sleep(0.05)

    def _write(self, text):
        """Replace the file atomically: readers see the old or the new registry, never half of one."""
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(self.path), suffix='.tmp', dir=directory)
        except (IOError, OSError) as exc:
            raise RegistryError('cannot write registry %s: %s' % (self.path, exc.strerror or exc))
        try:
            with io.open(fd, 'w', encoding='utf-8') as handle:  # mkstemp made it 0600
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(exc, (IOError, OSError)):
                raise RegistryError('cannot write registry %s: %s' % (self.path, exc.strerror or exc))
            raise
        # The rename lives in the directory: sync it too, or a crash may bring the old file back.
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class RegistryUpdate(object):
    """One locked read-modify-write of the registry.

    Entering locks ``<path>.lock`` (not in check mode, which writes nothing)
    and returns the registry data to change in place. Leaving normally
    validates it (InputError if it is wrong: the change came from the caller)
    and writes it if anything changed. Leaving by an exception writes
    nothing. Afterwards ``changed``, ``diff`` (only the changed nodes) and
    ``data`` (normalized) tell what happened, or would have in check mode.
    """

    def __init__(self, registry, check_mode=False):
        self.registry = registry
        self.check_mode = check_mode
        self.changed = False
        self.diff = {'before': '', 'after': ''}
        self.data = None
        self._before = None
        self._lock_fd = None

    def __enter__(self):
        if not self.check_mode:
            self._lock_fd = self.registry._lock()
        try:
            self._before = self.registry.read()
        except BaseException:
            self._unlock()
            raise
        self.data = _copy(self._before)
        return self.data

    def __exit__(self, exc_type, exc_value, traceback):
        try:
            if exc_type is None:
                self._commit()
        finally:
            self._unlock()
        return False

    def _unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _commit(self):
        after = normalize(self.data)
        before_nodes, after_nodes = self._before['nodes'], after['nodes']
        names = [name for name in set(before_nodes) | set(after_nodes)
                 if before_nodes.get(name) != after_nodes.get(name)]
        self.data = after
        self.changed = bool(names)
        self.diff = {
            'before': dump_nodes(dict((name, before_nodes[name]) for name in names if name in before_nodes)),
            'after': dump_nodes(dict((name, after_nodes[name]) for name in names if name in after_nodes)),
            'before_header': self.registry.path,
            'after_header': self.registry.path,
        }
        if self.changed and not self.check_mode:
            self.registry._write(dump(after))


# --- lifecycle -----------------------------------------------------------------------------------------------------

def transition(name, node, action, force=False):
    """Return the state ``action`` takes node ``name`` to; the record itself is not changed.

    A node already in the action's target state stays there: no error, no guard.
    """
    spec = ACTIONS.get(action)
    if spec is None:
        raise TransitionError('unknown action %r (actions: %s)' % (action, ', '.join(sorted(ACTIONS))), node=name)
    state = node.get('state', 'enrolled')
    if state == spec.target:
        return state
    if state not in spec.sources:
        raise TransitionError('cannot %s a node that is %s: %s is allowed from %s'
                              % (action, state, action, ', '.join(spec.sources)), node=name)
    if not force:
        if state in spec.force_states:
            raise TransitionError('%s of an %s node needs force: true' % (action, state), node=name)
        if spec.force_if_protected and node.get('protected'):
            raise TransitionError('%s of a protected node needs force: true' % action, node=name)
    return spec.target


def guard_power(name, node, power_state, force=False):
    """Refuse to take power from an active or protected node without ``force``."""
    if power_state not in GUARDED_POWER or force:
        return
    reasons = []
    if node.get('state') == 'active':
        reasons.append('active')
    if node.get('protected'):
        reasons.append('protected')
    if reasons:
        raise TransitionError('power %s of a %s node needs force: true' % (power_state, ' and '.join(reasons)),
                              node=name)


# --- helpers -------------------------------------------------------------------------------------------------------

def find_by_serial(data, serial):
    """Name of the node with hardware serial ``serial``, or None."""
    for name, node in (data.get('nodes') or {}).items():
        if (node.get('hardware') or {}).get('serial') == serial:
            return name
    return None


def find_by_mac(data, mac):
    """Name of the node that has ``mac`` (any form) on a NIC or as provisioning MAC, or None."""
    mac = normalize_mac(mac)
    for name, node in (data.get('nodes') or {}).items():
        if mac in _node_macs(node):
            return name
    return None


def merge(node, updates):
    """Deep-merge ``updates`` into ``node`` in place; return whether anything changed.

    Dicts merge key by key, anything else (lists too) is replaced, and a None
    value removes the key. Values are compared as given, not normalized:
    RegistryUpdate.changed is the authority on whether the registry changed.
    """
    changed = False
    for key, value in updates.items():
        if value is None:
            if key in node:
                del node[key]
                changed = True
        elif isinstance(value, dict) and isinstance(node.get(key), dict):
            changed = merge(node[key], value) or changed
        elif key not in node or node[key] != value or type(node[key]) is not type(value):
            node[key] = _copy(value)
            changed = True
    return changed
