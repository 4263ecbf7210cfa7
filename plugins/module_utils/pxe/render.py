# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot files of nodes, rendered in memory: ``{relative path: content}``, nothing read or written.

Templates are the defaults of ``templates`` or the user's, per kind, and run in Jinja2's sandbox with
StrictUndefined; where each file goes is ``boot_paths`` (keyed by MAC) and ``install_paths`` (by host name).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import json
import re
import shlex

from ansible_collections.datacenter.iaas.plugins.module_utils.errors import IaasError, InputError
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe import checks, templates
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.settings import TEMPLATE_KINDS

try:
    import jinja2
    import jinja2.sandbox
    JINJA2_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    jinja2 = None
    JINJA2_IMPORT_ERROR = exc

# GRUB words that need no quotes; others are single-quoted.
_GRUB_PLAIN_RE = re.compile(r'^[A-Za-z0-9._:/=,@+-]+$')


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


def _oneline(value):
    text = '' if value is None else str(value)
    if '\n' in text or '\r' in text:
        raise InputError('a value for a one-line setting holds a line break: %r' % text)
    return text


def _to_json(value):
    return json.dumps(value, sort_keys=True)


class Renderer(object):
    """Renders the boot files of nodes: the default templates, or the user's per kind."""

    def __init__(self, settings):
        if jinja2 is None:
            raise IaasError('the Jinja2 Python library is required: %s' % JINJA2_IMPORT_ERROR)
        self.settings = settings
        self.env = jinja2.sandbox.ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
            autoescape=False)
        self.env.filters.update(to_json=_to_json, oneline=_oneline, shell_quote=shlex.quote)
        self.templates = {}
        for kind in TEMPLATE_KINDS:
            path = settings.templates.get(kind)
            if path is None:
                source, origin = templates.DEFAULTS[kind], 'default %s template' % kind
            else:
                try:
                    with io.open(path, 'r', encoding='utf-8') as handle:
                        source = handle.read()
                except (IOError, OSError, UnicodeDecodeError) as exc:
                    raise InputError('templates.%s: cannot read %s: %s' % (kind, path, getattr(exc, 'strerror', None) or exc))
                origin = '%s template %s' % (kind, path)
            self.templates[kind] = (self._compile(source, origin), origin)
        self.meta_data = (self._compile(templates.META_DATA, 'meta-data template'), 'meta-data template')
        self.boot_ipxe = (self._compile(templates.BOOT_IPXE, 'boot.ipxe template'), 'boot.ipxe template')

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
            kernel = checks.http_ref(install['kernel'], 'install.kernel', settings.server)
            initrd = checks.http_ref(install['initrd'], 'install.initrd', settings.server)
            if install['os'] == 'debian':
                args = ['auto=true', 'priority=critical', 'url=%s' % node['install_url'],
                        'hostname=%s' % node['short_hostname'], 'domain=%s' % node['domain'], 'interface=auto']
            else:
                iso = checks.http_ref(install['iso'], 'install.iso', settings.server)
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
            'node': node, 'server': settings.server, 'unknown': unknown, 'marker': templates.MARKER,
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
        """{relative path: content} of one node's boot files (nothing for an absent node)."""
        if node.absent:
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
            context = {'node': view, 'install': node.install, 'server': self.settings.server,
                       'marker': templates.MARKER}
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
