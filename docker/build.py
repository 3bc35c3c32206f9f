#!/usr/bin/env python3
"""Build the project's images: the one builder that `make image`, `make hub-image`, the
test tiers and CI all call. The images themselves are declared in docker-bake.hcl; this
script decides what bake cannot, then runs `docker buildx bake --load`:

    python3 docker/build.py TARGET [TARGET ...] [--size] [--push | --print] [-- BAKE OPTIONS]

TARGET is a target of docker-bake.hcl: workshop-gpu, workshop-cpu, hub.

* the base image: BASE_IMAGE=NAME for every target, else docker-bake.hcl's default; when
  that default can be neither found nor pulled, a local Debian 12 base
  ($WORKSHOP_BASE_IMAGE, default trainer-workshop-base:bookworm), built from Debian's
  archive with docker/make-base-image.sh if it is missing and this is root;
* the CA bundle of a TLS-inspecting proxy: CA_BUNDLE, else $PIP_CERT or $SSL_CERT_FILE,
  handed to the build as a secret (never stored in a layer);
* where workshop-cpu takes torch's CPU build from: TORCH_CPU_WHEELHOUSE, else pip's
  configured find-links, else PyTorch's CPU wheel index (TORCH_CPU_INDEX, the Dockerfile's
  default);
* the platform: PLATFORMS (linux/amd64, linux/arm64, or both with --push), else this
  engine's; a platform other than this host's is built under emulation (qemu-user-static);
* --push (the release): push to the registry named in IMAGE_NAME / HUB_IMAGE_NAME with
  provenance and an SBOM attached, instead of loading into the engine; --print shows that
  plan without building;
* version and provenance: WORKSHOP_VERSION (default: git describe), VCS_REF, BUILD_DATE.

Every other setting (IMAGE_NAME, WORKSHOP_MODEL, WORKSHOP_DATA, HF_TOKEN_FILE, ...) is a
docker-bake.hcl variable, read from the environment as it is. Exit 2, with the fix, for
bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAKE_FILE = ROOT / "docker-bake.hcl"
LOCAL_BASE = os.environ.get("WORKSHOP_BASE_IMAGE", "trainer-workshop-base:bookworm")
# Attached to pushed images: how they were built (SLSA provenance) and what is in them (SBOM).
ATTESTATIONS = ("type=provenance,mode=max", "type=sbom")
# Settings that may name a directory baked in from WORKSHOP_DATA.
BAKED_PATHS = ("WORKSHOP_MODEL", "WORKSHOP_CAUSAL_MODEL", "WORKSHOP_DATASET")


class BuildError(Exception):
    """Bad input: what was wrong and what to do."""


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, cwd=ROOT, **kwargs)


def pip_config(key: str) -> str:
    out = subprocess.run([sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def bake_targets(names: list[str], env: dict[str, str]) -> dict[str, dict]:
    """The targets as docker-bake.hcl resolves them with this environment."""
    out = docker("buildx", "bake", "-f", str(BAKE_FILE), "--print", *names, env=env)
    if out.returncode != 0:
        known = docker(
            "buildx", "bake", "-f", str(BAKE_FILE), "--print", "workshop-gpu", "workshop-cpu", "hub", env=env
        )
        listed = ", ".join(json.loads(known.stdout)["target"]) if known.returncode == 0 else "see docker-bake.hcl"
        raise BuildError(
            f"docker-bake.hcl has no image {' '.join(names)} ({out.stderr.strip().splitlines()[-1]}). "
            f"Images: {listed} (make image FLAVOR=cpu|gpu, make hub-image)"
        )
    return json.loads(out.stdout)["target"]


def usable(image: str, platform: str) -> bool:
    """On this engine already for `platform` (os/arch), or pullable now."""
    local = docker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", image)
    if local.returncode == 0 and local.stdout.strip() == platform:
        return True
    pull = docker("pull", "-q", "--platform", platform, image, timeout=int(os.environ.get("PULL_TIMEOUT", "300")))
    return pull.returncode == 0


def native_arch() -> str:
    out = docker("version", "--format", "{{.Server.Arch}}")
    return out.stdout.strip() or "amd64"


def local_base(arch: str) -> str:
    """The Debian 12 base built from Debian's archive, for hosts that cannot pull (NAME-ARCH
    for a platform other than the engine's)."""
    name = LOCAL_BASE if arch == native_arch() else f"{LOCAL_BASE}-{arch}"
    if docker("image", "inspect", name).returncode == 0:
        return name
    if os.geteuid() == 0 and shutil.which("debootstrap"):
        subprocess.run(
            [str(ROOT / "docker" / "make-base-image.sh"), name], check=True, env=dict(os.environ, BASE_ARCH=arch)
        )
        return name
    raise BuildError(
        "no usable base image. Pass BASE_IMAGE=NAME (a Debian 12 or Ubuntu 24.04 image this engine has), "
        f"or build one from Debian's archive: sudo apt-get install debootstrap && sudo BASE_ARCH={arch} "
        f"docker/make-base-image.sh {name}"
    )


def choose_bases(targets: dict[str, dict], platforms: list[str]) -> list[str]:
    """`--set` options that replace a base image nobody can pull with the local one (one
    platform only: a multi-platform push needs bases from a registry)."""
    wanted = os.environ.get("BASE_IMAGE", "")
    arch = platforms[0].split("/")[1] if len(platforms) == 1 else native_arch()
    sets = []
    for name, target in targets.items():
        base = wanted or target["args"]["BASE_IMAGE"]
        if usable(base, f"linux/{arch}"):
            if wanted:
                sets.append(f"{name}.args.BASE_IMAGE={wanted}")
            continue
        if wanted:
            raise BuildError(
                f"BASE_IMAGE={wanted} is neither on this engine nor pullable. Pass another, or build a "
                f"local Debian 12 base: sudo docker/make-base-image.sh {LOCAL_BASE}, then BASE_IMAGE={LOCAL_BASE}"
            )
        if len(platforms) > 1:
            raise BuildError(
                f"{name}: the base image {base} cannot be pulled, and PLATFORMS={','.join(platforms)} "
                "needs it from a registry. Build one platform at a time here (PLATFORMS=linux/ARCH)"
            )
        chosen = local_base(arch)
        print(f"build: {name}: the base image {base} cannot be pulled here; using the local Debian 12 base {chosen}")
        sets.append(f"{name}.args.BASE_IMAGE={chosen}")
    return sets


def requested_platforms(push: bool) -> list[str]:
    """PLATFORMS, checked: --load takes one platform, --push any of linux/amd64 and linux/arm64."""
    platforms = [p.strip() for p in os.environ.get("PLATFORMS", "").split(",") if p.strip()]
    unknown = [p for p in platforms if p not in ("linux/amd64", "linux/arm64")]
    if unknown:
        raise BuildError(
            f"PLATFORMS={','.join(platforms)}: {', '.join(unknown)} is not built; use linux/amd64, linux/arm64 or both"
        )
    if len(platforms) > 1 and not push:
        raise BuildError(
            f"PLATFORMS={','.join(platforms)}: the engine loads one platform at a time; "
            "give one (PLATFORMS=linux/arm64), or push them together (make publish)"
        )
    return platforms


def settings(targets: list[str]) -> dict[str, str]:
    """The environment bake reads its variables from, with this script's defaults filled in."""
    env = dict(os.environ)
    env.pop("BASE_IMAGE", None)  # handled per target by choose_bases
    ca = env.get("CA_BUNDLE") or env.get("PIP_CERT") or env.get("SSL_CERT_FILE") or ""
    if ca and not os.access(ca, os.R_OK):
        raise BuildError(f"CA_BUNDLE={ca} is not a readable file (it is the CA bundle of your TLS-inspecting proxy)")
    env["CA_BUNDLE"] = ca
    if "workshop-cpu" in targets and not env.get("TORCH_CPU_WHEELHOUSE"):
        env["TORCH_CPU_WHEELHOUSE"] = pip_config("global.find-links")
    wheelhouse = env.get("TORCH_CPU_WHEELHOUSE", "")
    if wheelhouse and not Path(wheelhouse).is_dir():
        raise BuildError(
            f"TORCH_CPU_WHEELHOUSE={wheelhouse} is not a directory (it holds torch's CPU wheel for offline builds)"
        )
    data = env.get("WORKSHOP_DATA", "")
    if data and not Path(data).is_dir():
        raise BuildError(f"WORKSHOP_DATA={data} is not a directory")
    for name in BAKED_PATHS:
        if env.get(name, "").startswith("/") and not data:
            raise BuildError(
                f"{name}={env[name]} is a local path: give the directory it comes from with WORKSHOP_DATA=DIR"
            )
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()  # noqa: E731
    env.setdefault("VCS_REF", git("rev-parse", "--short", "HEAD"))
    version = env.get("WORKSHOP_VERSION") or git("describe", "--tags", "--always", "--dirty") or "dev"
    # A release tag v1.2.3 names the images 1.2.3-FLAVOR, the tag compose.yaml pulls.
    env["WORKSHOP_VERSION"] = re.sub(r"^v(?=\d)", "", version).replace("/", "-")
    env.setdefault("BUILD_DATE", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if env.get("GITHUB_REPOSITORY"):
        env.setdefault("SOURCE_URL", f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env['GITHUB_REPOSITORY']}")
    return env


def build(targets: list[str], bake_options: list[str] = (), size: bool = False, mode: str = "load") -> list[str]:
    """Build the targets and load them (mode "load"), push them with attestations ("push"), or
    print that plan ("print"); returns the tags."""
    if docker("info").returncode != 0:
        raise BuildError(
            "no Docker engine answers (docker info failed). Start Docker; on a Debian CI host see .ci/run."
        )
    if docker("buildx", "version").returncode != 0:
        raise BuildError("docker buildx is missing (Debian: apt-get install docker-buildx)")
    env = settings(targets)
    platforms = requested_platforms(mode != "load")
    resolved = bake_targets(targets, env)
    command = ["docker", "buildx", "bake", "-f", str(BAKE_FILE), *targets]
    sets = [f"*.platform={','.join(platforms)}"] if platforms else []
    if mode == "load":
        command.append("--load")
        sets += choose_bases(resolved, platforms)
    else:
        command.append("--push" if mode == "push" else "--print")
        sets += [f"*.attest={attestation}" for attestation in ATTESTATIONS]
    command += [option for item in sets for option in ("--set", item)]
    if not sys.stdout.isatty():
        command.append("--progress=plain")
    command += list(bake_options)
    tags = [tag for target in resolved.values() for tag in target["tags"]]
    where = f"{', '.join(platforms) or native_arch()}, {mode}"
    print(f"build: {', '.join(targets)} -> {', '.join(tags)} (version {env['WORKSHOP_VERSION']}; {where})", flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    if size and mode == "load":
        for target in resolved.values():
            subprocess.run([sys.executable, str(ROOT / "docker" / "image_size.py"), target["tags"][0]], check=True)
    return tags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="+", help="docker-bake.hcl targets: workshop-gpu, workshop-cpu, hub")
    parser.add_argument("--size", action="store_true", help="print each image's size (uncompressed and as pulled)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--push",
        dest="mode",
        action="store_const",
        const="push",
        help="push to the registry in IMAGE_NAME/HUB_IMAGE_NAME with provenance and an SBOM (the release)",
    )
    how.add_argument(
        "--print", dest="mode", action="store_const", const="print", help="print the push plan, build nothing"
    )
    args, bake_options = parser.parse_known_args(argv)
    try:
        build(args.targets, [o for o in bake_options if o != "--"], args.size, args.mode or "load")
    except BuildError as error:
        print(f"build: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        return error.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
