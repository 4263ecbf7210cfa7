# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.hosts_file import HEADER, new_hosts_text, parse_hosts
from ansible_collections.datacenter.iaas.plugins.module_utils.pxe.nodes import Node


def test_parse_hosts_forms():
    lines = parse_hosts('# c\n\n52:54:00:AA:BB:07,set:deploy,198.18.0.21,rack1-u07\n'
                        '11:22:33:44:55:66,22:33:44:55:66:77,id:*,10.0.0.5,web,12h\n'
                        'aa:bb:cc:dd:ee:01,ignore\nid:00:01,[fd00::1],v6host\n')
    assert [(line.macs, line.ip, line.hostname) for line in lines] == [
        ([], None, None), ([], None, None),
        (['52:54:00:aa:bb:07'], '198.18.0.21', 'rack1-u07'),
        (['11:22:33:44:55:66', '22:33:44:55:66:77'], '10.0.0.5', 'web'),
        (['aa:bb:cc:dd:ee:01'], None, None),
        ([], None, 'v6host'),
    ]


def test_new_hosts_text_replaces_in_place_appends_and_drops():
    lines = parse_hosts('# mine\n52:54:00:00:00:01,198.18.0.2,old\naa:bb:cc:dd:ee:ff,198.18.0.9,printer\n'
                        '52:54:00:00:00:02,198.18.0.3,n2\n')
    nodes = [Node(mac='52:54:00:00:00:01', ip='198.18.0.5', hostname='new', state='present'),
             Node(mac='52:54:00:00:00:02', state='absent'),
             Node(mac='52:54:00:00:00:03', ip='198.18.0.6', hostname='n3', state='present')]
    assert new_hosts_text(lines, nodes, existed=True) == (
        '# mine\n52:54:00:00:00:01,198.18.0.5,new\naa:bb:cc:dd:ee:ff,198.18.0.9,printer\n'
        '52:54:00:00:00:03,198.18.0.6,n3\n')
    assert new_hosts_text([], nodes[:1], existed=False) == HEADER + '52:54:00:00:00:01,198.18.0.5,new\n'
    # What the file says of its own lines is what they are: no set: tag (dnsmasq 2.90 crashes on it).
    assert 'MAC,IP,hostname' in HEADER and 'set:' not in HEADER
