# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring Keystone's service project, service users, their role and the catalog to a wanted state.

Reads one JSON document on standard input (passwords included, so they never show on a command line):
  {"auth": {...openstack.connect() arguments...}, "region": "RegionOne", "check": false,
   "project": "service", "role": "admin",
   "users": [{"name": "glance", "password": "..."}],
   "services": [{"name": "glance", "type": "image", "description": "...",
                 "endpoints": {"public": "http://...", "internal": "...", "admin": "..."}}]}
Creates what is missing, corrects endpoint URLs, never deletes anything, and prints
{"changed": [what it did (or would do, with "check": true)]}. Service users that exist keep their
password (the secrets are generated once and never change). Runs on the controller with Debian's
python3-openstacksdk (the role runs it as `/usr/bin/python3 iaas-keystone-catalog`).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import sys

import openstack


def ensure_catalog(conn, spec):
    check = spec.get('check', False)
    changed = []
    identity = conn.identity
    domain = identity.find_domain('Default', ignore_missing=False)

    project = identity.find_project(spec['project'], domain_id=domain.id)
    if project is None:
        changed.append('project %s' % spec['project'])
        if not check:
            project = identity.create_project(name=spec['project'], domain_id=domain.id,
                                              description='Service users of the OpenStack services')
    role = identity.find_role(spec['role'], ignore_missing=False)

    for user_spec in spec['users']:
        user = identity.find_user(user_spec['name'], domain_id=domain.id)
        if user is None:
            changed.append('user %s' % user_spec['name'])
            if check:
                continue
            user = identity.create_user(name=user_spec['name'], password=user_spec['password'],
                                        domain_id=domain.id, default_project_id=project.id)
        if project is None or not identity.validate_user_has_project_role(project, user, role):
            changed.append('role %s of user %s in project %s' % (spec['role'], user_spec['name'], spec['project']))
            if not check:
                identity.assign_project_role_to_user(project, user, role)

    region = spec['region']
    for service_spec in spec['services']:
        service = next((s for s in identity.services() if s.type == service_spec['type']
                        and s.name == service_spec['name']), None)
        if service is None:
            changed.append('service %s (%s)' % (service_spec['name'], service_spec['type']))
            if check:
                continue
            service = identity.create_service(name=service_spec['name'], type=service_spec['type'],
                                              description=service_spec['description'], is_enabled=True)
        existing = [e for e in identity.endpoints(service_id=service.id) if e.region_id == region]
        for interface, url in sorted(service_spec['endpoints'].items()):
            endpoint = next((e for e in existing if e.interface == interface), None)
            if endpoint is None:
                changed.append('endpoint %s %s %s' % (service_spec['type'], interface, url))
                if not check:
                    identity.create_endpoint(service_id=service.id, interface=interface, url=url,
                                             region_id=region, is_enabled=True)
            elif endpoint.url != url:
                changed.append('endpoint %s %s %s (was %s)' % (service_spec['type'], interface, url, endpoint.url))
                if not check:
                    identity.update_endpoint(endpoint, url=url)
    return changed


def main():
    spec = json.load(sys.stdin)
    conn = openstack.connect(**spec['auth'])
    try:
        changed = ensure_catalog(conn, spec)
    finally:
        conn.close()
    json.dump({'changed': changed}, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
