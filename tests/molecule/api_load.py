# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrent clients on every OpenStack API, over reused (keep-alive) connections, as users' tools do.

Each client is a thread with one ``requests.Session`` (one pooled connection per API, never retried) that
goes round the APIs back to back: a read on each, and now and then a create, a delete of what it created and
at once another read (a user's script cleaning up: the request right after a body-less 204 is where a server
that closes connections without saying so resets them). Every error that is not an HTTP answer (a reset, a dropped or refused connection) is counted: a read
may be retried by a client library, a create is not, so any of them is a user's failed request.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import threading
import time
import uuid

import requests
import requests.adapters

# service type: (read path, create (method, path, body), where the new id is, delete path with {id}).
# Paths are relative to the catalog's public endpoint of the service.
APIS = {
    'identity': ('/projects?limit=5', ('POST', '/projects', lambda n: {'project': {'name': n, 'domain_id': 'default'}}),
                 ('project', 'id'), '/projects/{id}'),
    'compute': ('/flavors', ('POST', '/os-server-groups',
                             lambda n: {'server_group': {'name': n, 'policies': ['anti-affinity']}}),
                ('server_group', 'id'), '/os-server-groups/{id}'),
    'network': ('/v2.0/networks', ('POST', '/v2.0/security-groups', lambda n: {'security_group': {'name': n}}),
                ('security_group', 'id'), '/v2.0/security-groups/{id}'),
    'image': ('/v2/images?limit=5', ('POST', '/v2/images',
                                     lambda n: {'name': n, 'disk_format': 'raw', 'container_format': 'bare'}),
              ('id',), '/v2/images/{id}'),
    'placement': ('/resource_providers', ('PUT', '/resource_classes/{name}', None), None,
                  '/resource_classes/{id}'),
    'volumev3': ('/volumes', ('POST', '/types', lambda n: {'volume_type': {'name': n}}),
                 ('volume_type', 'id'), '/types/{id}'),
}
HEADERS = {'placement': {'OpenStack-API-Version': 'placement 1.7'}}


def _dig(body, path):
    for key in path:
        body = body[key]
    return body


class Load(object):
    """Counts per API: reads, creates, HTTP errors, and connection errors with their text."""

    def __init__(self, endpoints, token):
        self.endpoints = endpoints   # {service type: public URL}
        self.token = token
        self.lock = threading.Lock()
        self.counts = collections.defaultdict(collections.Counter)
        self.failures = []

    def _note(self, api, what, detail=None):
        with self.lock:
            self.counts[api][what] += 1
            if detail:
                self.failures.append('%s %s: %s' % (api, what, detail))

    def _call(self, http, api, method, path, body=None):
        headers = dict({'X-Auth-Token': self.token, 'Accept': 'application/json'}, **HEADERS.get(api, {}))
        try:
            response = http.request(method, self.endpoints[api] + path, json=body, headers=headers, timeout=60)
        except requests.exceptions.RequestException as exc:
            self._note(api, 'connection error', '%s %s: %r' % (method, path, exc))
            return None
        if response.status_code >= 400:
            self._note(api, 'http error', '%s %s: %d %s' % (method, path, response.status_code, response.text[:200]))
            return None
        return response

    def _create_and_delete(self, http, api):
        (method, path, body), id_path, delete = APIS[api][1:]
        name = 'CUSTOM_IAAS_LOAD_%s' % uuid.uuid4().hex[:12].upper() if api == 'placement' \
            else 'iaas-load-%s' % uuid.uuid4().hex[:12]
        response = self._call(http, api, method, path.format(name=name), body(name) if body else None)
        if response is None:
            return
        self._note(api, 'create')
        ident = name if id_path is None else _dig(response.json(), id_path)
        if self._call(http, api, 'DELETE', delete.format(id=ident)) is not None:
            self._note(api, 'delete')
        if self._call(http, api, 'GET', APIS[api][0]) is not None:
            self._note(api, 'read')

    def client(self, deadline, write_every):
        http = requests.Session()
        # No retries: a client library may retry a read, but a user's create is not retried.
        http.mount('http://', requests.adapters.HTTPAdapter(max_retries=0, pool_connections=8, pool_maxsize=1))
        http.mount('https://', requests.adapters.HTTPAdapter(max_retries=0, pool_connections=8, pool_maxsize=1))
        rounds = 0
        while time.monotonic() < deadline:
            rounds += 1
            for api in sorted(self.endpoints):
                if self._call(http, api, 'GET', APIS[api][0]) is not None:
                    self._note(api, 'read')
                if rounds % write_every == 0:
                    self._create_and_delete(http, api)
        http.close()

    def run(self, clients=2, seconds=60, write_every=5):
        """Run ``clients`` threads for ``seconds``; returns {api: counts} (plain dicts)."""
        deadline = time.monotonic() + seconds
        threads = [threading.Thread(target=self.client, args=(deadline, write_every))
                   for number in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return dict((api, dict(counts)) for api, counts in sorted(self.counts.items()))


def public_endpoints(conn):
    """{service type: public URL} of the APIs in ``APIS``, from the connection's catalog."""
    return dict((api, conn.endpoint_for(api, interface='public').rstrip('/')) for api in APIS)
