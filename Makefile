# datacenter.iaas: the two commands are `make demo` and `make test`. Every target installs what it needs
# and is safe to run twice. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
BUILD := $(ROOT)/.build
# Runtime collection path: a symlink to this checkout (ansible-playbook, ansible-inventory, molecule).
COLLECTIONS := $(BUILD)/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(VENV)/bin:$(PATH)

APT_PACKAGES := ipmitool openipmi shellcheck rsync git python3-venv \
	qemu-system-x86 ipxe-qemu qemu-utils dnsmasq-base ovmf ipxe busybox-static cpio kmod

# ansible-test needs a real copy of the collection inside an ansible_collections/ tree, with the
# collections it uses beside it (symlinks into the PyPI `ansible` package in the venv).
TEST_ROOT := $(BUILD)/test
TEST_TREE := $(TEST_ROOT)/ansible_collections/datacenter/iaas
DEP_COLLECTIONS := community.general ansible.posix containers.podman openstack.cloud ansible.utils
TEST_PYTHON := 3.11
# Extra arguments, e.g. `make sanity SANITY_ARGS="--test pylint"` or `make units UNITS_ARGS=-v`.
SANITY_ARGS ?=
UNITS_ARGS ?=
PYTEST_ARGS ?=
# Hard limit for the whole pytest run, so a hung test fails `make test` (with its summary) long before
# CI's 90 minutes; `timeout` signals pytest's whole process group (simulated BMC workers included).
INTEGRATION_TIMEOUT ?= 1800
LINT_ARGS ?=
ANTSIBULL_CHANGELOG := antsibull-changelog==0.36.0

.PHONY: help deps apt venv collection-link test-tree ansible-test-pip sanity units integration lint \
	changelog test clean demo bench molecule molecule-roles test-cloud podman-ready

help:
	@echo 'make test         deps, then sanity, lint, units, integration, molecule, test-cloud (stops at the first failure)'
	@echo 'make demo         the main job on the virtual lab (lab/demo.sh)'
	@echo 'make sanity       ansible-test sanity --venv on a copy in $(TEST_TREE)  [SANITY_ARGS=...]'
	@echo 'make units        ansible-test units --venv on the same copy             [UNITS_ARGS=...]'
	@echo 'make integration  pytest tests/integration against the simulated BMCs    [PYTEST_ARGS=...]'
	@echo 'make lint         ansible-lint, production profile                       [LINT_ARGS=...]'
	@echo 'make molecule     Molecule scenarios of the roles (podman)  [MOLECULE_SCENARIOS=role:scenario ...]'
	@echo 'make molecule-roles  per-role scenarios of the OpenStack roles [MOLECULE_ROLE_SCENARIOS=...]'
	@echo 'make test-cloud   the multi-node cloud scenario (extensions/molecule/cloud)'
	@echo 'make changelog    antsibull-changelog lint of changelogs/'
	@echo 'make deps         apt packages, .venv from requirements.txt, .build/collections link'
	@echo 'make bench        side-by-side benchmarks in bench/ (minutes)'
	@echo 'make clean        remove .build, .venv and the ansible-lint cache'

deps: apt venv collection-link

apt: $(BUILD)/.apt-done
$(BUILD)/.apt-done: Makefile
	@mkdir -p $(BUILD)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; fi
	@touch $@

venv: $(VENV)/.done
$(VENV)/.done: requirements.txt | $(BUILD)/.apt-done
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

collection-link: $(COLLECTIONS)/ansible_collections/datacenter/iaas
$(COLLECTIONS)/ansible_collections/datacenter/iaas:
	@mkdir -p $(dir $@)
	@ln -sfn $(ROOT) $@

# A fresh copy each time (cheap): uncommitted and untracked-but-not-ignored files are tested too.
test-tree: deps
	@bash scripts/test-tree.sh $(TEST_ROOT) "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
	  $(DEP_COLLECTIONS)

# ansible-test --venv downloads a pip bootstrap script from an unreachable host: seed its cache.
ansible-test-pip: deps
	@$(PY) scripts/ansible_test_pip.py

sanity: deps test-tree ansible-test-pip
	cd $(TEST_TREE) && ansible-test sanity --venv --python $(TEST_PYTHON) --color no $(SANITY_ARGS)

units: deps test-tree ansible-test-pip
	cd $(TEST_TREE) && ansible-test units --venv --python $(TEST_PYTHON) --color no $(UNITS_ARGS)

# pytest exits 5 when it collects no test: that is a failure here like any other non-zero exit.
integration: deps collection-link
	PYTHONPATH=$(COLLECTIONS) timeout -k 30 $(INTEGRATION_TIMEOUT) \
	  $(VENV)/bin/pytest tests/integration -q -p no:cacheprovider $(PYTEST_ARGS) || { rc=$$?; \
	  [ $$rc -ne 5 ] || echo 'integration: pytest collected no tests' >&2; \
	  [ $$rc -ne 124 ] || echo 'integration: timed out after $(INTEGRATION_TIMEOUT) s' >&2; exit $$rc; }

# Plain ansible-lint installs this collection from disk into its cache ($$ANSIBLE_HOME/collections, else
# ~/.ansible): keep that under .build, and hide the .build/collections symlink so only that copy is seen.
lint: deps
	env -u ANSIBLE_COLLECTIONS_PATH ANSIBLE_HOME=$(BUILD)/lint-home ansible-lint $$([ -t 1 ] || echo --nocolor) $(LINT_ARGS)

# Lint the fragments and changelog.yaml, then regenerate CHANGELOG.md from changelog.yaml.
changelog: deps
	@$(PY) -m pip install -q --disable-pip-version-check $(ANTSIBULL_CHANGELOG)
	$(VENV)/bin/antsibull-changelog lint
	$(VENV)/bin/antsibull-changelog generate

test:
	@bash scripts/run-tests.sh deps sanity lint units integration molecule test-cloud

clean:
	rm -rf $(BUILD) $(VENV) $(ROOT)/.ansible

# Molecule scenarios (podman, systemd containers from a locally built image). Installs podman and runc,
# writes /etc/containers/containers.conf and builds localhost/debian-systemd:bookworm once (about 70 s).
# Per-role scenarios, ROLE:SCENARIO, each run from its role's folder. The OpenStack roles' own scenarios
# (fast feedback while working on one role) are in MOLECULE_ROLE_SCENARIOS; the cloud scenario covers them
# all together in `make test-cloud`.
MOLECULE_SCENARIOS ?= boot_server:default boot_server:rogue hypervisor:default hypervisor:xen openstack_netfilter:default \
	openstack_network:openvswitch openstack_compute:xen
MOLECULE_ROLE_SCENARIOS ?= openstack_controller:default openstack_network:default openstack_compute:default \
	openstack_storage:default openstack_storage:cloud publish:default
podman-ready: deps
	bash scripts/podman-setup.sh
	bash scripts/build-base-image.sh

molecule: podman-ready
	@for s in $(MOLECULE_SCENARIOS); do \
	  echo "=== molecule test -s $${s#*:} (roles/$${s%%:*})"; \
	  (cd roles/$${s%%:*} && molecule test -s $${s#*:}) || exit 1; done

molecule-roles: podman-ready
	@for s in $(MOLECULE_ROLE_SCENARIOS); do \
	  echo "=== molecule test -s $${s#*:} (roles/$${s%%:*})"; \
	  (cd roles/$${s%%:*} && molecule test -s $${s#*:}) || exit 1; done

# The whole cloud on four containers (extensions/molecule/cloud): steps 4-7 of site.yml, idempotence, and
# openstacksdk checks from outside.
test-cloud: podman-ready
	molecule test -s cloud

# The main job on the virtual lab: simulated BMCs -> discovery -> roles -> PXE power-on -> inventory.
demo: deps collection-link
	bash lab/demo.sh

# Side-by-side benchmarks (many minutes: the alternatives they measure are slow); each script has --help.
bench: deps collection-link
	$(PY) bench/power_bench.py
	$(PY) bench/sweep_bench.py
	$(PY) bench/pxe_bench.py
	$(PY) bench/inventory_bench.py
