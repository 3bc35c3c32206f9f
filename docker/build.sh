#!/usr/bin/env bash
# Build one flavour of the workshop image and print its size (`make image` runs this).
#
#   FLAVOR=cpu|gpu                 which torch: cpu (laptops, CI) or gpu (CUDA 13.0); default gpu
#   BASE_IMAGE=NAME                what to build FROM (default: gpu nvidia/cuda:13.0.2-base-ubuntu24.04,
#                                  cpu debian:bookworm-slim). When it can't be had, a local Debian 12
#                                  base is used or built with debootstrap (docker/make-base-image.sh).
#   TORCH_CPU_WHEELHOUSE=DIR       cpu: a directory holding the torch 2.13.0+cpu wheel (required)
#   GPU_WHEELHOUSE=DIR             gpu, optional: wheels to install from (an air-gapped venue)
#   CA_BUNDLE=FILE                 CA bundle for a TLS-inspecting proxy, as a BuildKit secret (never
#                                  stored in a layer); default: $PIP_CERT or $SSL_CERT_FILE when set
#   WORKSHOP_MODEL, WORKSHOP_CAUSAL_MODEL, WORKSHOP_DATASET (+ _REVISION), WORKSHOP_DATASET_CONFIG,
#   WORKSHOP_LAB_SIZE              what to bake and the image's defaults: Hub ids, or paths under
#                                  /opt/workshop/data/ taken from WORKSHOP_DATA
#   WORKSHOP_DATA=DIR              local models/datasets: DIR/x lands at /opt/workshop/data/x
#   HF_TOKEN_FILE=FILE             a Hub token for gated models (BuildKit secret)
#   IMAGE_NAME=trainer-workshop    tags IMAGE_NAME:FLAVOR and IMAGE_NAME:VERSION-FLAVOR
#   WORKSHOP_VERSION=...           default: from git (describe, or date + commit)
#   SKIP_SIZE=1                    skip the (compressed) size report
#   EXTRA_BUILD_ARGS="..."         more options for `docker buildx build`
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "make image: $*" >&2; exit 2; }

FLAVOR="${FLAVOR:-gpu}"
case "$FLAVOR" in
    cpu|gpu) ;;
    *) die "unknown FLAVOR=$FLAVOR: use FLAVOR=cpu (CPU torch: laptops, CI) or FLAVOR=gpu (CUDA 13.0 torch)" ;;
esac
IMAGE_NAME="${IMAGE_NAME:-trainer-workshop}"
LOCAL_BASE="${WORKSHOP_BASE_IMAGE:-trainer-workshop-base:bookworm}"

docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed). Start Docker, or on a Debian CI host see .ci/run."
docker buildx version >/dev/null 2>&1 || die "docker buildx is missing (Debian: apt-get install docker-buildx)"

# --- base image -----------------------------------------------------------------------
default_base() { [[ $FLAVOR == gpu ]] && echo nvidia/cuda:13.0.2-base-ubuntu24.04 || echo debian:bookworm-slim; }
usable() { docker image inspect "$1" >/dev/null 2>&1 || timeout "${PULL_TIMEOUT:-120}" docker pull -q "$1" >/dev/null 2>&1; }
if [[ -n "${BASE_IMAGE:-}" ]]; then
    usable "$BASE_IMAGE" || die "BASE_IMAGE=$BASE_IMAGE is neither here nor pullable. Pass another, or build a local Debian 12 base:
    sudo docker/make-base-image.sh $LOCAL_BASE   then   make image FLAVOR=$FLAVOR BASE_IMAGE=$LOCAL_BASE"
else
    BASE_IMAGE=$(default_base)
    if ! usable "$BASE_IMAGE"; then
        echo "make image: the base image $BASE_IMAGE cannot be pulled here; using a local Debian 12 base ($LOCAL_BASE)."
        if ! docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
            if [[ $(id -u) == 0 ]] && command -v debootstrap >/dev/null; then
                docker/make-base-image.sh "$LOCAL_BASE"
            else
                die "no usable base image. Either pass BASE_IMAGE=NAME (a Debian 12 or Ubuntu 24.04 image this engine has), or build one from Debian's archive:
    sudo apt-get install debootstrap && sudo docker/make-base-image.sh $LOCAL_BASE"
            fi
        fi
        BASE_IMAGE=$LOCAL_BASE
        [[ $FLAVOR == gpu ]] && echo "make image: (gpu on a plain Debian base works: torch's nvidia-* wheels carry the CUDA libraries)"
    fi
fi

# --- options ----------------------------------------------------------------------------
opts=(--file docker/Dockerfile --build-arg FLAVOR="$FLAVOR" --build-arg BASE_IMAGE="$BASE_IMAGE")
if [[ $FLAVOR == cpu ]]; then
    [[ -n "${TORCH_CPU_WHEELHOUSE:-}" ]] || die "FLAVOR=cpu needs TORCH_CPU_WHEELHOUSE=DIR, a directory holding torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl (PyTorch's CPU wheel index has it)"
    compgen -G "$TORCH_CPU_WHEELHOUSE/torch-2.13.0+cpu-*.whl" >/dev/null \
        || die "TORCH_CPU_WHEELHOUSE=$TORCH_CPU_WHEELHOUSE holds no torch-2.13.0+cpu wheel"
    opts+=(--build-context wheelhouse="$TORCH_CPU_WHEELHOUSE")
elif [[ -n "${GPU_WHEELHOUSE:-}" ]]; then
    opts+=(--build-context wheelhouse="$GPU_WHEELHOUSE")
fi
if [[ -n "${WORKSHOP_DATA:-}" ]]; then
    [[ -d "$WORKSHOP_DATA" ]] || die "WORKSHOP_DATA=$WORKSHOP_DATA is not a directory"
    opts+=(--build-context workshop-data="$WORKSHOP_DATA")
fi
CA_BUNDLE="${CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-}}}"
if [[ -n "$CA_BUNDLE" ]]; then
    [[ -r "$CA_BUNDLE" ]] || die "CA_BUNDLE=$CA_BUNDLE is not a readable file"
    opts+=(--secret id=ca,src="$CA_BUNDLE")
fi
[[ -n "${HF_TOKEN_FILE:-}" ]] && opts+=(--secret id=hf_token,src="$HF_TOKEN_FILE")
# The cpu flavour's labs default to the short size (seconds per task on a laptop CPU).
[[ $FLAVOR == cpu ]] && WORKSHOP_LAB_SIZE="${WORKSHOP_LAB_SIZE:-smoke}"
for name in WORKSHOP_MODEL WORKSHOP_CAUSAL_MODEL WORKSHOP_DATASET WORKSHOP_DATASET_CONFIG WORKSHOP_LAB_SIZE \
            WORKSHOP_MODEL_REVISION WORKSHOP_CAUSAL_MODEL_REVISION WORKSHOP_DATASET_REVISION; do
    [[ -n "${!name:-}" ]] && opts+=(--build-arg "$name=${!name}")
done
for name in WORKSHOP_MODEL WORKSHOP_CAUSAL_MODEL WORKSHOP_DATASET; do
    if [[ "${!name:-}" == /* && -z "${WORKSHOP_DATA:-}" ]]; then
        die "$name=${!name} is a local path: give the directory it comes from with WORKSHOP_DATA=DIR"
    fi
done

vcs_ref=$(git rev-parse --short HEAD 2>/dev/null || true)
WORKSHOP_VERSION="${WORKSHOP_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
WORKSHOP_VERSION="${WORKSHOP_VERSION//\//-}"
opts+=(--build-arg WORKSHOP_VERSION="$WORKSHOP_VERSION" --build-arg VCS_REF="$vcs_ref"
       --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
       --tag "$IMAGE_NAME:$FLAVOR" --tag "$IMAGE_NAME:$WORKSHOP_VERSION-$FLAVOR")
[[ -t 1 ]] || opts+=(--progress=plain)

echo "make image: building $IMAGE_NAME:$FLAVOR ($IMAGE_NAME:$WORKSHOP_VERSION-$FLAVOR) FROM $BASE_IMAGE"
# shellcheck disable=SC2086
docker buildx build --load "${opts[@]}" ${EXTRA_BUILD_ARGS:-} .
echo "make image: built $IMAGE_NAME:$FLAVOR and $IMAGE_NAME:$WORKSHOP_VERSION-$FLAVOR"
if [[ "${SKIP_SIZE:-0}" != 1 ]]; then
    python3 docker/image_size.py "$IMAGE_NAME:$FLAVOR"
fi
