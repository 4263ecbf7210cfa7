# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one operation on many BMCs at once, each under a hard wall-clock deadline.

pyghmi blocks, and a BMC that half-answers can keep a call waiting far longer
than its own timers promise. So each node's work runs in a daemon thread; a
node that overruns its deadline is reported as timed out and its thread is
abandoned (a fresh worker takes its place, so the rest of the fleet keeps its
concurrency). Daemon threads never hold up the end of the process.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import threading
import time

from ansible_collections.datacenter.iaas.plugins.module_utils.bmc import BmcTarget, connect
from ansible_collections.datacenter.iaas.plugins.module_utils.errors import BmcTimeout, IaasError, InputError


class Outcome(object):
    """What happened on one node: ``value`` when ``ok``, else ``error`` (an IaasError)."""

    __slots__ = ('name', 'ok', 'value', 'error', 'seconds')

    def __init__(self, name, ok, value=None, error=None, seconds=0.0):
        self.name = name
        self.ok = ok
        self.value = value
        self.error = error
        self.seconds = seconds


def _as_error(name, exc):
    if isinstance(exc, IaasError):
        if exc.node is None:
            exc.node = name
        return exc
    # An unexpected exception is a bug somewhere, but it stays this node's problem.
    return IaasError('unexpected %s: %s' % (exc.__class__.__name__, exc), node=name)


def run(tasks, concurrency=16, deadline=60.0, addresses=None):
    """Run ``tasks`` (a list of ``(name, callable)``); return ``{name: Outcome}``.

    At most ``concurrency`` calls run at once; each gets ``deadline`` seconds
    from its own start. ``addresses`` (name -> BMC address) only improves the
    timeout message.
    """
    names = [name for name, _call in tasks]
    if len(set(names)) != len(names):
        raise InputError('the same node is named twice in one fleet call')
    pending = collections.deque(tasks)
    running = {}
    results = {}
    state = threading.Condition()

    def worker():
        while True:
            with state:
                if not pending:
                    return
                name, call = pending.popleft()
                running[name] = time.monotonic()
                state.notify()  # the supervisor now has this deadline to watch
            started = running[name]
            try:
                outcome = Outcome(name, True, value=call())
            except Exception as exc:  # every failure is reported per node
                outcome = Outcome(name, False, error=_as_error(name, exc))
            with state:
                if running.pop(name, None) is None:
                    return  # abandoned after its deadline; a replacement already runs
                outcome.seconds = time.monotonic() - started
                results[name] = outcome
                state.notify()

    def start_worker():
        thread = threading.Thread(target=worker, name='iaas-fleet')
        thread.daemon = True
        thread.start()

    with state:
        for _index in range(min(max(1, concurrency), len(tasks))):
            start_worker()
        while len(results) < len(tasks):
            now = time.monotonic()
            next_expiry = now + 1.0
            for name, started in list(running.items()):
                if now - started >= deadline:
                    del running[name]
                    address = (addresses or {}).get(name)
                    results[name] = Outcome(name, False, seconds=now - started, error=BmcTimeout(
                        'no result within the %ss deadline' % deadline, node=name, address=address))
                    if pending:
                        start_worker()
                else:
                    next_expiry = min(next_expiry, started + deadline)
            if len(results) < len(tasks):
                state.wait(max(0.01, next_expiry - time.monotonic()))
    return results


def target_for_node(name, node, credentials, **options):
    """A BmcTarget for a registry node, its password taken from the named credential set."""
    bmc = node.get('bmc') or {}
    if not bmc.get('address'):
        raise InputError('the registry has no BMC address for this node', node=name)
    set_name = bmc.get('credential') or 'default'
    creds = (credentials or {}).get(set_name)
    if creds is None:
        raise InputError('credential set %r is not given (credentials: has %s)'
                         % (set_name, ', '.join(sorted(credentials or {})) or 'none'), node=name)
    return BmcTarget(bmc['address'], creds.get('username'), creds.get('password'), name=name,
                     port=bmc.get('port'), protocol=bmc.get('protocol', 'ipmi'), kg=creds.get('kg'), **options)


def power_states(nodes, credentials, concurrency=32, timeout=5.0):
    """Live power state of registry nodes: ``{name: {'power': 'on'|'off'|None, 'error': str|None}}``."""
    tasks = []
    answers = {}
    for name in sorted(nodes):
        try:
            target = target_for_node(name, nodes[name], credentials, retries=0)
        except IaasError as exc:
            answers[name] = {'power': None, 'error': str(exc)}
            continue
        tasks.append((name, _power_query(target)))
    for name, outcome in run(tasks, concurrency=concurrency, deadline=timeout * 2).items():
        if outcome.ok:
            answers[name] = {'power': outcome.value, 'error': None}
        else:
            answers[name] = {'power': None, 'error': str(outcome.error)}
    return answers


def _power_query(target):
    def call():
        with connect(target) as client:
            return client.power_state()
    return call
