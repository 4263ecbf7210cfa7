# datacenter.iaas: the two commands are `make demo` and `make test`. Every target installs what it needs.
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

APT_PACKAGES := ipmitool openipmi shellcheck rsync

.PHONY: deps apt venv collection-link

deps: apt venv collection-link

apt: $(BUILD)/.apt-done
$(BUILD)/.apt-done: Makefile
	@mkdir -p $(BUILD)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; fi
	@touch $@

venv: $(VENV)/.done
$(VENV)/.done: requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

collection-link: $(COLLECTIONS)/ansible_collections/datacenter/iaas
$(COLLECTIONS)/ansible_collections/datacenter/iaas:
	@mkdir -p $(dir $@)
	@ln -sfn $(ROOT) $@
