# Trainer Workshop: the commands ops, CI and the README rely on.
#   make test    the whole suite (fast tier, harness on CPU, Docker tier)   <- README, .ci/run
#   make smoke   the smoke harness on this host; ARGS="--labs 2,3 ..." passes options
#   make image   FLAVOR=cpu|gpu: build the workshop image and print its size
#   make provision / make readiness   INVENTORY=...: the ops path (ansible/)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
BUILD := build
# Where `make lock` finds the CPU build of torch (a wheelhouse directory); the
# CPU lock records that wheel's hash. Defaults to pip's configured find-links, as
# docker/build.py does for the cpu image.
TORCH_CPU_WHEELHOUSE ?= $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
ARGS ?=
PYTEST_ARGS ?=

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: tests/requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --require-hashes --no-deps -r tests/requirements-dev.lock
	# The project's own packages (lab helpers, harness, hub extensions), editable: no path hacks.
	$(VPY) -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

venv: $(VENV)/.installed  ## the test environment (.venv) from the hash-checked lock

lock: venv  ## regenerate the hash-checked locks from docker/, ansible/ and tests/ requirements.in
	@test -n "$(TORCH_CPU_WHEELHOUSE)" || { echo "Set TORCH_CPU_WHEELHOUSE to a directory holding torch's CPU wheel"; exit 2; }
	$(VENV)/bin/uv pip compile docker/requirements.in --generate-hashes --universal --python-version 3.11 \
		--no-header -o docker/requirements-gpu.lock
	$(VENV)/bin/uv pip compile docker/requirements.in --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --find-links $(TORCH_CPU_WHEELHOUSE) --no-emit-find-links \
		--no-header -o docker/requirements-cpu.lock
	$(VENV)/bin/uv pip compile ansible/requirements.in --generate-hashes --universal --python-version 3.11 \
		--no-header -o ansible/requirements.lock
	$(VENV)/bin/uv pip compile tests/requirements-dev.in -c docker/requirements-cpu.lock -c ansible/requirements.lock --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --find-links $(TORCH_CPU_WHEELHOUSE) \
		--no-emit-find-links --no-header -o tests/requirements-dev.lock

labs: venv  ## build the student notebooks (.ipynb) into build/labs
	$(VPY) labs/build_labs.py $(BUILD)/labs

testdata: venv  ## offline test models and dataset in build/testdata (no model hub)
	$(VPY) tests/testdata.py $(BUILD)/testdata

test-fast: venv  ## unit tests only: seconds, no Docker
	$(VPY) -m pytest tests/unit $(PYTEST_ARGS)

test: venv labs testdata  ## the whole suite: unit tests, harness on CPU, Docker tier
	$(VPY) -m pytest tests $(PYTEST_ARGS)

smoke: venv labs  ## run every lab task on this host; report in build/smoke
	$(VENV)/bin/smoke --labs-dir $(BUILD)/labs --output $(BUILD)/smoke $(ARGS)

# --- the images: docker/build.py builds the targets of docker-bake.hcl ---------------------
FLAVOR ?= gpu
# What the Docker tier bakes: the offline test models and dataset (no model hub).
TEST_IMAGE_SETTINGS := WORKSHOP_DATA=$(BUILD)/testdata WORKSHOP_MODEL=/opt/workshop/data/models/minilm \
	WORKSHOP_CAUSAL_MODEL=/opt/workshop/data/models/tiny-gpt2 WORKSHOP_DATASET=/opt/workshop/data/sentiment

image:  ## build the workshop image, FLAVOR=cpu|gpu (default gpu), tag trainer-workshop:FLAVOR, print its size
	$(PYTHON) docker/build.py workshop-$(FLAVOR) --size

# `docker save NAME:TAG` to build/images/NAME-TAG.tar, the archive provisioning copies to hosts.
save_archive = mkdir -p $(BUILD)/images && docker save $(1) -o $(BUILD)/images/$(subst :,-,$(1)).tar.part \
	&& mv $(BUILD)/images/$(subst :,-,$(1)).tar.part $(BUILD)/images/$(subst :,-,$(1)).tar \
	&& ls -lh $(BUILD)/images/$(subst :,-,$(1)).tar

image-archive:  ## the image as a `docker save` archive, build/images/trainer-workshop-FLAVOR.tar (what provisioning copies)
	$(call save_archive,trainer-workshop:$(FLAVOR))

image-offline: testdata  ## the image with the offline test models baked in (what the Docker tier builds)
	$(TEST_IMAGE_SETTINGS) $(PYTHON) docker/build.py workshop-$(FLAVOR)

test-docker: venv labs testdata  ## the Docker tier only (builds the cpu image once)
	$(VPY) -m pytest tests/docker $(PYTEST_ARGS)

test-gpu-image: venv labs testdata  ## the Docker tier's gpu-flavour test: builds the CUDA image (2.6 GB of wheels), harness on CPU in it
	WORKSHOP_TEST_GPU_IMAGE=1 $(VPY) -m pytest tests/docker -k gpu $(PYTEST_ARGS)

STARTUP_IMAGE ?= trainer-workshop:cpu
bench-startup: venv  ## solo start-up: `docker compose up` to JupyterLab answering, STARTUP_IMAGE (default trainer-workshop:cpu), 5 runs
	$(VPY) -m tests.docker.bench_startup --image $(STARTUP_IMAGE) $(ARGS)

# --- the hosted hub (hub/; README "Running the hub") -----------------------------------
USERS ?= 30

hub-image:  ## build the hub image (trainer-workshop-hub:latest); options as for make image
	$(PYTHON) docker/build.py hub

hub-image-archive:  ## the hub image as build/images/trainer-workshop-hub-latest.tar (what provisioning copies)
	$(call save_archive,trainer-workshop-hub:latest)

hub-lock: venv  ## regenerate hub/requirements.lock (hashes) and hub/proxy/package-lock.json (integrity)
	$(VENV)/bin/uv pip compile hub/requirements.in --generate-hashes --universal --python-version 3.11 \
		--no-header -o hub/requirements.lock
	cd hub/proxy && npm install --package-lock-only --ignore-scripts --omit-lockfile-registry-resolved

test-hub: venv labs testdata  ## the hub tier only: a real hub, 3 stand-in GPUs, restart, bad input, a browser
	$(VPY) -m pytest tests/hub $(PYTEST_ARGS)

bench-hub: venv  ## USERS attendees (default 30) log in at once: time to ready p50/p95/max, hub memory
	$(VPY) -m tests.hub.bench_spawn --users $(USERS) $(ARGS)

# --- the ops path (ansible/; README "Running a workshop on GPU hosts") --------------------
# The controller's Ansible alone (ansible/requirements.lock), without the labs' stack.
ANSIBLE_VENV := .venv-ansible
INVENTORY ?=
INVENTORY_PATH = $(shell realpath -m $(INVENTORY) 2>/dev/null)

$(ANSIBLE_VENV)/.installed: ansible/requirements.lock
	$(PYTHON) -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/pip install --quiet --require-hashes --no-deps -r ansible/requirements.lock
	touch $@

inventory-given:
	@test -n "$(INVENTORY)" || { echo "Set INVENTORY to your inventory (a copy of ansible/inventory.example): make $(MAKECMDGOALS) INVENTORY=~/workshop/inventory"; exit 2; }
	@test -e "$(INVENTORY_PATH)" || { echo "INVENTORY=$(INVENTORY): no such file or folder (copy ansible/inventory.example there first)"; exit 2; }

provision: $(ANSIBLE_VENV)/.installed inventory-given  ## INVENTORY=...: driver, Docker + NVIDIA runtime, images and hubs on every host; ARGS="--check --diff" previews
	cd ansible && ../$(ANSIBLE_VENV)/bin/ansible-playbook -i $(INVENTORY_PATH) provision.yml $(ARGS)

readiness: $(ANSIBLE_VENV)/.installed inventory-given  ## INVENTORY=...: the harness on every GPU of every host; fleet report in build/readiness
	cd ansible && ../$(ANSIBLE_VENV)/bin/ansible-playbook -i $(INVENTORY_PATH) readiness.yml $(ARGS)

test-ansible: venv labs testdata  ## the ops tier only: lint, molecule (GPU-less and stand-in hosts), readiness on two stand-in hosts
	$(VPY) -m pytest tests/ansible $(PYTEST_ARGS)

clean:  ## remove build outputs (keeps .venv)
	rm -rf $(BUILD)

.PHONY: help venv lock labs testdata test-fast test smoke clean image image-offline test-docker test-gpu-image \
	hub-image hub-lock test-hub bench-hub image-archive hub-image-archive bench-startup inventory-given provision readiness test-ansible
