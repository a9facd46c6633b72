# jetson-array: the two commands of the README, and what they need.
#   make demo   bring up the container lab, apply the states, validate, print the report
#   make test   the test suite: lint, render, schema, config tools, acceptance-suite self tests,
#               the container-lab and the qemu VM-lab integration tests (needs root, like the labs)
#   make test-unit  the same without the labs (no root needed for most of it)
#   make test-vm    only the VM lab tests (kernel NFS, reboots, a dead master; ~25 min in TCG)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Debian packages the tests and the lab use (validators, containers, VMs, the health page's browser).
APT_PACKAGES := python3-venv git debootstrap systemd-container nfs-kernel-server sudo \
	openssh-server openssh-client dpkg-dev iproute2 bridge-utils e2fsprogs util-linux \
	vde2 qemu-system-x86 qemu-utils ruby vagrant shellcheck chromium chromium-driver
PYTEST_ARGS ?=

.PHONY: deps apt venv test test-unit test-vm demo lab-down clean

deps: apt venv

apt:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

test: deps
	$(PY) -m pytest tests/ $(PYTEST_ARGS)

test-unit: deps
	$(PY) -m pytest tests/ -m "not lab and not vm" $(PYTEST_ARGS)

test-vm: deps
	$(PY) -m pytest tests/ -m vm $(PYTEST_ARGS)

demo: deps
	$(PY) -m lab demo

lab-down: venv
	$(PY) -m lab down

clean: lab-down
	rm -rf $(VENV) lab/run
