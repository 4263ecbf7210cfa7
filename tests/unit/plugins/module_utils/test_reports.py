# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ramdisk's hardware reports (plugins/module_utils/reports.py): schema, spool, ingestion."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.datacenter.iaas.plugins.module_utils import registry as reg
from ansible_collections.datacenter.iaas.plugins.module_utils import reports
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import InputError

MAC7 = '52:54:00:aa:bb:07'
MAC8 = '52:54:00:aa:bb:08'
MAC9 = '52:54:00:aa:bb:09'


def discover(serial='LAB-0007', macs=(MAC7,), boot_mac=None, **extra):
    document = {
        'version': 1, 'kind': 'discover', 'boot_mac': boot_mac or macs[0],
        'system': {'vendor': 'QEMU', 'model': 'Standard PC (i440FX + PIIX, 1996)', 'serial': serial,
                   'uuid': '8E3B1B2C-1234-4D2A-9B7E-0123456789AB'},
        'cpus': 4, 'cpu_model': 'QEMU Virtual CPU version 2.5+', 'memory_mb': 8192,
        'disks': [{'name': 'vda', 'size_gb': 40, 'rotational': False, 'serial': 'D-%s' % serial},
                  {'name': 'vdb', 'size_gb': 0.5, 'rotational': True, 'serial': None}],
        'nics': [{'name': 'eth%d' % index, 'mac': mac, 'link': index == 0} for index, mac in enumerate(macs)],
        'lldp': [],
    }
    document.update(extra)
    return document


def deploy(mac=MAC7, status='success', **extra):
    document = {'version': 1, 'kind': 'deploy', 'boot_mac': mac, 'status': status,
                'image': 'http://198.18.0.1/images/debian-12.raw.gz', 'sha256': 'AB' * 32, 'disk': '/dev/vda',
                'message': 'wrote the image to /dev/vda (1234 bytes downloaded, sha256 verified)'}
    document.update(extra)
    return document


def spool_put(spool, document, mtime=None):
    name = reports.spool_write(str(spool), reports.validate(document))
    if mtime is not None:
        os.utime(os.path.join(str(spool), name), (mtime, mtime))
    return name


def spool_raw(spool, text, name=None, mtime=None):
    """A file put into the spool behind the receiver's back."""
    name = name or ('%064x.json' % (len(os.listdir(str(spool))) + 1))
    with open(os.path.join(str(spool), name), 'w') as handle:
        handle.write(text)
    if mtime is not None:
        os.utime(os.path.join(str(spool), name), (mtime, mtime))
    return name


@pytest.fixture
def spool(tmp_path):
    path = tmp_path / 'reports'
    path.mkdir()
    return path


def node(state='enrolled', serial=None, macs=(), role=None, **extra):
    record = {'state': state, 'role': role, 'protected': False}
    hardware = {}
    if serial:
        hardware['serial'] = serial
    if macs:
        hardware['nics'] = [{'name': 'eth%d' % index, 'mac': mac, 'pxe': index == 0} for index, mac in enumerate(macs)]
    if hardware:
        record['hardware'] = hardware
    record.update(extra)
    return record


def registry(**nodes):
    return reg.normalize({'version': 1, 'nodes': nodes})


# ---------------------------------------------------------------------------------------------------------------
# validate

def test_validate_normalizes_a_good_report():
    document = discover(macs=('52-54-00-AA-BB-07', '5254.00aa.bb08'), boot_mac='525400AABB07')
    document['system']['vendor'] = '  QEMU  '
    report = reports.validate(document)
    assert report['boot_mac'] == MAC7
    assert [nic['mac'] for nic in report['nics']] == [MAC7, MAC8]
    assert report['system'] == {'vendor': 'QEMU', 'model': 'Standard PC (i440FX + PIIX, 1996)', 'serial': 'LAB-0007',
                                'uuid': '8e3b1b2c-1234-4d2a-9b7e-0123456789ab'}
    assert report['disks'][1] == {'name': 'vdb', 'size_gb': 0.5, 'rotational': True}  # null serial dropped
    assert report['lldp'] == []


def test_validate_fills_optional_parts():
    document = discover()
    del document['system'], document['lldp'], document['cpu_model']
    report = reports.validate(document)
    assert report['system'] == {} and report['lldp'] == [] and 'cpu_model' not in report


def test_validate_deploy_report():
    report = reports.validate(deploy(mac='52:54:00:AA:BB:07'))
    assert report['boot_mac'] == MAC7
    assert report['sha256'] == 'ab' * 32
    assert report['status'] == 'success'


def test_validate_minimal_deploy_report():
    assert reports.validate({'version': 1, 'kind': 'deploy', 'boot_mac': MAC7, 'status': 'failure'}) == {
        'version': 1, 'kind': 'deploy', 'boot_mac': MAC7, 'status': 'failure'}


def test_validate_is_idempotent():
    report = reports.validate(discover())
    assert reports.validate(copy.deepcopy(report)) == report


def _with(document, path, value):
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


BAD = [
    # (path, value, words the message must contain)
    (('version',), 2, 'version must be 1'),
    (('version',), True, 'version must be 1'),
    (('version',), KeyError, 'version must be 1'),
    (('kind',), 'wipe', 'kind must be discover or deploy'),
    (('boot_mac',), KeyError, 'boot_mac is missing'),
    (('boot_mac',), 'not-a-mac', 'boot_mac is not a MAC'),
    (('boot_mac',), 'ff:ff:ff:ff:ff:ff', 'multicast'),
    (('boot_mac',), '00:00:00:00:00:00', 'zero MAC'),
    (('boot_mac',), '01:00:5e:00:00:01', 'multicast'),
    (('boot_mac',), MAC9, 'not the MAC of any NIC'),
    (('cpus',), 0, 'cpus must be a whole number from 1'),
    (('cpus',), '4', 'cpus must be a whole number'),
    (('cpus',), 4.0, 'cpus must be a whole number'),
    (('cpus',), True, 'cpus must be a whole number'),
    (('cpus',), 10 ** 9, 'cpus must be a whole number'),
    (('memory_mb',), -1, 'memory_mb must be'),
    (('memory_mb',), KeyError, 'memory_mb is missing'),
    (('disks',), {'name': 'vda'}, 'disks must be a list'),
    (('disks', 0, 'size_gb'), float('inf'), 'size_gb must be a number'),
    (('disks', 0, 'size_gb'), -5, 'size_gb must be a number'),
    (('disks', 0, 'rotational'), 'yes', 'rotational must be true or false'),
    (('disks', 0, 'name'), '../../etc/passwd', 'not a disk name'),
    (('disks', 0, 'name'), 'sd a', 'not a disk name'),
    (('disks', 0, 'name'), 'SDA', 'not a disk name'),
    (('disks', 0, 'name'), 'cciss!c0d0', 'not a disk name'),
    (('disks', 0, 'wipe'), True, "unknown key 'wipe'"),
    (('disks', 1, 'name'), 'vda', 'name vda appears twice'),
    (('nics', 0, 'name'), 'eth0; reboot', 'not an interface name'),
    (('nics', 0, 'name'), 'a' * 16, 'not an interface name'),
    (('nics', 0, 'mac'), KeyError, 'nics[0].mac is missing'),
    (('system',), 'QEMU', 'system must be an object'),
    (('system', 'serial'), '../../etc', 'characters outside the allowed set'),
    (('system', 'serial'), '..', 'characters outside the allowed set'),
    (('system', 'serial'), 'SN/7', 'characters outside the allowed set'),
    (('system', 'serial'), '$(reboot)', 'characters outside the allowed set'),
    (('system', 'serial'), '`reboot`', 'characters outside the allowed set'),
    (('system', 'serial'), 'SN\n7', 'characters outside the allowed set'),
    (('system', 'serial'), 'SN\x007', 'characters outside the allowed set'),
    (('system', 'serial'), 'SN\x1b[2J', 'characters outside the allowed set'),
    (('system', 'serial'), '{{ lookup("pipe", "id") }}', 'characters outside the allowed set'),
    (('system', 'serial'), 'S\u00e9rie', 'characters outside the allowed set'),
    (('system', 'serial'), 'S' * 65, 'longer than 64'),
    (('system', 'serial'), 'S' * 100000, 'longer than 64'),
    (('system', 'serial'), 7, 'serial must be a string'),
    (('system', 'vendor'), 'Acme "Inc"', 'characters outside the allowed set'),
    (('system', 'vendor'), 'Acme\\Inc', 'characters outside the allowed set'),
    (('system', 'model'), 'M' * 129, 'longer than 128'),
    (('system', 'uuid'), 'not-a-uuid', 'not a UUID'),
    (('system', 'bios'), '1.0', "unknown key 'bios'"),
    (('cpu_model',), ['Xeon'], 'cpu_model must be a string'),
    (('lldp',), [{'interface': 'eth0', 'port_id': 'Ethernet1/1', 'vlan': 7}], "unknown key 'vlan'"),
    (('lldp',), [{'interface': 'eth0', 'port_id': 'x' * 256}], 'longer than 255'),
    (('lldp',), [{'port_id': 'Ethernet1/1'}], 'interface is missing'),
    (('lldp',), [{'interface': 'eth9', 'port_id': 'Ethernet1/1'}], 'lldp[0].interface eth9 is not the name of any NIC'),
    (('lldp',), [{'interface': 'eth0', 'chassis_id': 'sw"1'}], 'characters outside the allowed set'),
    (('lldp',), [{'interface': 'eth0', 'system_name': 'sw1\nreboot'}], 'characters outside the allowed set'),
    (('lldp',), [{'interface': 'eth0', 'port_description': '$(reboot)'}], 'characters outside the allowed set'),
    (('lldp',), [{'interface': 'eth0', 'port_id': '../../etc/passwd'}], 'characters outside the allowed set or ".."'),
    (('lldp',), [{'interface': '../eth0', 'port_id': 'Ethernet1/1'}], 'not an interface name'),
    (('reboot',), True, "unknown key 'reboot'"),
]


BAD_IDS = [' '.join(str(p) for p in case[0]) + '=' + repr(case[1])[:20] for case in BAD]


@pytest.mark.parametrize('path, value, words', BAD, ids=BAD_IDS)
def test_validate_refuses(path, value, words):
    with pytest.raises(InputError) as caught:
        reports.validate(_with(discover(), path, value))
    assert words in caught.value.message
    assert '\n' not in caught.value.message and len(caught.value.message) < 400


@pytest.mark.parametrize('key, value, words', [
    ('status', 'done', 'status must be one of success, failure'),
    ('status', None, 'status is missing'),
    ('image', 'file:///etc/shadow', 'not an http(s) URL'),
    ('image', 'http://x/$(reboot)', 'not an http(s) URL'),
    ('image', 'http://x/../../etc', 'not an http(s) URL'),
    ('image', 'http://x/' + 'a' * 1100, 'not an http(s) URL'),
    ('sha256', 'ab' * 31, 'not a SHA-256'),
    ('sha256', 'zz' * 32, 'not a SHA-256'),
    ('disk', 'vda', 'not a device path'),
    ('disk', '/dev/../etc/passwd', 'not a device path'),
    ('message', 'x' * 513, 'longer than 512'),
    ('message', 'done; $(reboot)', 'characters outside the allowed set'),
    ('message', 'line\nbreak', 'characters outside the allowed set'),
    ('cpus', 4, "unknown key 'cpus'"),
])
def test_validate_refuses_deploy(key, value, words):
    document = deploy()
    document[key] = value
    with pytest.raises(InputError) as caught:
        reports.validate(document)
    assert words in caught.value.message


@pytest.mark.parametrize('key, limit', [('disks', reports.MAX_DISKS), ('nics', reports.MAX_NICS),
                                        ('lldp', reports.MAX_LLDP)])
def test_validate_refuses_oversized_lists(key, limit):
    entries = {
        'disks': [{'name': 'vd%d' % i, 'size_gb': 1} for i in range(limit + 1)],
        'nics': [{'name': 'eth%d' % i, 'mac': '52:54:00:00:%02x:%02x' % divmod(i, 256)} for i in range(limit + 1)],
        'lldp': [{'interface': 'eth0', 'port_id': str(i)} for i in range(limit + 1)],
    }[key]
    document = discover(**{key: entries})
    if key == 'nics':
        document['boot_mac'] = entries[0]['mac']
    with pytest.raises(InputError) as caught:
        reports.validate(document)
    assert 'has %d entries; at most %d' % (limit + 1, limit) in caught.value.message
    document[key] = entries[:limit]  # the limit itself is fine
    reports.validate(document)


def test_validate_accepts_safe_punctuation():
    document = discover(serial='CZ 2:34_5-6.7+8')
    document['system']['model'] = 'ProLiant DL380 Gen10 (868703-B21), rev #2; @x=1'
    document['cpu_model'] = 'Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz'
    document['lldp'] = [{'interface': 'eth0', 'chassis_id': '00:11:22:33:44:55', 'port_id': 'Ethernet1/1',
                         'system_name': 'leaf-1'}]
    report = reports.validate(document)
    assert report['lldp'][0]['port_id'] == 'Ethernet1/1'


@pytest.mark.parametrize('document', [None, [], 'text', 7])
def test_validate_refuses_non_objects(document):
    with pytest.raises(InputError, match='must be a JSON object'):
        reports.validate(document)


# ---------------------------------------------------------------------------------------------------------------
# parse and serialize

def test_parse_good():
    assert reports.parse(json.dumps(discover()).encode()) == discover()


@pytest.mark.parametrize('body, words', [
    (b'', 'not valid JSON'),
    (b'{"version": 1', 'not valid JSON'),
    (b'\xff\xfe{}', 'not UTF-8'),
    (b'{"cpus": NaN}', 'not a JSON number'),
    (b'{"cpus": Infinity}', 'not a JSON number'),
    (b'{"a": 1, "a": 2}', "key 'a' appears twice"),
    (b'[' * 100000 + b']' * 100000, 'larger than'),
    (b'[' * 30000 + b']' * 30000, 'nests too deeply'),
    (b'{"cpus": ' + b'9' * 5000 + b'}', 'not valid JSON'),
    (b' ' * (reports.MAX_REPORT_BYTES + 1), 'larger than 65536 bytes'),
])
def test_parse_refuses(body, words):
    with pytest.raises(InputError) as caught:
        reports.parse(body)
    assert words in caught.value.message


def test_serialize_is_canonical():
    report = reports.validate(discover())
    shuffled = dict(reversed(list(report.items())))
    assert reports.serialize(report) == reports.serialize(shuffled)
    assert reports.serialize(report).endswith(b'\n')
    assert reports.parse(reports.serialize(report)) == report


# ---------------------------------------------------------------------------------------------------------------
# the spool

def test_spool_write_is_private_atomic_and_named_by_hash(spool):
    report = reports.validate(discover())
    name = reports.spool_write(str(spool), report)
    assert reports.SPOOL_NAME_RE.match(name)
    path = spool / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == reports.serialize(report)
    assert sorted(os.listdir(str(spool))) == [name]  # no temp file left


def test_spool_write_twice_keeps_one_file_and_refreshes_it(spool):
    report = reports.validate(discover())
    name = reports.spool_write(str(spool), report)
    os.utime(str(spool / name), (1000, 1000))
    assert reports.spool_write(str(spool), report) == name
    assert os.listdir(str(spool)) == [name]
    assert (spool / name).stat().st_mtime > 1000


def test_spool_files_oldest_first_and_only_reports(spool, tmp_path):
    old = spool_put(spool, discover(serial='OLD'), mtime=1000)
    new = spool_put(spool, discover(serial='NEW'), mtime=2000)
    spool_raw(spool, '{}', name='.incoming-x.tmp')
    spool_raw(spool, '{}', name='notes.txt')
    (spool / ('f' * 64 + '.json')).mkdir()
    target = tmp_path / 'elsewhere.json'
    target.write_text('{}')
    os.symlink(str(target), str(spool / ('e' * 64 + '.json')))
    assert reports.spool_files(str(spool)) == [old, new]
    assert reports.spool_files(str(spool / 'missing')) == []


def test_read_spool_file_refuses_odd_names_and_symlinks(spool, tmp_path):
    with pytest.raises(InputError, match='not a spool file name'):
        reports.read_spool_file(str(spool), '../../etc/passwd')
    target = tmp_path / 'elsewhere.json'
    target.write_text(json.dumps(discover()))
    os.symlink(str(target), str(spool / ('e' * 64 + '.json')))
    with pytest.raises(OSError):
        reports.read_spool_file(str(spool), 'e' * 64 + '.json')


def test_consume_moves_done_and_refused(spool):
    good = spool_put(spool, discover())
    bad = spool_raw(spool, 'not json')
    result = {'consumed': [good], 'refused': {bad: 'the report is not valid JSON'}}
    assert sorted(reports.consume(str(spool), result)) == sorted([good, bad])
    assert os.listdir(str(spool / 'done')) == [good]
    assert os.listdir(str(spool / 'refused')) == [bad]
    assert stat.S_IMODE((spool / 'done').stat().st_mode) == 0o700
    assert reports.spool_files(str(spool)) == []
    assert reports.consume(str(spool), result) == []  # gone already: nothing to do, no error


def test_consume_without_keep_deletes(spool):
    good = spool_put(spool, discover())
    assert reports.consume(str(spool), {'consumed': [good], 'refused': {}}, keep=False) == [good]
    assert os.listdir(str(spool)) == []


def test_consume_ignores_names_that_are_not_spool_files(spool, tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('keep me')
    assert reports.consume(str(spool), {'consumed': ['../victim', '/etc/passwd'], 'refused': {'..': 'x'}}) == []
    assert victim.read_text() == 'keep me'


# ---------------------------------------------------------------------------------------------------------------
# ingest: matching

def test_ingest_matches_by_serial_and_fills_hardware(spool):
    bmc = {'address': '10.0.0.7', 'port': 623, 'protocol': 'ipmi', 'credential': 'default'}
    data = registry(**{'rack1-u07': node(serial='LAB-0007', bmc=bmc)})
    name = spool_put(spool, discover(macs=(MAC7, MAC8), boot_mac=MAC8))
    result = reports.ingest(data, str(spool))
    assert result == {'matched': ['rack1-u07'], 'enrolled': [], 'deployed': {}, 'roles': {}, 'refused': {},
                      'consumed': [name]}
    record = data['nodes']['rack1-u07']
    assert record['state'] == 'manageable'
    assert record['bmc']['address'] == '10.0.0.7'
    assert record['provisioning'] == {'mac': MAC8}
    hardware = record['hardware']
    assert hardware['serial'] == 'LAB-0007'
    assert hardware['uuid'] == '8e3b1b2c-1234-4d2a-9b7e-0123456789ab'
    assert (hardware['cpus'], hardware['memory_mb'], hardware['vendor']) == (4, 8192, 'QEMU')
    assert hardware['nics'] == [{'name': 'eth0', 'mac': MAC7, 'pxe': False}, {'name': 'eth1', 'mac': MAC8, 'pxe': True}]
    assert hardware['disks'] == [{'name': 'vda', 'size_gb': 40, 'rotational': False, 'serial': 'D-LAB-0007'},
                                 {'name': 'vdb', 'size_gb': 0.5, 'rotational': True}]
    reg.normalize(data)  # the registry accepts the result
    assert os.listdir(str(spool)) == [name]  # ingest moves nothing


def test_ingest_matches_by_mac_and_records_the_serial(spool):
    data = registry(a=node(state='available', macs=(MAC8,), provisioning={'mac': MAC8}))
    spool_put(spool, discover(serial='SN-A', macs=(MAC7, MAC8)))
    result = reports.ingest(data, str(spool))
    assert result['matched'] == ['a'] and not result['refused']
    record = data['nodes']['a']
    assert record['state'] == 'available'  # only enrolled nodes move to manageable
    assert record['hardware']['serial'] == 'SN-A'
    assert record['provisioning'] == {'mac': MAC8}  # an operator's choice stays


def test_ingest_enrolls_unknown_machines(spool):
    data = registry()
    spool_put(spool, discover(serial='Lab 0042', macs=(MAC7,)))
    spool_put(spool, discover(serial='To be filled by O.E.M.', macs=(MAC8,)))
    spool_put(spool, discover(serial=None, macs=(MAC9,)))
    result = reports.ingest(data, str(spool))
    assert sorted(result['enrolled']) == ['node-lab-0042', 'node-mac-525400aabb08', 'node-mac-525400aabb09']
    assert not result['refused'] and len(result['consumed']) == 3
    record = data['nodes']['node-lab-0042']
    assert record['state'] == 'manageable' and record['role'] is None and 'bmc' not in record
    assert record['provisioning'] == {'mac': MAC7}
    assert 'serial' not in data['nodes']['node-mac-525400aabb08']['hardware']  # a placeholder identifies nothing
    reg.normalize(data)


def test_ingest_name_prefix(spool):
    data = registry()
    spool_put(spool, discover(serial='X1'))
    assert reports.ingest(data, str(spool), prefix='rack9')['enrolled'] == ['rack9-x1']


def test_ingest_twice_changes_nothing(spool):
    data = registry(**{'rack1-u07': node(serial='LAB-0007')})
    spool_put(spool, discover())
    spool_put(spool, discover(serial='NEW-1', macs=(MAC9,)))
    reports.ingest(data, str(spool))
    once = copy.deepcopy(data)
    result = reports.ingest(data, str(spool))  # a crash before consume(): the same files again
    assert data == once
    assert sorted(result['matched']) == ['node-new-1', 'rack1-u07']
    assert result['enrolled'] == []


def test_ingest_same_machine_twice_in_one_batch(spool):
    data = registry()
    spool_put(spool, discover(cpus=2), mtime=1000)
    spool_put(spool, discover(cpus=8), mtime=2000)
    result = reports.ingest(data, str(spool))
    assert result['enrolled'] == ['node-lab-0007'] and result['matched'] == []
    assert data['nodes']['node-lab-0007']['hardware']['cpus'] == 8  # the newest report wins
    assert len(result['consumed']) == 2


def test_ingest_keeps_known_facts_the_report_lacks(spool):
    data = registry(a=node(serial='SN-A', hardware={'serial': 'SN-A', 'vendor': 'Dell Inc.', 'model': 'R650'}))
    document = discover(serial='SN-A')
    document['system'] = {'serial': 'SN-A'}
    spool_put(spool, document)
    reports.ingest(data, str(spool))
    assert data['nodes']['a']['hardware']['vendor'] == 'Dell Inc.'


# ---------------------------------------------------------------------------------------------------------------
# ingest: conflicts

def test_ingest_refuses_a_serial_that_a_node_with_other_macs_has(spool):
    data = registry(a=node(serial='SN-A', macs=(MAC7,)))
    name = spool_put(spool, discover(serial='SN-A', macs=(MAC8,)))
    before = copy.deepcopy(data)
    result = reports.ingest(data, str(spool))
    assert list(result['refused']) == [name]
    assert 'two machines claim serial SN-A' in result['refused'][name]
    assert MAC7 in result['refused'][name] and MAC8 in result['refused'][name]
    assert data == before and result['consumed'] == []


def test_ingest_refuses_a_serial_two_new_machines_claim(spool):
    data = registry()
    one = spool_put(spool, discover(serial='CLONE', macs=(MAC7,)))
    two = spool_put(spool, discover(serial='CLONE', macs=(MAC8,)))
    result = reports.ingest(data, str(spool))
    assert sorted(result['refused']) == sorted([one, two])
    assert '2 machines in the spool claim serial CLONE' in result['refused'][one]
    assert data['nodes'] == {}


def test_ingest_serial_conflict_keeps_the_machine_the_registry_knows(spool):
    data = registry(a=node(serial='CLONE', macs=(MAC7,)))
    known = spool_put(spool, discover(serial='CLONE', macs=(MAC7,)))
    other = spool_put(spool, discover(serial='CLONE', macs=(MAC8,)))
    result = reports.ingest(data, str(spool))
    assert result['matched'] == ['a'] and result['consumed'] == [known]
    assert list(result['refused']) == [other]


def test_ingest_same_serial_with_overlapping_macs_is_one_machine(spool):
    data = registry()
    spool_put(spool, discover(serial='SN-A', macs=(MAC7, MAC8)), mtime=1000)
    spool_put(spool, discover(serial='SN-A', macs=(MAC8,)), mtime=2000)  # a NIC removed
    result = reports.ingest(data, str(spool))
    assert not result['refused'] and result['enrolled'] == ['node-sn-a']


def test_ingest_refuses_serial_and_macs_of_different_nodes(spool):
    data = registry(a=node(serial='SN-A'), b=node(macs=(MAC7,)))
    name = spool_put(spool, discover(serial='SN-A', macs=(MAC7,)))
    result = reports.ingest(data, str(spool))
    assert 'serial SN-A is node a, but MACs of this report belong to node b' in result['refused'][name]


def test_ingest_refuses_macs_of_several_nodes(spool):
    data = registry(a=node(macs=(MAC7,)), b=node(macs=(MAC8,)))
    name = spool_put(spool, discover(serial=None, macs=(MAC7, MAC8)))
    assert 'belong to several nodes: a, b' in reports.ingest(data, str(spool))['refused'][name]


def test_ingest_refuses_a_changed_serial_behind_known_macs(spool):
    data = registry(a=node(serial='SN-A', macs=(MAC7,)))
    name = spool_put(spool, discover(serial='SN-B', macs=(MAC7,)))
    assert 'node a has serial SN-A' in reports.ingest(data, str(spool))['refused'][name]


def test_ingest_refuses_a_new_name_that_is_taken(spool):
    data = registry(**{'node-sn-a': node(serial='OTHER')})
    name = spool_put(spool, discover(serial='SN-A'))
    assert 'would be named node-sn-a' in reports.ingest(data, str(spool))['refused'][name]


def test_ingest_refuses_bad_files_and_goes_on(spool):
    data = registry()
    broken = spool_raw(spool, '{"version": 1, "kind": "discover"', mtime=1000)
    hostile = spool_raw(spool, json.dumps(_with(discover(), ('system', 'serial'), '../../etc')), mtime=1001)
    huge = spool_raw(spool, ' ' * (reports.MAX_REPORT_BYTES + 10), mtime=1002)
    good = spool_put(spool, discover(serial='OK-1'), mtime=1003)
    result = reports.ingest(data, str(spool))
    assert result['consumed'] == [good] and result['enrolled'] == ['node-ok-1']
    assert 'not valid JSON' in result['refused'][broken]
    assert 'characters outside the allowed set' in result['refused'][hostile]
    assert 'larger than' in result['refused'][huge]


def test_ingest_then_consume_after_the_registry_write(spool, tmp_path):
    path = str(tmp_path / 'registry.yml')
    good = spool_put(spool, discover())
    bad = spool_raw(spool, 'nope')
    update = reg.Registry(path, create=True).update()
    with update as data:
        result = reports.ingest(data, str(spool))
    assert update.changed
    reports.consume(str(spool), result)
    assert reg.Registry(path).read()['nodes']['node-lab-0007']['state'] == 'manageable'
    assert os.listdir(str(spool / 'done')) == [good] and os.listdir(str(spool / 'refused')) == [bad]


def test_ingest_failed_registry_write_leaves_the_spool(spool, tmp_path):
    path = str(tmp_path / 'registry.yml')
    spool_put(spool, discover())
    with pytest.raises(RuntimeError):
        with reg.Registry(path, create=True).update() as data:
            reports.ingest(data, str(spool))
            raise RuntimeError('disk full')
    assert len(reports.spool_files(str(spool))) == 1
    assert not os.path.exists(path)


def test_ingest_needs_the_collection(monkeypatch, spool):
    monkeypatch.setattr(reports, 'HAS_REGISTRY', False)
    with pytest.raises(InputError, match='standalone copy'):
        reports.ingest(registry(), str(spool))


# ---------------------------------------------------------------------------------------------------------------
# ingest: deploy reports

def test_ingest_records_a_deploy_report(spool):
    data = registry(a=node(state='deploying', macs=(MAC7,)))
    name = spool_put(spool, deploy(status='failure', message='sha256 mismatch'))
    result = reports.ingest(data, str(spool))
    if 'deployed' not in [key for key, _check in reg.PROVISIONING_FIELDS]:
        # The registry schema does not know provisioning.deployed yet: refused as a whole, registry untouched.
        assert 'would not accept' in result['refused'][name]
        assert data['nodes']['a']['state'] == 'deploying'
        return
    assert result['deployed'] == {'a': 'failure'} and result['consumed'] == [name]
    record = data['nodes']['a']
    assert record['state'] == 'deploying'  # the provision playbook decides
    assert record['provisioning']['deployed'] == {
        'status': 'failure', 'image': 'http://198.18.0.1/images/debian-12.raw.gz', 'sha256': 'ab' * 32,
        'disk': '/dev/vda', 'message': 'sha256 mismatch'}


@pytest.mark.parametrize('nodes, words', [
    ({}, 'which no registry node has'),
    ({'a': node(state='active', macs=(MAC7,))}, 'node a, which is active'),
    ({'a': node(state='available', macs=(MAC7,))}, 'node a, which is available'),
])
def test_ingest_refuses_deploy_reports_out_of_place(spool, nodes, words):
    data = registry(**nodes)
    before = copy.deepcopy(data)
    name = spool_put(spool, deploy())
    result = reports.ingest(data, str(spool))
    assert words in result['refused'][name]
    assert data == before


# ---------------------------------------------------------------------------------------------------------------
# rules

RULES = [
    {'role': 'storage', 'when': {'min_disks': 3, 'has_rotational': True}},
    {'role': 'controller', 'when': {'min_memory_mb': 65536, 'vendor': ['Dell Inc.', 'HPE']}},
    {'role': 'network', 'when': {'min_cpus': 8, 'has_rotational': False}},
    {'role': 'compute'},
]


@pytest.mark.parametrize('hardware, role', [
    ({'disks': [{'rotational': True}] * 3, 'memory_mb': 1}, 'storage'),
    ({'disks': [{'rotational': False}] * 3, 'memory_mb': 1}, 'compute'),
    ({'memory_mb': 65536, 'vendor': ' dell inc. '}, 'controller'),
    ({'memory_mb': 65536, 'vendor': 'QEMU'}, 'compute'),
    ({'cpus': 8, 'disks': [{'rotational': False}]}, 'network'),
    ({'cpus': 8, 'disks': [{'rotational': True}]}, 'compute'),
    ({}, 'compute'),
])
def test_rules_first_match_wins(hardware, role):
    rules = reports.validate_rules(RULES)
    assert [rule['role'] for rule in rules if reports.rule_matches(rule['when'], hardware)][0] == role


def test_ingest_applies_rules_to_nodes_without_role(spool):
    data = registry(a=node(serial='SN-A'), b=node(serial='SN-B', role='controller'))
    ssd_only = [{'name': 'vda', 'size_gb': 40, 'rotational': False}]
    spool_put(spool, discover(serial='SN-A', macs=(MAC7,), cpus=16, disks=ssd_only))
    spool_put(spool, discover(serial='SN-B', macs=(MAC8,), cpus=16))
    spool_put(spool, discover(serial='SN-C', macs=(MAC9,), cpus=2))
    result = reports.ingest(data, str(spool), rules=RULES)
    assert result['roles'] == {'a': 'network', 'node-sn-c': 'compute'}
    assert data['nodes']['b']['role'] == 'controller'  # a role given by hand stays


def test_ingest_without_matching_rule_leaves_role_empty(spool):
    data = registry()
    spool_put(spool, discover())
    result = reports.ingest(data, str(spool), rules=[{'role': 'storage', 'when': {'min_disks': 10}}])
    assert result['roles'] == {} and data['nodes']['node-lab-0007']['role'] is None


@pytest.mark.parametrize('rules, words', [
    ({'role': 'compute'}, 'rules must be a list'),
    (['compute'], 'rules[0] must be a mapping'),
    ([{'role': 'database'}], 'rules[0].role must be one of'),
    ([{'role': 'compute', 'if': {}}], 'unknown key if'),
    ([{'role': 'compute', 'when': {'min_gpus': 1}}], 'unknown condition min_gpus'),
    ([{'role': 'compute', 'when': {'min_disks': -1}}], 'min_disks must be a whole number'),
    ([{'role': 'compute', 'when': {'min_cpus': '4'}}], 'min_cpus must be a whole number'),
    ([{'role': 'compute', 'when': {'has_rotational': 'yes'}}], 'has_rotational must be true or false'),
    ([{'role': 'compute', 'when': {'vendor': 7}}], 'vendor must be a string or a list'),
    ([{'role': 'compute', 'when': []}], 'when must be a mapping'),
])
def test_bad_rules_are_refused_before_anything(spool, rules, words):
    data = registry()
    spool_put(spool, discover())
    with pytest.raises(InputError) as caught:
        reports.ingest(data, str(spool), rules=rules)
    assert words in caught.value.message
    assert data['nodes'] == {}


# ---------------------------------------------------------------------------------------------------------------
# the standalone copy the receiver carries

def test_standalone_copy_validates_without_the_collection(tmp_path):
    source = reports.__file__.replace('.pyc', '.py')
    copy_path = tmp_path / 'reports.py'
    copy_path.write_text(open(source).read())
    script = textwrap.dedent('''
        import json, sys
        sys.path = [p for p in sys.path if 'ansible_collections' not in p and 'collections' not in p]
        sys.path.insert(0, %r)
        import reports
        assert not reports.HAS_REGISTRY
        report = reports.validate(json.loads(sys.argv[1]))
        print(report['boot_mac'])
        try:
            reports.validate({'version': 1, 'kind': 'discover', 'boot_mac': 'x'})
        except reports.InputError as exc:
            print('refused', exc.kind)
    ''' % str(tmp_path))
    document = discover(boot_mac='52-54-00-AA-BB-07')
    output = subprocess.check_output([sys.executable, '-I', '-c', script, json.dumps(document)],
                                     cwd=str(tmp_path)).decode()
    assert output.split() == [MAC7, 'refused', 'invalid_input']
