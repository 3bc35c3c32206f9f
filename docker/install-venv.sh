#!/usr/bin/env bash
# The image's Python environment, /opt/venv, from the flavour's hash-checked lock (run by
# docker/Dockerfile's venv stage with FLAVOR, TARGETARCH and TORCH_CPU_INDEX set):
#   gpu  docker/requirements-gpu.lock: PyPI's torch (CUDA 13.0)
#   cpu  docker/requirements-cpu-$TARGETARCH.lock: torch's CPU build, taken from the
#        wheelhouse build context when it holds the wheel (offline builds), else from
#        PyTorch's CPU wheel index. Every file must match a hash in the lock either way.
set -euo pipefail
locks=/tmp/locks
wheelhouse=/mnt/wheelhouse
if [[ -s /run/secrets/ca ]]; then export PIP_CERT=/run/secrets/ca SSL_CERT_FILE=/run/secrets/ca; fi

lock=$locks/requirements-gpu.lock
sources=(--find-links "$wheelhouse")
if [[ $FLAVOR == cpu ]]; then
    lock=$locks/requirements-cpu-$TARGETARCH.lock
    if [[ ! -f $lock ]]; then
        echo "The cpu flavour has no lock for $TARGETARCH (docker/requirements-cpu-$TARGETARCH.lock)." >&2
        echo "Fix: make lock-cpu ARCH=$TARGETARCH where PyTorch's CPU wheel index is reachable (the release workflow does), then build again." >&2
        exit 2
    fi
    torch=$(sed -n 's/^torch==\([^ ;]*\).*/\1/p' "$lock")
    wheel="torch-$torch-cp311-cp311-manylinux_2_28_$(uname -m).whl"
    if [[ -f $wheelhouse/$wheel ]]; then
        echo "torch $torch from the wheelhouse"
    elif reason=$(python3 - "$TORCH_CPU_INDEX" 2>&1 <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=30)
except Exception as error:
    sys.exit(getattr(error, "reason", error))
PY
    ); then
        echo "torch $torch from $TORCH_CPU_INDEX"
        sources+=(--extra-index-url "$TORCH_CPU_INDEX")
    else
        echo "torch $torch: PyTorch's CPU wheel index $TORCH_CPU_INDEX cannot be reached ($reason), and no wheelhouse holds $wheel." >&2
        if [[ $reason == *CERTIFICATE_VERIFY_FAILED* ]]; then
            echo "Fix (behind a TLS-inspecting proxy): set CA_BUNDLE=FILE, the proxy's CA bundle, and build again." >&2
        else
            echo "Fix (offline): set TORCH_CPU_WHEELHOUSE=DIR, a folder holding $wheel, and build again." >&2
        fi
        exit 2
    fi
fi
python3 -m venv /opt/venv
if ! /opt/venv/bin/pip install --quiet --require-hashes --no-deps "${sources[@]}" -r "$lock" 2>/tmp/pip-errors; then
    cat /tmp/pip-errors >&2
    if grep -q CERTIFICATE_VERIFY_FAILED /tmp/pip-errors; then
        echo "pip cannot verify the package index's certificate: a TLS-inspecting proxy is in the way." >&2
        echo "Fix: set CA_BUNDLE=FILE, its CA bundle (on a Debian or Ubuntu host that trusts it: /etc/ssl/certs/ca-certificates.crt), and build again." >&2
    fi
    exit 1
fi
/opt/venv/bin/pip check
/opt/venv/bin/python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
