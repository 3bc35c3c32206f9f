"""Bake the workshop's models and dataset into the image (run at build time).

Each setting (WORKSHOP_MODEL, WORKSHOP_CAUSAL_MODEL, WORKSHOP_DATASET, from build
arguments) is either
  * a Hub id: downloaded once into the Hugging Face cache under $HF_HOME, which is
    read-only at run time (HF_HUB_OFFLINE=1), the resolved commit recorded; or
  * a path under /opt/workshop/data/: copied from the `workshop-data` build context
    (--build-context workshop-data=DIR puts DIR/models/x at /opt/workshop/data/models/x),
    its files' sha256 recorded.
The record (JSON) goes into the image's MANIFEST.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

DATA_ROOT = Path("/opt/workshop/data")
SETTINGS = (
    ("WORKSHOP_MODEL", "model"),
    ("WORKSHOP_CAUSAL_MODEL", "model"),
    ("WORKSHOP_DATASET", "dataset"),
)


def fail(message: str) -> None:
    print(f"bake_models: {message}", file=sys.stderr)
    sys.exit(2)


def tree_digest(directory: Path) -> dict:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        files[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest()
    overall = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return {"sha256": overall, "files": files}


def bake_local(variable: str, value: str, context: Path) -> dict:
    target = Path(value)
    relative = target.relative_to(DATA_ROOT)
    source = context / relative
    if not source.is_dir():
        fail(
            f"{variable}={value} names a local directory, but the workshop-data build context has no "
            f"'{relative}'. Pass --build-context workshop-data=DIR where DIR/{relative} exists "
            f"(make image WORKSHOP_DATA=DIR), or set {variable} to a Hub id."
        )
    if not target.exists():
        shutil.copytree(source, target, symlinks=False)
    # Readable by the non-root user whatever the modes were (save_pretrained writes 0600 files).
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return {"source": "local", "path": value, **tree_digest(target)}


def bake_hub(variable: str, kind: str, value: str) -> dict:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    revision = os.environ.get(f"{variable}_REVISION") or "main"
    repo_type = "dataset" if kind == "dataset" else "model"
    allow = None
    if kind == "model":
        # One copy of the weights (safetensors), the tokenizer and configs: no duplicate
        # PyTorch/TF/Flax/ONNX weights.
        allow = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "merges.txt", "vocab*"]
    try:
        path = snapshot_download(value, repo_type=repo_type, revision=revision, allow_patterns=allow)
    except HfHubHTTPError as error:
        fail(
            f"{variable}={value} (revision {revision}) could not be fetched from the Hub: {error}. "
            "Check the id, pass a token for gated models (--secret id=hf_token,src=FILE), or bake a local "
            "directory instead (WORKSHOP_DATA=DIR, " + variable + "=/opt/workshop/data/...)."
        )
    except Exception as error:  # network down, proxy, ...
        fail(
            f"{variable}={value}: download failed ({type(error).__name__}: {error}). Behind a TLS-inspecting "
            "proxy pass its CA bundle (CA_BUNDLE=FILE, i.e. --secret id=ca,src=FILE); offline, bake a local "
            f"directory instead (WORKSHOP_DATA=DIR, {variable}=/opt/workshop/data/...)."
        )
    if kind == "model" and not any(Path(path).glob("*.safetensors")):
        # Older repos ship only pytorch_model.bin.
        path = snapshot_download(
            value,
            repo_type=repo_type,
            revision=revision,
            allow_patterns=["*.json", "*.bin", "*.txt", "*.model", "tokenizer*", "vocab*"],
        )
    return {"source": "hub", "id": value, "revision": revision, "commit": Path(path).name}


def warm_dataset(value: str) -> None:
    """Load the dataset once so a missing builder dependency fails the build, not a class."""
    from datasets import load_dataset

    config = os.environ.get("WORKSHOP_DATASET_CONFIG") or None
    dataset = load_dataset(value, config, cache_dir="/tmp/datasets-cache")
    print(f"bake_models: dataset {value}: {dataset}")
    shutil.rmtree("/tmp/datasets-cache", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--local-context", type=Path, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args()
    record = {}
    for variable, kind in SETTINGS:
        value = os.environ.get(variable, "").strip()
        if not value:
            fail(f"{variable} is empty: set the build argument to a Hub id or a path under {DATA_ROOT}")
        if value.startswith("/"):
            if not value.startswith(f"{DATA_ROOT}/"):
                fail(
                    f"{variable}={value}: a local directory must be given as a path under {DATA_ROOT}/ "
                    "(that is where the workshop-data build context lands in the image)"
                )
            record[variable] = bake_local(variable, value, args.local_context)
        else:
            record[variable] = bake_hub(variable, kind, value)
        print(f"bake_models: {variable}={value}: {record[variable].get('commit') or record[variable]['sha256'][:12]}")
    warm_dataset(os.environ["WORKSHOP_DATASET"])
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
