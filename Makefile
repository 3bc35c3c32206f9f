# Trainer Workshop: the commands ops, CI and the README rely on (`make help` lists them by section).
#   make test    the whole suite, every tier timed (tests/support/run_suite.py)   <- README, .ci/run
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
# pip's option for it (the test venv's torch is the CPU build too).
TORCH_CPU_SOURCE = $(if $(TORCH_CPU_WHEELHOUSE),--find-links $(TORCH_CPU_WHEELHOUSE),\
	--extra-index-url $(TORCH_CPU_INDEX))
# What uv locks torch's CPU wheels from: the wheelhouse when one is set, else the index's flat
# page of torch wheels (only torch is taken from it; every other package comes from PyPI).
TORCH_CPU_WHEELS = $(or $(TORCH_CPU_WHEELHOUSE),$(TORCH_CPU_INDEX)/torch/)
ARCH ?= amd64
ARGS ?=
PYTEST_ARGS ?=

##@ help
help:  ## list the commands, by section
	@awk '/^##@ / {printf "\n%s\n", substr($$0, 5)} /^[a-z0-9%-]+:.*## / {split($$0, a, ":.*## "); \
		printf "  make %-18s %s\n", a[1], a[2]}' $(MAKEFILE_LIST)

##@ study (labs/; compose.yaml for solo study)
labs: venv  ## build the student notebooks (.ipynb) into build/labs
	$(VPY) labs/build_labs.py $(BUILD)/labs

smoke: venv labs  ## run every lab task on this host; report in build/smoke
	$(VENV)/bin/smoke --labs-dir $(BUILD)/labs --output $(BUILD)/smoke $(ARGS)

##@ images (docker/; docker/build.py builds the targets of docker-bake.hcl)
FLAVOR ?= gpu
# What the Docker tier bakes: the offline test models and dataset (no model hub).
TEST_IMAGE_SETTINGS := WORKSHOP_DATA=$(BUILD)/testdata WORKSHOP_MODEL=/opt/workshop/data/models/minilm \
	WORKSHOP_CAUSAL_MODEL=/opt/workshop/data/models/tiny-gpt2 WORKSHOP_DATASET=/opt/workshop/data/sentiment

# SIZE= skips the size report (it saves the image once more under /var/tmp: 6 GB for gpu).
SIZE ?= --size
# PLATFORMS=linux/arm64 builds the cpu flavour for arm64 under emulation.
image:  ## FLAVOR=cpu|gpu (default gpu): build trainer-workshop:FLAVOR and print its size
	$(PYTHON) docker/build.py workshop-$(FLAVOR) $(SIZE)

# The project's version (pyproject.toml): the release's image tags VERSION-FLAVOR.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# Where the release pushes: REGISTRY/OWNER (e.g. ghcr.io/OWNER); image names are lower case.
PUBLISH_TO ?=
published = $(shell echo '$(PUBLISH_TO)' | tr '[:upper:]' '[:lower:]')/$(1)
# The image checked: the published one when PUBLISH_TO is set, else the local build.
IMAGE ?= $(if $(PUBLISH_TO),$(call published,trainer-workshop:$(VERSION)-$(FLAVOR)),trainer-workshop:$(FLAVOR))
# `docker run --network none IMAGE smoke`, what the release and readiness run in each image.
image-smoke:  ## IMAGE=...: the smoke harness inside an image, offline; report in build/image-smoke
	rm -rf $(BUILD)/image-smoke && mkdir -p $(BUILD)/image-smoke && chmod 777 $(BUILD)/image-smoke
	docker run --rm --network none --shm-size 1g -v $(abspath $(BUILD))/image-smoke:/home/jovyan/work/smoke \
		$(IMAGE) smoke $(ARGS)

# `docker save NAME:TAG` to build/images/NAME-TAG.tar, the archive provisioning copies to hosts.
save_archive = mkdir -p $(BUILD)/images && docker save $(1) -o $(BUILD)/images/$(subst :,-,$(1)).tar.part \
	&& mv $(BUILD)/images/$(subst :,-,$(1)).tar.part $(BUILD)/images/$(subst :,-,$(1)).tar \
	&& ls -lh $(BUILD)/images/$(subst :,-,$(1)).tar

image-archive:  ## the image as build/images/trainer-workshop-FLAVOR.tar (what provisioning copies)
	$(call save_archive,trainer-workshop:$(FLAVOR))

image-offline: testdata  ## the image with the offline test models baked in (what the Docker tier builds)
	$(TEST_IMAGE_SETTINGS) $(PYTHON) docker/build.py workshop-$(FLAVOR)

##@ hub (hub/)
USERS ?= 30

hub-image:  ## build the hub image (trainer-workshop-hub:latest); options as for make image (PLATFORMS=linux/arm64 too)
	$(PYTHON) docker/build.py hub

HUB_IMAGE ?= trainer-workshop-hub:latest
hub-image-check:  ## HUB_IMAGE=...: the hub image starts, serves /hub/health, and has its proxy and roster command
	$(PYTHON) hub/check_image.py $(HUB_IMAGE)

hub-image-archive:  ## the hub image as build/images/trainer-workshop-hub-latest.tar (what provisioning copies)
	$(call save_archive,trainer-workshop-hub:latest)

hub-lock: venv  ## regenerate hub/requirements.lock (hashes) and hub/proxy/package-lock.json (integrity)
	$(VPY) docker/lock.py hub

##@ ops (ansible/)
# The controller's Ansible alone (ansible/requirements.lock), without the labs' stack.
ANSIBLE_VENV := .venv-ansible
INVENTORY ?=
INVENTORY_PATH = $(shell realpath -m $(INVENTORY) 2>/dev/null)

$(ANSIBLE_VENV)/.installed: ansible/requirements.lock
	$(PYTHON) -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/pip install --quiet --require-hashes --no-deps -r ansible/requirements.lock
	touch $@

inventory-given:
	@test -n "$(INVENTORY)" || { echo "Set INVENTORY to your inventory (a copy of ansible/inventory.example):" \
		"make $(MAKECMDGOALS) INVENTORY=~/workshop/inventory"; exit 2; }
	@test -e "$(INVENTORY_PATH)" || { echo "INVENTORY=$(INVENTORY): no such file or folder" \
		"(copy ansible/inventory.example there first)"; exit 2; }

# ARGS="--check --diff" previews what provisioning would change.
provision: $(ANSIBLE_VENV)/.installed inventory-given  ## INVENTORY=...: driver, Docker, NVIDIA runtime, images, hubs
	cd ansible && ../$(ANSIBLE_VENV)/bin/ansible-playbook -i $(INVENTORY_PATH) provision.yml $(ARGS)

readiness: $(ANSIBLE_VENV)/.installed inventory-given  ## INVENTORY=...: the harness on every GPU, build/readiness
	cd ansible && ../$(ANSIBLE_VENV)/bin/ansible-playbook -i $(INVENTORY_PATH) readiness.yml $(ARGS)

##@ release (docker/README.md; .github/workflows/release.yml runs only these and the image targets)
# On a tag vX.Y.Z the workflow runs these targets and nothing else; CI runs each of them too.
TAG ?=
OWNER ?=
# The tag is pyproject.toml's version and compose's default image tag; compose pulls from OWNER; cpu locks agree.
release-check:  ## TAG=vX.Y.Z OWNER=...: the checkout is ready to release
	$(PYTHON) docker/release.py check --tag "$(TAG)" --owner "$(OWNER)"

release-assets: labs  ## the release's lab notebooks and rendered study notes, zipped, with SHA256SUMS, in build/release
	$(PYTHON) docker/release.py assets $(BUILD)/labs $(BUILD)/release

# PUBLISH=--print shows what `make publish` would push, and pushes nothing.
PUBLISH ?= --push
PUBLISH_SETTINGS = IMAGE_NAME=$(call published,trainer-workshop) HUB_IMAGE_NAME=$(call published,trainer-workshop-hub) \
	WORKSHOP_VERSION=$(VERSION)
# cpu and hub for amd64 and arm64, gpu for amd64, with provenance and an SBOM; PUBLISH=--print: the plan only.
publish:  ## PUBLISH_TO=REGISTRY/OWNER: push the images
	@test -n "$(PUBLISH_TO)" || { echo "Set PUBLISH_TO=REGISTRY/OWNER, where the images go (e.g. ghcr.io/OWNER)"; exit 2; }
	$(PUBLISH_SETTINGS) PLATFORMS=linux/amd64,linux/arm64 $(PYTHON) docker/build.py workshop-cpu hub $(PUBLISH)
	$(PUBLISH_SETTINGS) PLATFORMS=linux/amd64 $(PYTHON) docker/build.py workshop-gpu $(PUBLISH)

lint-workflows: venv  ## the GitHub workflows against GitHub's schema (check-jsonschema) and zizmor's audits, offline
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	# Informational findings are advice (e.g. "use gh release in a script": the workflow's
	# script steps are make targets CI runs, so the upload stays a pinned action).
	$(VENV)/bin/zizmor --offline --no-progress --min-severity low .github/workflows

##@ locks (docker/lock.py)
lock: venv  ## regenerate the hash-checked locks from docker/, ansible/ and tests/ requirements.in (cpu: amd64)
	$(VPY) docker/lock.py all --torch-wheels $(TORCH_CPU_WHEELS)

LOCK_OUTPUT ?= docker/requirements-cpu-$(ARCH).lock
lock-cpu: venv  ## ARCH=amd64|arm64: the cpu flavour's lock for one architecture (torch's CPU build)
	$(VPY) docker/lock.py cpu --arch $(ARCH) --output $(LOCK_OUTPUT) --torch-wheels $(TORCH_CPU_WHEELS)

##@ tests (tests/README.md)
$(VENV)/.installed: tests/requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --require-hashes --no-deps $(TORCH_CPU_SOURCE) -r tests/requirements-dev.lock
	# The project's own packages (lab helpers, harness, hub extensions), editable: no path hacks.
	$(VPY) -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

venv: $(VENV)/.installed  ## the test environment (.venv) from the hash-checked lock

testdata: venv  ## offline test models and dataset in build/testdata (no model hub)
	$(VPY) tests/support/testdata.py $(BUILD)/testdata

test-fast: venv  ## unit tests only: seconds, no Docker
	$(VPY) -m pytest tests/unit $(PYTEST_ARGS)

# Images built once, every tier timed, the ops tier beside the others, the swarm tier alone.
test: venv labs testdata  ## the whole suite (tests/support/run_suite.py)
	$(VPY) -m tests.support.run_suite $(PYTEST_ARGS)

# One tier alone: make test-unit, test-labs, test-docker, test-hub, test-swarm, test-ansible.
TIERS := unit labs docker hub swarm ansible
test-%: venv labs testdata  ## make test-TIER: one tier alone (unit labs docker hub swarm ansible)
	@test -n "$(filter $*,$(TIERS))" || { echo "make test-$*: no such tier; the tiers are: $(TIERS)"; exit 2; }
	$(VPY) -m pytest tests/$* $(PYTEST_ARGS)

# The hub image built and started, the cpu image's layers up to torch (about 5 min).
test-arm64: venv labs testdata  ## the emulated linux/arm64 builds
	WORKSHOP_TEST_ARM64=1 $(VPY) -m pytest tests/docker/test_release_images.py -k arm64 $(PYTEST_ARGS)

# It builds the CUDA image (2.6 GB of wheels) and runs the harness on CPU in it.
test-gpu-image: venv labs testdata  ## the Docker tier's gpu-flavour test
	WORKSHOP_TEST_GPU_IMAGE=1 $(VPY) -m pytest tests/docker -k gpu $(PYTEST_ARGS)

# Not part of make test (CI's time): two stand-in hosts provisioned in swarm mode, twice.
# After make test-ansible: two stand-in hosts with workshop_mode swarm (swarm, labels, runtime, hub).
test-ansible-swarm: venv  ## molecule scenario swarm
	cd ansible && PATH=$(abspath $(VENV))/bin:$$PATH \
		WORKSHOP_TEST_IMAGE=$(or $(WORKSHOP_TEST_IMAGE),trainer-workshop-test:cpu) molecule test -s swarm

# The benchmarks (tests/bench/ measures what a room costs).
STARTUP_IMAGE ?= trainer-workshop:cpu
bench-startup: venv  ## `docker compose up` to JupyterLab answering, STARTUP_IMAGE (trainer-workshop:cpu), 5 runs
	$(VPY) -m tests.bench.startup --image $(STARTUP_IMAGE) $(ARGS)

NODES ?= 3
SLOTS ?= 4
bench-swarm: venv  ## every slot of NODES x SLOTS stand-in GPUs (3 x 4) spawned at once: p50/p95, spread
	$(VPY) -m tests.bench.swarm_spawn_storm --nodes $(NODES) --slots $(SLOTS) $(ARGS)

bench-hub: venv  ## USERS attendees (default 30) log in at once: time to ready p50/p95/max, hub memory
	$(VPY) -m tests.bench.hub_spawn --users $(USERS) $(ARGS)

##@ housekeeping
clean:  ## remove build outputs (keeps .venv)
	rm -rf $(BUILD)

.PHONY: help venv lock lock-cpu labs testdata test-fast test smoke clean image image-offline image-smoke image-archive \
	hub-image hub-image-check hub-image-archive hub-lock bench-hub bench-startup bench-swarm inventory-given provision \
	readiness release-check release-assets publish lint-workflows test-arm64 test-gpu-image test-ansible-swarm
