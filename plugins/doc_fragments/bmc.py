# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  bmc_address:
    description:
      - Address (IP or DNS name) of one BMC to talk to.
      - Mutually exclusive with O(nodes) and O(limit).
    type: str
  bmc_port:
    description:
      - Port of the BMC given by O(bmc_address). Defaults to 623 for IPMI and 443 for Redfish.
    type: int
  protocol:
    description:
      - How to talk to the BMC given by O(bmc_address).
      - V(ipmi) is IPMI 2.0 over RMCP+ (never IPMI 1.5); V(redfish) is Redfish over HTTPS.
    type: str
    choices: [ipmi, redfish]
    default: ipmi
  username:
    description:
      - BMC user for O(bmc_address), or the C(default) credential set when O(credentials) is not given.
    type: str
  password:
    description:
      - Password of O(username). Never logged.
    type: str
  kg:
    description:
      - The IPMI BMC key (K_g), for BMCs that have one set. Never logged.
    type: str
  cipher_suite:
    description:
      - IPMI cipher suite to start with. V(3) is SHA1/AES and works everywhere;
        V(17) is SHA256/AES and falls back to 3 when the BMC refuses it.
    type: int
    choices: [3, 17]
    default: 3
  privilege:
    description:
      - IPMI privilege level to ask for. Power and boot control need V(operator) or V(administrator).
    type: str
    choices: [user, operator, administrator]
    default: administrator
  validate_certs:
    description:
      - Verify the Redfish BMC's TLS certificate (against the system store, O(ca_path) or O(tls_fingerprint)).
      - Set to V(false) only for lab BMCs with self-signed certificates.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificates that sign the Redfish BMCs' certificates.
    type: path
  tls_fingerprint:
    description:
      - SHA-256 fingerprint (hex, colons allowed) of the Redfish BMC's certificate, to pin it.
    type: str
  name:
    description:
      - Name of the node. With O(registry) and no O(bmc_address), the registry node to act on.
      - With O(bmc_address), the name results are reported under.
    type: str
  nodes:
    description:
      - Many BMCs in one call, each with its own address; they are handled concurrently.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name the result is reported under.
        type: str
        required: true
      address:
        description: BMC address.
        type: str
        required: true
      port:
        description: BMC port.
        type: int
      protocol:
        description: How to talk to this BMC.
        type: str
        choices: [ipmi, redfish]
        default: ipmi
      credential:
        description: Name of a set in O(credentials) to log in with.
        type: str
      username:
        description: BMC user for this node (instead of O(nodes[].credential)).
        type: str
      password:
        description: Password for this node. Never logged.
        type: str
  registry:
    description:
      - Path of the hardware registry. Nodes are then picked with O(name) or O(limit), and their BMC
        addresses and credential set names come from the registry.
    type: path
  limit:
    description:
      - Registry node names or shell-style patterns (V(rack1-*)) to act on. Default is every node.
    type: list
    elements: str
  credentials:
    description:
      - Named credential sets. Each key is a set name (registry nodes name the set their BMC uses), each
        value a dictionary with C(username), C(password) and optionally C(kg). Keep them in Ansible Vault. Never logged.
    type: dict
  concurrency:
    description:
      - How many BMCs are talked to at once.
    type: int
    default: 16
  timeout:
    description:
      - Hard wall-clock deadline in seconds for each node's whole operation (login included, and the
        wait of M(datacenter.iaas.bmc_power) adds to it). A BMC that does not finish in time fails its
        node with C(error_kind=timeout); the others go on.
    type: float
    default: 30.0
  retries:
    description:
      - How many times a call that got no answer is tried again, with backoff. Wrong passwords are never retried.
    type: int
    default: 2
requirements:
  - pyghmi >= 1.5
notes:
  - Errors are classified in C(error_kind) per node as V(unreachable), V(timeout), V(bad_credentials),
    V(refused), V(unsupported) or V(bmc).
'''
