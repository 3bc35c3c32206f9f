# Trainer Workshop: the commands ops, CI and the README rely on.
#   make test    the whole suite, every tier timed (tests/run_suite.py)   <- README, .ci/run
#   make smoke   the smoke harness on this host; ARGS="--labs 2,3 ..." passes options
#   make image   FLAVOR=cpu|gpu: build the workshop image and print its size
#   make provision / make readiness   INVENTORY=...: the ops path (ansible/)
#   make publish / release-*            the release (.github/workflows/release.yml runs only make targets)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
BUILD := build
# Where the cpu flavour's torch (its CPU build, TORCH_VERSION+cpu) comes from: PyTorch's CPU
# wheel index, or a wheelhouse directory where that index is out of reach (air-gapped venues,
# the CI hosts). Defaults to pip's configured find-links, as docker/build.py does.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_CPU_WHEELHOUSE ?= $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null)
TORCH_VERSION := $(shell sed -n 's/^torch==//p' docker/requirements.in)
# pip's option for it (the test venv's torch is the CPU build too).
TORCH_CPU_SOURCE = $(if $(TORCH_CPU_WHEELHOUSE),--find-links $(TORCH_CPU_WHEELHOUSE),--extra-index-url $(TORCH_CPU_INDEX))
# The cpu lock is one file per architecture (docker/requirements-cpu-ARCH.lock): torch's CPU
# wheels differ per platform, and PyPI's aarch64 torch is not the CPU build.
ARCH ?= amd64
LOCK_PLATFORM_amd64 := x86_64-manylinux_2_28
LOCK_PLATFORM_arm64 := aarch64-manylinux_2_28
ARGS ?=
PYTEST_ARGS ?=

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: tests/requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --require-hashes --no-deps $(TORCH_CPU_SOURCE) -r tests/requirements-dev.lock
	# The project's own packages (lab helpers, harness, hub extensions), editable: no path hacks.
	$(VPY) -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

venv: $(VENV)/.installed  ## the test environment (.venv) from the hash-checked lock

lock: venv  ## regenerate the hash-checked locks from docker/, ansible/ and tests/ requirements.in (cpu: amd64; arm64 see lock-cpu)
	$(VENV)/bin/uv pip compile docker/requirements.in --generate-hashes --universal --python-version 3.11 \
		--no-header -o docker/requirements-gpu.lock
	$(MAKE) --no-print-directory lock-cpu ARCH=amd64
	# The controller's Ansible shares the test venv with the labs' stack: the same versions.
	$(VENV)/bin/uv pip compile ansible/requirements.in -c docker/requirements-cpu-amd64.lock --generate-hashes --universal \
		--python-version 3.11 --no-header -o ansible/requirements.lock
	$(VENV)/bin/uv pip compile tests/requirements-dev.in -c docker/requirements-cpu-amd64.lock -c ansible/requirements.lock --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --find-links $(TORCH_CPU_WHEELS) \
		--no-emit-find-links --no-header -o tests/requirements-dev.lock

# torch's CPU wheels: the wheelhouse when one is set, else the index's flat page of torch wheels
# (only torch is taken from it; every other package comes from PyPI).
TORCH_CPU_WHEELS = $(or $(TORCH_CPU_WHEELHOUSE),$(TORCH_CPU_INDEX)/torch/)
LOCK_OUTPUT ?= docker/requirements-cpu-$(ARCH).lock

lock-cpu: venv  ## ARCH=amd64|arm64: lock the cpu flavour for one architecture, torch TORCH_VERSION+cpu from TORCH_CPU_INDEX (or TORCH_CPU_WHEELHOUSE)
	@test -n "$(LOCK_PLATFORM_$(ARCH))" || { echo "ARCH=$(ARCH): use ARCH=amd64 or ARCH=arm64"; exit 2; }
	@mkdir -p $(BUILD) && echo "torch==$(TORCH_VERSION)+cpu" > $(BUILD)/torch-cpu.override
	@# uv keeps the versions of the lock it writes over: start from this architecture's lock, or,
	@# for a first lock (arm64), from amd64's, so every architecture runs the same versions.
	@seed=docker/requirements-cpu-$(ARCH).lock; [ -f $$seed ] || seed=docker/requirements-cpu-amd64.lock; \
		cp $$seed $(LOCK_OUTPUT).new
	$(VENV)/bin/uv pip compile docker/requirements.in --override $(BUILD)/torch-cpu.override --generate-hashes \
		--python-version 3.11 --python-platform $(LOCK_PLATFORM_$(ARCH)) --find-links $(TORCH_CPU_WHEELS) \
		--no-emit-find-links --no-header --quiet -o $(LOCK_OUTPUT).new \
		|| { rm -f $(LOCK_OUTPUT).new; echo "lock-cpu: uv could not lock the cpu flavour for $(ARCH) (its message is above). When it says torch $(TORCH_VERSION)+cpu has no $(ARCH) wheel: run this where PyTorch's CPU index is reachable (TORCH_CPU_WHEELHOUSE= uses it), or give a wheelhouse holding that wheel"; exit 2; }
	mv $(LOCK_OUTPUT).new $(LOCK_OUTPUT)

labs: venv  ## build the student notebooks (.ipynb) into build/labs
	$(VPY) labs/build_labs.py $(BUILD)/labs

testdata: venv  ## offline test models and dataset in build/testdata (no model hub)
	$(VPY) tests/testdata.py $(BUILD)/testdata

test-fast: venv  ## unit tests only: seconds, no Docker
	$(VPY) -m pytest tests/unit $(PYTEST_ARGS)

test: venv labs testdata  ## the whole suite: images built once, every tier timed, ops tier beside the others, swarm alone
	$(VPY) -m tests.run_suite $(PYTEST_ARGS)

smoke: venv labs  ## run every lab task on this host; report in build/smoke
	$(VENV)/bin/smoke --labs-dir $(BUILD)/labs --output $(BUILD)/smoke $(ARGS)

# --- the images: docker/build.py builds the targets of docker-bake.hcl ---------------------
FLAVOR ?= gpu
# What the Docker tier bakes: the offline test models and dataset (no model hub).
TEST_IMAGE_SETTINGS := WORKSHOP_DATA=$(BUILD)/testdata WORKSHOP_MODEL=/opt/workshop/data/models/minilm \
	WORKSHOP_CAUSAL_MODEL=/opt/workshop/data/models/tiny-gpt2 WORKSHOP_DATASET=/opt/workshop/data/sentiment

# SIZE= skips the size report (it saves the image once more under /var/tmp: 6 GB for gpu).
SIZE ?= --size
image:  ## build the workshop image, FLAVOR=cpu|gpu (default gpu), tag trainer-workshop:FLAVOR, print its size; PLATFORMS=linux/arm64 (cpu) emulates
	$(PYTHON) docker/build.py workshop-$(FLAVOR) $(SIZE)

# The project's version (pyproject.toml): the release's image tags VERSION-FLAVOR.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# Where the release pushes: REGISTRY/OWNER (e.g. ghcr.io/OWNER); image names are lower case.
PUBLISH_TO ?=
published = $(shell echo '$(PUBLISH_TO)' | tr '[:upper:]' '[:lower:]')/$(1)
# The image checked: the published one when PUBLISH_TO is set, else the local build.
IMAGE ?= $(if $(PUBLISH_TO),$(call published,trainer-workshop:$(VERSION)-$(FLAVOR)),trainer-workshop:$(FLAVOR))
image-smoke:  ## IMAGE=...: the smoke harness inside an image, offline (docker run --network none IMAGE smoke); report in build/image-smoke
	rm -rf $(BUILD)/image-smoke && mkdir -p $(BUILD)/image-smoke && chmod 777 $(BUILD)/image-smoke
	docker run --rm --network none --shm-size 1g -v $(abspath $(BUILD))/image-smoke:/home/jovyan/work/smoke $(IMAGE) smoke $(ARGS)

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

test-arm64: venv labs testdata  ## the emulated linux/arm64 builds (about 5 min): the hub image built and started, the cpu image's layers up to torch
	WORKSHOP_TEST_ARM64=1 $(VPY) -m pytest tests/docker/test_release_images.py -k arm64 $(PYTEST_ARGS)

test-gpu-image: venv labs testdata  ## the Docker tier's gpu-flavour test: builds the CUDA image (2.6 GB of wheels), harness on CPU in it
	WORKSHOP_TEST_GPU_IMAGE=1 $(VPY) -m pytest tests/docker -k gpu $(PYTEST_ARGS)

STARTUP_IMAGE ?= trainer-workshop:cpu
bench-startup: venv  ## solo start-up: `docker compose up` to JupyterLab answering, STARTUP_IMAGE (default trainer-workshop:cpu), 5 runs
	$(VPY) -m tests.docker.bench_startup --image $(STARTUP_IMAGE) $(ARGS)

# --- the hosted hub (hub/; README "Running the hub") -----------------------------------
USERS ?= 30

hub-image:  ## build the hub image (trainer-workshop-hub:latest); options as for make image (PLATFORMS=linux/arm64 too)
	$(PYTHON) docker/build.py hub

HUB_IMAGE ?= trainer-workshop-hub:latest
hub-image-check:  ## HUB_IMAGE=...: the hub image starts, serves /hub/health, and has its proxy and roster command
	$(PYTHON) hub/check_image.py $(HUB_IMAGE)

hub-image-archive:  ## the hub image as build/images/trainer-workshop-hub-latest.tar (what provisioning copies)
	$(call save_archive,trainer-workshop-hub:latest)

hub-lock: venv  ## regenerate hub/requirements.lock (hashes) and hub/proxy/package-lock.json (integrity)
	$(VENV)/bin/uv pip compile hub/requirements.in --generate-hashes --universal --python-version 3.11 \
		--no-header -o hub/requirements.lock
	cd hub/proxy && npm install --package-lock-only --ignore-scripts --omit-lockfile-registry-resolved

test-hub: venv labs testdata  ## the hub tier only: a real hub, 3 stand-in GPUs, restart, bad input, a browser
	$(VPY) -m pytest tests/hub $(PYTEST_ARGS)

test-swarm: venv labs testdata  ## the swarm tier only: three Docker-in-Docker nodes, the hub in swarm mode, placement, restart, work, node loss
	$(VPY) -m pytest tests/swarm $(PYTEST_ARGS)

NODES ?= 3
SLOTS ?= 4
bench-swarm: venv  ## spawn storm on a swarm of NODES DinD nodes x SLOTS stand-in GPUs (default 3 x 4), every slot at once: p50/p95, spread
	$(VPY) -m tests.swarm.bench_spawn_storm --nodes $(NODES) --slots $(SLOTS) $(ARGS)

bench-hub: venv  ## USERS attendees (default 30) log in at once: time to ready p50/p95/max, hub memory
	$(VPY) -m tests.hub.bench_spawn --users $(USERS) $(ARGS)

# --- the release (.github/workflows/release.yml; README "Releasing") -----------------------
# On a tag vX.Y.Z the workflow runs these targets and nothing else; CI runs each of them too.
TAG ?=
OWNER ?=
release-check:  ## TAG=vX.Y.Z OWNER=...: tag = pyproject.toml's version = compose's default image tag, compose pulls from OWNER, cpu locks agree
	$(PYTHON) docker/release.py check --tag "$(TAG)" --owner "$(OWNER)"

release-assets: labs  ## the release's lab notebooks and rendered study notes, zipped, with SHA256SUMS, in build/release
	$(PYTHON) docker/release.py assets $(BUILD)/labs $(BUILD)/release

# PUBLISH=--print shows what `make publish` would push, and pushes nothing.
PUBLISH ?= --push
PUBLISH_SETTINGS = IMAGE_NAME=$(call published,trainer-workshop) HUB_IMAGE_NAME=$(call published,trainer-workshop-hub) \
	WORKSHOP_VERSION=$(VERSION)
publish:  ## PUBLISH_TO=REGISTRY/OWNER: push cpu and hub (amd64+arm64), gpu (amd64), with provenance and an SBOM; PUBLISH=--print: the plan only
	@test -n "$(PUBLISH_TO)" || { echo "Set PUBLISH_TO=REGISTRY/OWNER, where the images go (e.g. ghcr.io/OWNER)"; exit 2; }
	$(PUBLISH_SETTINGS) PLATFORMS=linux/amd64,linux/arm64 $(PYTHON) docker/build.py workshop-cpu hub $(PUBLISH)
	$(PUBLISH_SETTINGS) PLATFORMS=linux/amd64 $(PYTHON) docker/build.py workshop-gpu $(PUBLISH)

lint-workflows: venv  ## the GitHub workflows against GitHub's schema (check-jsonschema) and zizmor's audits, offline
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	# Informational findings are advice (e.g. "use gh release in a script": the workflow's
	# script steps are make targets CI runs, so the upload stays a pinned action).
	$(VENV)/bin/zizmor --offline --no-progress --min-severity low .github/workflows

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

# Not part of make test (CI's time): two stand-in hosts provisioned in swarm mode, twice.
test-ansible-swarm: venv  ## after make test-ansible: molecule provisions two stand-in hosts with workshop_mode swarm (swarm, labels, runtime, hub)
	cd ansible && PATH=$(abspath $(VENV))/bin:$$PATH WORKSHOP_TEST_IMAGE=$(or $(WORKSHOP_TEST_IMAGE),trainer-workshop-test:cpu) molecule test -s swarm

test-ansible: venv labs testdata  ## the ops tier only: lint, molecule (GPU-less and stand-in hosts), readiness on two stand-in hosts
	$(VPY) -m pytest tests/ansible $(PYTEST_ARGS)

clean:  ## remove build outputs (keeps .venv)
	rm -rf $(BUILD)

.PHONY: help venv lock lock-cpu labs testdata test-fast test smoke clean image image-offline test-docker test-gpu-image \
	hub-image hub-lock test-hub bench-hub image-archive hub-image-archive bench-startup inventory-given provision readiness test-ansible \
	image-smoke hub-image-check release-check release-assets publish lint-workflows test-swarm bench-swarm test-ansible-swarm test-arm64
