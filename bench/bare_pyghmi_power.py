# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Baseline: bare pyghmi, login + power query on every BMC of a farm, N threads.

Reads the JSON spec file that ``python -m lab.virtbmc --spec-file F`` writes, then
runs ``Command(...)`` + ``get_power()`` on every BMC from a thread pool and prints
the elapsed seconds, success/failure counts and the slowest calls. A second pass
re-queries on the already open sessions. Any call still running after
``--deadline`` seconds is reported as wedged (pyghmi's client has races under
many threads) instead of hanging the benchmark.

    python bench/bare_pyghmi_power.py /tmp/farm.json --threads 16
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import collections
import concurrent.futures
import json
import os
import sys
import time

from pyghmi.ipmi import command


def login_and_query(bmc, username, password):
    started = time.monotonic()
    cmd = command.Command(bmc=bmc['address'], userid=username, password=password,
                          port=int(bmc.get('port', 623)))
    power = cmd.get_power()['powerstate']
    return cmd, power, time.monotonic() - started


def requery(cmd):
    started = time.monotonic()
    power = cmd.get_power()['powerstate']
    return cmd, power, time.monotonic() - started


def run_pass(label, pool, calls, deadline):
    """Run ``calls`` ({key: (function, args)}) on ``pool``; print and return the results."""
    started = time.monotonic()
    futures = dict((pool.submit(func, *args), key) for key, (func, args) in calls.items())
    done, wedged = concurrent.futures.wait(futures, timeout=deadline)
    elapsed = time.monotonic() - started
    results, errors, durations = {}, collections.Counter(), []
    for future in done:
        try:
            cmd, power, duration = future.result()
        except Exception as err:  # pyghmi raises IpmiException, sometimes worse
            errors['%s: %s' % (type(err).__name__, err)] += 1
            continue
        results[futures[future]] = (cmd, power)
        durations.append(duration)
    durations.sort()
    powers = collections.Counter(power for _cmd, power in results.values())
    print('%-8s %d BMCs: %.2f s, ok %d, failed %d, wedged %d, power %s'
          % (label, len(calls), elapsed, len(results), sum(errors.values()), len(wedged),
             dict(powers)))
    if durations:
        print('         per call: median %.3f s, p97 %.3f s, max %.3f s, >0.4 s: %d'
              % (durations[len(durations) // 2], durations[int(len(durations) * 0.97)],
                 durations[-1], sum(1 for d in durations if d > 0.4)))
    for message, count in errors.most_common(5):
        print('         error x%d: %s' % (count, message))
    return results, len(wedged)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('spec_file')
    parser.add_argument('--threads', type=int, default=16)
    parser.add_argument('--limit', type=int, default=0, help='only the first N BMCs')
    parser.add_argument('--deadline', type=float, default=120.0,
                        help='seconds before unfinished calls count as wedged')
    args = parser.parse_args(argv)

    with open(args.spec_file) as handle:
        farm = json.load(handle)
    bmcs = farm['bmcs'][:args.limit] if args.limit else farm['bmcs']
    pool = concurrent.futures.ThreadPoolExecutor(args.threads)
    calls = dict((bmc['name'], (login_and_query, (bmc, farm['username'], farm['password'])))
                 for bmc in bmcs)
    results, wedged = run_pass('login', pool, calls, args.deadline)
    if not wedged:
        calls = dict((name, (requery, (cmd,))) for name, (cmd, _power) in results.items())
        _results, wedged = run_pass('requery', pool, calls, args.deadline)
    sys.stdout.flush()
    # pyghmi's IO thread and any wedged worker would keep the interpreter alive.
    os._exit(1 if wedged else 0)


if __name__ == '__main__':
    main()
