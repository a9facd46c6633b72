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
	vde2 qemu-system-x86 qemu-utils ruby vagrant shellcheck chromium chromium-driver \
	binutils-aarch64-linux-gnu qemu-user-static mmdebstrap arch-test
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

# The VM lab tests run beside the others, in a lab run folder of their own (VM_RUN): their VMs,
# switch and salt-master (127.0.0.1) share nothing with the container lab but the image cache,
# which is built under a lock. Much of each lab's time is waiting (boots, timeouts), so together
# they take less than one after the other. The VM lines are prefixed "vm| ".
VM_RUN := $(CURDIR)/lab/vm-run
test: deps
	@(set -o pipefail; JETLAB_RUN=$(VM_RUN) $(PY) -m pytest tests/ -m vm -p no:cacheprovider $(PYTEST_ARGS) 2>&1 \
		| sed -u 's/^/vm| /') & vm=$$!; \
	$(PY) -m pytest tests/ -m "not vm" $(PYTEST_ARGS); rest=$$?; \
	wait $$vm; vm_rc=$$?; \
	echo "make test: pytest exit $$rest (all but the VM lab), $$vm_rc (the VM lab)"; \
	test $$rest -eq 0 && test $$vm_rc -eq 0

test-unit: deps
	$(PY) -m pytest tests/ -m "not lab and not vm" $(PYTEST_ARGS)

test-vm: deps
	JETLAB_RUN=$(VM_RUN) $(PY) -m pytest tests/ -m vm $(PYTEST_ARGS)

demo: deps
	$(PY) -m lab demo

lab-down: venv
	$(PY) -m lab down
	JETLAB_RUN=$(VM_RUN) $(PY) -m lab vm down

clean: lab-down
	rm -rf $(VENV) lab/run $(VM_RUN)
