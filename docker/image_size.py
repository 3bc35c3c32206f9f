"""Print a workshop image's size: uncompressed (on disk, as `docker images` shows) and
compressed as pulled (each layer gzip-compressed, as a registry stores it).

    python3 docker/image_size.py IMAGE [--no-compressed]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tarfile
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor


def human(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def gzip_size(archive: str, name: str) -> int:
    """Bytes of one layer after gzip at the default level (what `docker push` sends)."""
    with tarfile.open(archive) as tar:
        source = tar.extractfile(name)
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        total = 0
        while chunk := source.read(1 << 22):
            total += len(compressor.compress(chunk))
        return total + len(compressor.flush())


def layer_names(archive: str) -> list[str]:
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    return list(dict.fromkeys(layer for entry in manifest for layer in entry["Layers"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image")
    parser.add_argument(
        "--no-compressed", action="store_true", help="skip the compressed figure (it takes a minute or two)"
    )
    args = parser.parse_args()
    info = json.loads(subprocess.check_output(["docker", "image", "inspect", args.image]))[0]
    print(f"image size {args.image}: {human(info['Size'])} uncompressed ({len(info['RootFS']['Layers'])} layers)")
    if args.no_compressed:
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/var/tmp")) as tmp:
        archive = os.path.join(tmp, "image.tar")
        subprocess.run(["docker", "save", "-o", archive, args.image], check=True)
        names = layer_names(archive)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:  # zlib releases the GIL
            sizes = list(pool.map(lambda name: gzip_size(archive, name), names))
    print(f"image size {args.image}: {human(sum(sizes))} compressed, as pulled (gzip per layer)")


if __name__ == "__main__":
    main()
