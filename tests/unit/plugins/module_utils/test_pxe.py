# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import pxe
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError

SHA = 'ab' * 32
# The unit-test venv of ansible-test units has Jinja2 only when tests/unit/requirements.txt lists it.
# Jinja2 is in tests/unit/requirements.txt: without it these tests fail rather than skip.
assert pxe.HAS_JINJA2, 'Jinja2 is required (tests/unit/requirements.txt)'
HOSTS = 'dnsmasq/hosts'


def settings(root, **kwargs):
    options = dict(pool=['198.18.0.0/24'], gateway='198.18.0.1')
    options.update(kwargs)
    return pxe.Settings(str(root), '198.18.0.1', **options)


def node(index, **kwargs):
    entry = {'name': 'n%d' % index, 'mac': '52:54:00:00:00:%02x' % index}
    entry.update(kwargs)
    return entry


def run(root, entries, registry_data=None, **kwargs):
    """Plan and apply; return the plan."""
    conf = settings(root, **kwargs)
    result = pxe.plan(conf, pxe.prepare_nodes(entries, conf), registry_data=registry_data)
    pxe.apply(result)
    return result


def planned(root, entries, registry_data=None, **kwargs):
    conf = settings(root, **kwargs)
    return pxe.plan(conf, pxe.prepare_nodes(entries, conf), registry_data=registry_data)


def read(root, path):
    with open(os.path.join(str(root), path)) as handle:
        return handle.read()


def host_lines(root):
    return [line for line in read(root, HOSTS).splitlines() if line and not line.startswith('#')]


def tree(root):
    """Every file under root, relative, with its content."""
    out = {}
    for directory, _dirs, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                out[os.path.relpath(path, str(root))] = handle.read()
    return out


# --- validation ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    ('rack1-u07', 'rack1-u07'), ('Rack1-U07.DC1.example', 'rack1-u07.dc1.example'), ('a', 'a'),
    ('x' * 63, 'x' * 63), ('node7.', 'node7'),
])
def test_hostname_accepted(value, expected):
    assert pxe.validate_hostname(value) == expected


@pytest.mark.parametrize('value', [
    '', 'rack1_u07', '-a', 'a-', '../etc', 'a/b', 'a..b', 'x' * 64, 'host.123', 'a b', 'ä', None, 7, '.',
    'a.' * 127 + 'a',
])
def test_hostname_refused(value):
    with pytest.raises(InputError, match='not a valid host name'):
        pxe.validate_hostname(value)


@pytest.mark.parametrize('value, base, grub', [
    ('198.18.0.1', 'http://198.18.0.1', '(http,198.18.0.1)'),
    ('boot.dc1.example', 'http://boot.dc1.example', '(http,boot.dc1.example)'),
    ('http://198.18.0.1:8080/', 'http://198.18.0.1:8080', '(http,198.18.0.1:8080)'),
    ('fd00::1', 'http://[fd00::1]', '(http,[fd00::1])'),
])
def test_server_base(value, base, grub):
    assert pxe.server_base(value)[:2] == (base, grub)


@pytest.mark.parametrize('value', ['', 'http://a b', 'ftp://x', 'http://x/$y', "http://x/'", 'not a host'])
def test_server_refused(value):
    with pytest.raises(InputError):
        pxe.server_base(value)


def test_default_report_url_uses_server_host():
    assert pxe.Settings('/x', 'http://198.18.0.1:8080').report_url == 'http://198.18.0.1:8088/v1/reports'
    assert pxe.Settings('/x', '198.18.0.1', report_url='http://r:9/v1/reports').report_url == 'http://r:9/v1/reports'


@pytest.mark.parametrize('entry, message', [
    (node(1, mac='52:54:00:00:00'), 'not a MAC address'),
    (node(1, mac=None), 'no MAC address'),
    (node(1, name='../etc'), 'not a valid node name'),
    (node(1, name='rack_1'), 'give hostname'),
    (node(1, hostname='../../etc/passwd'), 'not a valid host name'),
    (node(1, hostname='a/b'), 'not a valid host name'),
    (node(1, ip='198.18.0.999'), 'not an IP address'),
    (node(1, ip='fd00::5'), 'only IPv4'),
    (node(1, mode='reboot'), 'mode must be one of'),
    (node(1, boot_mode='efi'), 'boot_mode must be'),
    (node(1, kernel_args='console=ttyS0 "quoted"'), 'cannot be passed safely'),
    (node(1, kernel_args='a=$(reboot)'), 'cannot be passed safely'),
    (node(1, disk='/dev/../etc/x'), 'disk'),
    (node(1, mode='deploy'), 'needs an image'),
    (node(1, mode='deploy', image='../secret.img', image_sha256=SHA), 'relative path under the HTTP root'),
    (node(1, mode='deploy', image='http://x/a b', image_sha256=SHA), 'not a usable'),
    (node(1, mode='deploy', image='images/a.img', image_sha256='xyz'), 'not a SHA-256'),
    (node(1, mode='deploy', image='images/a.img'), 'needs image_sha256'),
    (node(1, mode='install'), 'install needs os'),
    (node(1, mode='install', install={'os': 'debian', 'username': 'Root;x'}), 'not a valid user name'),
    (node(1, mode='install', install={'os': 'debian', 'packages': ['vim; rm']}), 'not a package name'),
    (node(1, mode='install', install={'os': 'ubuntu', 'iso': '/etc/passwd'}), 'relative path'),
])
def test_bad_node_refused(tmp_path, entry, message):
    with pytest.raises(InputError, match=message):
        pxe.prepare_nodes([entry], settings(tmp_path))


@pytest.mark.parametrize('entries, message', [
    ([node(1), node(2, mac='52-54-00-00-00-01')], 'MAC 52:54:00:00:00:01 is given to both node n1 and node n2'),
    ([node(1), node(1, mac='52:54:00:00:00:09')], 'name n1 is given to both'),
    ([node(1, hostname='web'), node(2, hostname='WEB')], 'host name web is given to both'),
    ([node(1, ip='198.18.0.9'), node(2, ip='198.18.0.9')], 'IP address 198.18.0.9 is given to both'),
])
def test_duplicates_refused(tmp_path, entries, message):
    with pytest.raises(InputError, match=message):
        pxe.prepare_nodes(entries, settings(tmp_path))


@pytest.mark.parametrize('options, message', [
    ({'pool': ['fd00::/64']}, 'only IPv4'),
    ({'pool': ['198.18.0.1/24']}, 'host bits set'),
    ({'pool': ['198.18.0.10-198.18.1.10'], 'network': '198.18.0.0/24'}, 'not inside network'),
    ({'gateway': 'gw'}, 'not an IP address'),
    ({'kernel': '/boot/vmlinuz'}, 'relative path'),
    ({'initrd': 'ramdisk/../../x'}, 'relative path'),
    ({'hosts_file': '../hosts'}, 'without ".."'),
    ({'templates': {'bogus': '/x'}}, 'unknown kind'),
    ({'report_url': 'http://x/;reboot'}, 'not a usable'),
])
def test_bad_settings_refused(tmp_path, options, message):
    with pytest.raises(InputError, match=message):
        settings(tmp_path, **options)


def test_root_must_exist(tmp_path):
    with pytest.raises(InputError, match='is not a directory'):
        planned(tmp_path / 'missing', [node(1)])


# --- the pool and allocation ---------------------------------------------------------------------------------------

def test_pool_skips_network_broadcast_gateway_and_reserved():
    pool = pxe.Pool(['198.18.0.0/29'], gateway='198.18.0.1', reserved=['198.18.0.3-198.18.0.4'])
    free = [pxe._ip_text(value) for value in pool.free(set())]
    assert free == ['198.18.0.2', '198.18.0.5', '198.18.0.6']
    assert pool.why_not(pxe._ip_int('198.18.0.0')) == 'the network address of 198.18.0.0/29'
    assert pool.why_not(pxe._ip_int('198.18.0.7')) == 'the broadcast address of 198.18.0.0/29'
    assert pool.why_not(pxe._ip_int('198.18.0.1')) == 'the gateway'
    assert pool.why_not(pxe._ip_int('198.18.0.4')).startswith('reserved')
    assert pool.why_not(pxe._ip_int('198.18.0.8')).startswith('outside the pool')


def test_range_pool_with_network():
    pool = pxe.Pool(['198.18.0.254-198.18.1.1'], network='198.18.0.0/23')
    assert [pxe._ip_text(v) for v in pool.free(set())] == ['198.18.0.254', '198.18.0.255', '198.18.1.0', '198.18.1.1']
    pool = pxe.Pool(['198.18.1.250-198.18.1.255'], network='198.18.0.0/23')
    assert pxe._ip_text(list(pool.free(set()))[-1]) == '198.18.1.254'


def test_allocate_keeps_known_addresses_and_skips_taken_ones(tmp_path):
    conf = settings(tmp_path)
    nodes = pxe.prepare_nodes([node(1), node(2, ip='198.18.0.2'), node(3), node(4, mode='absent'),
                               dict(node(5), known_ips=['198.18.0.2', '198.18.0.77'])], conf)
    current = {'52:54:00:00:00:03': pxe.HostsLine('', ['52:54:00:00:00:03'], '198.18.0.40', 'n3')}
    pxe._allocate(conf, nodes, current, {pxe._ip_int('198.18.0.3'): 'MAC aa:bb:cc:dd:ee:ff'})
    assert [n.ip for n in nodes] == ['198.18.0.4', '198.18.0.2', '198.18.0.40', None, '198.18.0.77']


def test_allocation_lowest_free_and_stable(tmp_path):
    first = run(tmp_path, [node(1), node(2), node(3)])
    assert [n['ip'] for n in first.nodes] == ['198.18.0.2', '198.18.0.3', '198.18.0.4']
    # New node in front, one removed from the task (its line stays and keeps its address).
    second = run(tmp_path, [node(9), node(3), node(1)])
    assert dict((n['name'], n['ip']) for n in second.nodes) == {'n9': '198.18.0.5', 'n3': '198.18.0.4',
                                                                'n1': '198.18.0.2'}
    assert host_lines(tmp_path) == [
        '52:54:00:00:00:01,198.18.0.2,n1',
        '52:54:00:00:00:02,198.18.0.3,n2',
        '52:54:00:00:00:03,198.18.0.4,n3',
        '52:54:00:00:00:09,198.18.0.5,n9',
    ]


def test_explicit_ip_wins_and_displaced_node_moves(tmp_path):
    run(tmp_path, [node(1), node(2)])
    result = run(tmp_path, [node(1), node(2, ip='198.18.0.2')])
    assert [n['ip'] for n in result.nodes] == ['198.18.0.3', '198.18.0.2']  # n2 let .3 go
    ips = [line.split(',')[2] for line in host_lines(tmp_path)]
    assert len(set(ips)) == len(ips)


def test_explicit_ip_must_be_usable(tmp_path):
    for ip, reason in (('198.18.1.5', 'outside the pool'), ('198.18.0.1', 'the gateway'),
                       ('198.18.0.0', 'the network address'), ('198.18.0.255', 'the broadcast address')):
        with pytest.raises(InputError, match='ip %s is %s' % (ip, reason)):
            planned(tmp_path, [node(1, ip=ip)])


def test_addresses_of_other_lines_and_registry_nodes_are_never_handed_out(tmp_path):
    os.makedirs(str(tmp_path / 'dnsmasq'))
    (tmp_path / HOSTS).write_text('# printer\naa:bb:cc:dd:ee:ff,198.18.0.2,printer\n52:54:00:99:00:01,198.18.0.4,infinite\n')
    registry = {'version': 1, 'nodes': {'other': {'provisioning': {'ip': '198.18.0.3'}},
                                        'n1': {'provisioning': {'ip': '198.18.0.200'}}}}
    result = run(tmp_path, [dict(node(1), known_ips=['198.18.0.200'], registry=True), node(2)], registry_data=registry)
    assert [n['ip'] for n in result.nodes] == ['198.18.0.200', '198.18.0.5']
    with pytest.raises(InputError, match='198.18.0.2 is already given to MAC aa:bb:cc:dd:ee:ff'):
        planned(tmp_path, [node(3, ip='198.18.0.2')])
    with pytest.raises(InputError, match='host name printer is already given to MAC aa:bb:cc:dd:ee:ff'):
        planned(tmp_path, [node(3, hostname='printer')])
    text = read(tmp_path, HOSTS)
    assert text.startswith('# printer\naa:bb:cc:dd:ee:ff,198.18.0.2,printer\n52:54:00:99:00:01,198.18.0.4,infinite\n')


def test_known_address_outside_pool_is_replaced(tmp_path):
    result = run(tmp_path, [dict(node(1), known_ips=['10.0.0.5'])])
    assert result.nodes[0]['ip'] == '198.18.0.2'


def test_pool_exhausted(tmp_path):
    with pytest.raises(InputError, match='no free address left for 2 more node'):
        planned(tmp_path, [node(i) for i in range(1, 8)], pool=['198.18.0.0/29'])  # 5 usable
    with pytest.raises(InputError, match='no pool'):
        planned(tmp_path, [node(1)], pool=None)


def test_bulk_allocation_unique(tmp_path):
    entries = [{'name': 'h%d' % i, 'mac': '52:54:00:01:%02x:%02x' % (i >> 8, i & 255)} for i in range(600)]
    result = planned(tmp_path, entries, pool=['198.18.0.0/22'], reserved=['198.18.1.0/25'])
    ips = [n['ip'] for n in result.nodes]
    assert len(set(ips)) == 600
    assert not any(ip.startswith('198.18.1.') and int(ip.split('.')[3]) < 128 for ip in ips)
    assert '198.18.0.1' not in ips and '198.18.0.0' not in ips


# --- rendering -----------------------------------------------------------------------------------------------------

def render(tmp_path, entry, **options):
    conf = settings(tmp_path, **options)
    nodes = pxe.prepare_nodes([entry], conf)
    nodes[0].ip = nodes[0].ip or '198.18.0.9'
    return pxe.Renderer(conf).node_files(nodes[0])


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


# --- planning and applying -----------------------------------------------------------------------------------------

def test_plan_writes_then_nothing(tmp_path):
    entries = [node(1), node(2, mode='local', boot_mode='bios'), node(3, mode='install', install={'os': 'debian'})]
    first = run(tmp_path, entries)
    assert first.changed and first.hosts_changed
    assert all(n['changed'] for n in first.nodes)
    files = tree(tmp_path)
    assert sorted(files) == sorted([
        HOSTS, 'http/ipxe/boot.ipxe', 'http/ipxe/discover.ipxe', 'tftp/grub/grub.cfg', 'tftp/pxelinux.cfg/default',
        'http/ipxe/52-54-00-00-00-01.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-00-00-01',
        'tftp/grub/grub.cfg-01-52-54-00-00-00-01',
        'http/ipxe/52-54-00-00-00-02.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-00-00-02',
        'http/ipxe/52-54-00-00-00-03.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-00-00-03',
        'tftp/grub/grub.cfg-01-52-54-00-00-00-03', 'http/install/n3.preseed',
    ])
    for path in files:
        assert stat.S_IMODE(os.stat(os.path.join(str(tmp_path), path)).st_mode) == 0o644
    second = run(tmp_path, entries)
    assert not second.changed and not second.writes and not second.removes and not second.hosts_changed
    assert not any(n['changed'] for n in second.nodes)
    assert tree(tmp_path) == files


def test_plan_alone_writes_nothing(tmp_path):
    result = planned(tmp_path, [node(1)])
    assert result.changed and len(result.writes) == 8
    assert tree(tmp_path) == {}


def test_only_differences_are_written(tmp_path):
    run(tmp_path, [node(1), node(2)])
    before = os.stat(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe')).st_ino
    result = run(tmp_path, [node(1), node(2, mode='local')])
    assert sorted(result.changed_files()) == sorted([
        'http/ipxe/52-54-00-00-00-02.ipxe', 'tftp/grub/grub.cfg-01-52-54-00-00-00-02',
        'tftp/pxelinux.cfg/01-52-54-00-00-00-02'])
    assert [n['changed'] for n in result.nodes] == [False, True]
    assert os.stat(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe')).st_ino == before
    # A file whose mode was changed by hand is put right.
    os.chmod(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe'), 0o600)
    assert run(tmp_path, [node(1), node(2, mode='local')]).changed_files() == ['http/ipxe/52-54-00-00-00-01.ipxe']


def test_absent_removes_files_and_line(tmp_path):
    run(tmp_path, [node(1), node(2, mode='install', install={'os': 'ubuntu'})])
    result = run(tmp_path, [node(2, mode='absent')])
    assert sorted(result.removed_files()) == sorted([
        'http/ipxe/52-54-00-00-00-02.ipxe', 'tftp/pxelinux.cfg/01-52-54-00-00-00-02',
        'tftp/grub/grub.cfg-01-52-54-00-00-00-02', 'http/install/n2/user-data', 'http/install/n2/meta-data'])
    assert result.nodes[0]['changed'] and result.nodes[0]['ip'] is None
    assert host_lines(tmp_path) == ['52:54:00:00:00:01,198.18.0.2,n1']
    assert not os.path.exists(str(tmp_path / 'http/install/n2'))
    assert os.path.exists(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe'))
    again = run(tmp_path, [node(2, mode='absent')])
    assert not again.changed and not again.nodes[0]['changed']


def test_boot_mode_and_hostname_changes_remove_stale_files(tmp_path):
    run(tmp_path, [node(1, mode='install', hostname='old', install={'os': 'debian'})])
    result = run(tmp_path, [node(1, mode='install', hostname='new', boot_mode='uefi', install={'os': 'debian'})])
    assert sorted(result.removed_files()) == ['http/install/old.preseed', 'tftp/pxelinux.cfg/01-52-54-00-00-00-01']
    assert 'http/install/new.preseed' in result.changed_files()
    assert host_lines(tmp_path) == ['52:54:00:00:00:01,198.18.0.2,new']


def test_discover_unknown_off(tmp_path):
    run(tmp_path, [])
    assert os.path.exists(str(tmp_path / 'http/ipxe/discover.ipxe'))
    result = run(tmp_path, [], discover_unknown=False)
    assert result.removed_files() == ['http/ipxe/discover.ipxe']
    assert 'LOCALBOOT 0' in read(tmp_path, 'tftp/pxelinux.cfg/default')
    assert read(tmp_path, 'tftp/grub/grub.cfg').splitlines()[1:] == ['exit']
    assert 'discover.ipxe' not in read(tmp_path, 'http/ipxe/boot.ipxe')


def test_symlink_out_of_root_refused(tmp_path):
    root, outside = tmp_path / 'root', tmp_path / 'outside'
    os.makedirs(str(root / 'http'))
    os.makedirs(str(outside))
    os.symlink(str(outside), str(root / 'http' / 'ipxe'))
    with pytest.raises(InputError, match='outside'):
        planned(root, [node(1)])
    assert os.listdir(str(outside)) == []


def test_http_root_may_be_a_symlink(tmp_path):
    root, www = tmp_path / 'root', tmp_path / 'www'
    os.makedirs(str(root))
    os.makedirs(str(www))
    os.symlink(str(www), str(root / 'http'))
    run(root, [node(1)])
    assert os.path.exists(str(www / 'ipxe' / '52-54-00-00-00-01.ipxe'))


def test_file_in_place_of_directory_refused_before_writing(tmp_path):
    (tmp_path / 'tftp').write_text('not a directory')
    with pytest.raises(InputError, match='not a directory'):
        planned(tmp_path, [node(1)])
    os.remove(str(tmp_path / 'tftp'))
    os.makedirs(str(tmp_path / 'http/ipxe/52-54-00-00-00-01.ipxe'))
    with pytest.raises(InputError, match='is a directory'):
        planned(tmp_path, [node(1)])


def test_file_and_directory_clash_refused(tmp_path):
    entries = [node(1, mode='install', hostname='a', install={'os': 'debian'}),
               node(2, mode='install', hostname='a.preseed', install={'os': 'ubuntu'})]
    with pytest.raises(InputError, match='both a file and a directory'):
        planned(tmp_path, entries)


def test_no_temporary_files_left(tmp_path):
    run(tmp_path, [node(1), node(2)])
    assert not [path for path in tree(tmp_path) if os.path.basename(path).startswith('.')]


def test_hosts_file_outside_root(tmp_path):
    hosts = tmp_path / 'etc' / 'iaas.hosts'
    os.makedirs(str(tmp_path / 'srv'))
    run(tmp_path / 'srv', [node(1)], hosts_file=str(hosts))
    assert '52:54:00:00:00:01,198.18.0.2,n1' in hosts.read_text()


def test_diff_lists_hosts_first_and_is_limited(tmp_path):
    result = planned(tmp_path, [node(i) for i in range(1, 11)])
    diff = result.diff(max_files=5, max_chars=100)
    assert diff[0]['before_header'] == HOSTS and diff[0]['before'] == ''
    assert '52:54:00:00:00:01' in diff[0]['after'] or 'more characters not shown' in diff[0]['after']
    assert len(diff) == 6 and diff[-1]['prepared'].startswith('... and 30 more changed files')
    assert all(len(entry.get('after', '')) < 200 for entry in diff)


# --- hosts file and registry ---------------------------------------------------------------------------------------

def test_parse_hosts_forms():
    lines = pxe.parse_hosts('# c\n\n52:54:00:AA:BB:07,set:deploy,198.18.0.21,rack1-u07\n'
                            '11:22:33:44:55:66,22:33:44:55:66:77,id:*,10.0.0.5,web,12h\n'
                            'aa:bb:cc:dd:ee:01,ignore\nid:00:01,[fd00::1],v6host\n')
    assert [(line.macs, line.ip, line.hostname) for line in lines] == [
        ([], None, None), ([], None, None),
        (['52:54:00:aa:bb:07'], '198.18.0.21', 'rack1-u07'),
        (['11:22:33:44:55:66', '22:33:44:55:66:77'], '10.0.0.5', 'web'),
        (['aa:bb:cc:dd:ee:01'], None, None),
        ([], None, 'v6host'),
    ]


def test_registry_entries():
    data = {'version': 1, 'nodes': {
        'a': {'state': 'available', 'role': 'compute',
              'provisioning': {'mac': '52:54:00:00:00:0a', 'ip': '198.18.0.10', 'hostname': 'a.dc1', 'boot_mode': 'uefi'}},
        'b': {'state': 'available', 'role': 'compute',
              'hardware': {'nics': [{'name': 'eno1', 'mac': '52:54:00:00:00:b1'},
                                    {'name': 'eno2', 'mac': '52:54:00:00:00:b2', 'pxe': True}]}},
        'c': {'state': 'available', 'role': 'compute', 'hardware': {'nics': [{'mac': '52:54:00:00:00:c1'}]}},
        'd': {'state': 'active', 'role': 'compute', 'provisioning': {'mac': '52:54:00:00:00:0d'}},
        'e': {'state': 'available', 'role': 'storage', 'provisioning': {'mac': '52:54:00:00:00:0e'}},
    }}
    entries, skipped = pxe.registry_entries(data, states=['available'], roles=['compute'])
    assert [(e['name'], e['mac'], e['hostname'], e['known_ips']) for e in entries] == [
        ('a', '52:54:00:00:00:0a', 'a.dc1', ['198.18.0.10']), ('b', '52:54:00:00:00:b2', None, [None])]
    assert skipped == ['c']
    entries, skipped = pxe.registry_entries(data)
    assert [e['name'] for e in entries] == ['a', 'b', 'd', 'e']


def test_failure_writes_nothing(tmp_path):
    run(tmp_path, [node(1)])
    before = tree(tmp_path)
    for entries in ([node(1), node(2, mac='bad')], [node(1), node(2, ip='10.1.1.1')],
                    [node(1, mode='local'), node(2, hostname='../x')]):
        with pytest.raises(InputError):
            conf = settings(tmp_path)
            pxe.apply(pxe.plan(conf, pxe.prepare_nodes(entries, conf)))
    assert tree(tmp_path) == before


def test_root_lock_is_exclusive_and_creates_nothing(tmp_path):
    with pxe.RootLock(str(tmp_path)):
        with pytest.raises(pxe.IaasError, match='still locked'):
            with pxe.RootLock(str(tmp_path), timeout=0.1):
                pass
    with pxe.RootLock(str(tmp_path), timeout=0.1):
        pass
    assert os.listdir(str(tmp_path)) == []


def test_line_with_foreign_and_own_macs_refused(tmp_path):
    os.makedirs(str(tmp_path / 'dnsmasq'))
    (tmp_path / HOSTS).write_text('52:54:00:00:00:01,aa:bb:cc:dd:ee:ff,198.18.0.9,shared\n')
    with pytest.raises(InputError, match='several MACs'):
        planned(tmp_path, [node(1)])


def test_bare_image_name_lives_in_images(tmp_path):
    files = render(tmp_path, node(7, mode='deploy', image='debian-12.qcow2', image_sha256=SHA, boot_mode='bios'))
    assert 'iaas.image=http://198.18.0.1/images/debian-12.qcow2 ' in files['tftp/pxelinux.cfg/01-52-54-00-00-00-07']
