"""Write /opt/workshop/MANIFEST.json at build time: what this image holds."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path


def main(root: Path) -> None:
    import torch

    labs = root / "labs"
    manifest = {
        "image": "trainer-workshop",
        "flavor": os.environ.get("WORKSHOP_FLAVOR"),
        "version": os.environ.get("WORKSHOP_VERSION"),
        "build_date": os.environ.get("BUILD_DATE"),
        "vcs_ref": os.environ.get("VCS_REF") or None,
        "base_image": os.environ.get("BASE_IMAGE"),
        "python": platform.python_version(),
        "torch": {"version": torch.__version__, "cuda": torch.version.cuda},
        "settings": {
            k: v for k, v in sorted(os.environ.items()) if k.startswith("WORKSHOP_") and k != "WORKSHOP_VERSION"
        },
        "models": json.loads((root / "models.json").read_text()),
        "packages": {
            d.metadata["Name"].lower(): d.version
            for d in sorted(metadata.distributions(), key=lambda d: d.metadata["Name"].lower())
        },
        "labs": {
            str(p.relative_to(labs)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(labs.rglob("*"))
            if p.is_file() and not p.is_symlink()
        },
    }
    (root / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"manifest: {len(manifest['packages'])} packages, torch {torch.__version__}, {len(manifest['labs'])} lab files"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
