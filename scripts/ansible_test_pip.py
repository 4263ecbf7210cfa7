# -*- coding: utf-8 -*-
# Copyright: datacenter.iaas contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seed ansible-test's pip bootstrap cache so ``--venv`` works without its download host.

Every ``ansible-test ... --venv`` run (and every sanity test's own venv) bootstraps pip by
downloading ``https://ci-files.testing.ansible.com/ansible-test/get-pip-X.Y.py``, a host
that is unreachable here. ansible-test first looks for a cached copy at
``~/.ansible/test/cache/get_pip_X_Y.py`` (see ``bootstrap()`` in
``ansible_test/_util/target/setup/requirements.py``) and runs it with ``GET_PIP`` set,
passing ``--disable-pip-version-check pip==X.Y --no-setuptools --no-wheel``.

This script puts the pinned pip wheel (``pip='X.Y'`` in
``ansible_test/_internal/python_requirements.py``) in that cache folder, beside a small
stand-in ``get_pip_X_Y.py`` that runs ``python <wheel>/pip install <its args>``, dropping
``--no-setuptools``/``--no-wheel`` (get-pip.py options that pip itself does not know).
Run it with the Python of the venv that holds ansible-core; it is idempotent.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import subprocess
import sys
import zipfile

STAND_IN = '''# Stand-in for get-pip.py {version}, written by datacenter.iaas scripts/ansible_test_pip.py.
# ansible-test runs it (GET_PIP) to put pip into a fresh venv; it installs the cached wheel.
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL = os.path.join(HERE, {wheel!r})
ARGS = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
LOCAL = [arg for arg in ARGS if not arg.startswith('-')]
# Only the pinned pip is asked for: install it from this folder, without any index.
OFFLINE = ['--no-index'] if all(arg.startswith('pip==') for arg in LOCAL) else []
sys.exit(subprocess.call([sys.executable, os.path.join(WHEEL, 'pip'), 'install', '--find-links', HERE]
                         + OFFLINE + ARGS))
'''


def ansible_test_root():
    """Folder of the installed ansible_test package (from the ansible-core distribution)."""
    import ansible_test  # pylint: disable=import-outside-toplevel
    return os.path.dirname(os.path.abspath(ansible_test.__file__))


def pinned_pip_version(root):
    """The pip version ansible-test bootstraps into its venvs."""
    path = os.path.join(root, '_internal', 'python_requirements.py')
    with open(path) as handle:
        text = handle.read()
    # ansible-core 2.16+: ``pip='24.2'`` in get_venv_packages(); older ones: ``pip==X.Y``.
    match = re.search(r'''\bpip\s*(?:==\s*|=\s*['"])([0-9]+(?:\.[0-9]+)+)''', text)
    if not match:
        sys.exit('cannot find the pinned pip version in %s' % path)
    return match.group(1)


def cached_wheel(cache, version):
    """Path of a valid pip wheel of ``version`` in ``cache``, downloading it if needed."""
    name = 'pip-%s-py3-none-any.whl' % version
    path = os.path.join(cache, name)
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        return path
    if os.path.exists(path):
        os.remove(path)
    subprocess.check_call([sys.executable, '-m', 'pip', 'download', '-q', '--disable-pip-version-check',
                           '--no-deps', '--only-binary', ':all:', '--dest', cache, 'pip==%s' % version])
    if not (os.path.isfile(path) and zipfile.is_zipfile(path)):
        sys.exit('pip download did not produce %s' % path)
    return path


def main():
    cache = os.path.expanduser('~/.ansible/test/cache')
    version = pinned_pip_version(ansible_test_root())
    if not os.path.isdir(cache):
        os.makedirs(cache)
    wheel = cached_wheel(cache, version)
    script = os.path.join(cache, 'get_pip_%s.py' % version.replace('.', '_'))
    content = STAND_IN.format(version=version, wheel=os.path.basename(wheel))
    current = None
    if os.path.exists(script):
        with open(script) as handle:
            current = handle.read()
    if current != content:
        with open(script + '.tmp', 'w') as handle:
            handle.write(content)
        os.rename(script + '.tmp', script)
    print('ansible-test pip %s bootstrap: %s (wheel %s)' % (version, script, os.path.basename(wheel)))


if __name__ == '__main__':
    main()
