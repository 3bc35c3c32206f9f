# Every image the project builds, declared once. Build through docker/build.py (`make image`,
# `make hub-image`, the test tiers): it picks the base image and the CA bundle, then runs
#     docker buildx bake -f docker-bake.hcl TARGET --load
# Each variable below can be set in the environment; empty means "not used".

# --- what each image builds FROM ------------------------------------------------------------
# CUDA 13.0 to match PyPI's torch 2.13.0; `-base-` (cudart only): torch's nvidia-* wheels ship the CUDA libraries.
variable "GPU_BASE_IMAGE" { default = "nvidia/cuda:13.0.2-base-ubuntu24.04" }
# Debian 12: Python 3.11, the version the cpu lock is compiled for.
variable "CPU_BASE_IMAGE" { default = "debian:bookworm-slim" }
# The hub runs on Debian 12's python3 and nodejs.
variable "HUB_BASE_IMAGE" { default = "debian:bookworm-slim" }

# --- names and provenance ----------------------------------------------------------------------
variable "IMAGE_NAME" { default = "trainer-workshop" }
variable "HUB_IMAGE_NAME" { default = "trainer-workshop-hub" }
# docker/build.py sets these from git; tags are NAME:FLAVOR and NAME:VERSION-FLAVOR.
variable "WORKSHOP_VERSION" { default = "dev" }
variable "VCS_REF" { default = "" }
variable "BUILD_DATE" { default = "" }
# The repository's URL, as a label (docker/build.py takes it from GitHub Actions' environment).
variable "SOURCE_URL" { default = "" }

# --- inputs that stay out of the layers --------------------------------------------------------
# A TLS-inspecting proxy's CA bundle, handed to apt, pip, npm and the model download as a secret.
variable "CA_BUNDLE" { default = "" }
# A Hub token for gated models (a secret, never stored).
variable "HF_TOKEN_FILE" { default = "" }
# A directory of wheels pip may use: torch's CPU build for cpu when offline; gpu only offline.
variable "TORCH_CPU_WHEELHOUSE" { default = "" }
# Where cpu takes torch's CPU build when the wheelhouse lacks it (empty: PyTorch's CPU index).
variable "TORCH_CPU_INDEX" { default = "" }
variable "GPU_WHEELHOUSE" { default = "" }
# Local models/datasets (air-gapped venues, the tests): DIR/x lands at /opt/workshop/data/x.
variable "WORKSHOP_DATA" { default = "" }

# --- what the workshop image bakes (empty: the Dockerfile's defaults) --------------------------
variable "WORKSHOP_MODEL" { default = "" }
variable "WORKSHOP_MODEL_REVISION" { default = "" }
variable "WORKSHOP_CAUSAL_MODEL" { default = "" }
variable "WORKSHOP_CAUSAL_MODEL_REVISION" { default = "" }
variable "WORKSHOP_DATASET" { default = "" }
variable "WORKSHOP_DATASET_REVISION" { default = "" }
variable "WORKSHOP_DATASET_CONFIG" { default = "" }
# Lab size the image defaults to; the cpu flavour (laptops) defaults to the short one.
variable "WORKSHOP_LAB_SIZE" { default = "" }

# { name = value } when value is set, {} when it is empty: optional args, contexts and secrets.
function "given" {
  params = [name, value]
  result = value == "" ? {} : { "${name}" = value }
}

function "secrets" {
  params = []
  result = concat(
    CA_BUNDLE == "" ? [] : ["id=ca,src=${CA_BUNDLE}"],
    HF_TOKEN_FILE == "" ? [] : ["id=hf_token,src=${HF_TOKEN_FILE}"],
  )
}

function "provenance" {
  params = []
  result = merge(
    { WORKSHOP_VERSION = WORKSHOP_VERSION },
    given("VCS_REF", VCS_REF),
    given("BUILD_DATE", BUILD_DATE),
    given("SOURCE_URL", SOURCE_URL),
  )
}

function "baked" {
  params = [lab_size]
  result = merge(
    given("WORKSHOP_MODEL", WORKSHOP_MODEL),
    given("WORKSHOP_MODEL_REVISION", WORKSHOP_MODEL_REVISION),
    given("WORKSHOP_CAUSAL_MODEL", WORKSHOP_CAUSAL_MODEL),
    given("WORKSHOP_CAUSAL_MODEL_REVISION", WORKSHOP_CAUSAL_MODEL_REVISION),
    given("WORKSHOP_DATASET", WORKSHOP_DATASET),
    given("WORKSHOP_DATASET_REVISION", WORKSHOP_DATASET_REVISION),
    given("WORKSHOP_DATASET_CONFIG", WORKSHOP_DATASET_CONFIG),
    given("WORKSHOP_LAB_SIZE", lab_size),
  )
}

group "default" {
  targets = ["workshop-gpu"]
}

# The attendee image, one target per flavour: workshop-gpu for GPU hosts (the hub) and
# compose.gpu.yaml; workshop-cpu for laptops and CI (torch's CPU build, the short lab size).
target "workshop" {
  name       = "workshop-${flavor}"
  matrix     = { flavor = ["gpu", "cpu"] }
  context    = "."
  dockerfile = "docker/Dockerfile"
  args = merge(
    { FLAVOR = flavor, BASE_IMAGE = flavor == "gpu" ? GPU_BASE_IMAGE : CPU_BASE_IMAGE },
    given("TORCH_CPU_INDEX", flavor == "cpu" ? TORCH_CPU_INDEX : ""),
    provenance(),
    baked(flavor == "cpu" && WORKSHOP_LAB_SIZE == "" ? "smoke" : WORKSHOP_LAB_SIZE),
  )
  contexts = merge(given("wheelhouse", flavor == "gpu" ? GPU_WHEELHOUSE : TORCH_CPU_WHEELHOUSE),
  given("workshop-data", WORKSHOP_DATA))
  secret = secrets()
  tags   = ["${IMAGE_NAME}:${flavor}", "${IMAGE_NAME}:${WORKSHOP_VERSION}-${flavor}"]
}

# JupyterHub with the workshop's spawner, authenticator and roster (hub/).
target "hub" {
  context    = "."
  dockerfile = "hub/Dockerfile"
  args       = merge({ BASE_IMAGE = HUB_BASE_IMAGE }, provenance())
  secret     = secrets()
  tags       = ["${HUB_IMAGE_NAME}:latest", "${HUB_IMAGE_NAME}:${WORKSHOP_VERSION}"]
}
