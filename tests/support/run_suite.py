"""`make test`: every tier of tests/, each timed, with one closing line for the whole suite.

1. The images the Docker, hub, swarm and ops tiers run are built once, first, and handed to every
   tier (WORKSHOP_TEST_IMAGE, HUB_TEST_HUB_IMAGE): no tier rebuilds or retags an image another
   tier is using.
2. The ops tier (tests/ansible: mostly waiting on its test hosts' engines) runs beside the unit,
   Docker, labs and hub tiers, which run one after another; its output is printed when it ends.
3. The swarm tier runs alone, last: its overlay DNS failed in full runs while other tiers'
   containers came and went (commit a4863f9), and it passed alone.

Each tier writes build/tests/TIER.xml (JUnit); the table and the closing line are read from them.
Its arguments go to every pytest run (make test PYTEST_ARGS=...).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.support.helpers import BUILD, ROOT, TEST_HUB_IMAGE, TEST_IMAGE, build_test_images

REPORTS = BUILD / "tests"
SEQUENTIAL = ["unit", "docker", "labs", "hub"]
BESIDE = "ansible"
ALONE = "swarm"


def pytest_command(tier: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", f"tests/{tier}", f"--junitxml={REPORTS / f'{tier}.xml'}", *extra]


def counts(tier: str) -> tuple[int, int, int]:
    """(passed, failed, skipped) from the tier's JUnit report; a missing report counts as one failure."""
    try:
        suite = ET.parse(REPORTS / f"{tier}.xml").getroot().find("testsuite")
    except (OSError, ET.ParseError):
        return 0, 1, 0
    total, failed = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
    skipped = int(suite.get("skipped"))
    return total - failed - skipped, failed, skipped


def prebuild_images() -> int:
    """Build the test images unless the caller named images of its own (the fixtures' settings)."""
    if os.environ.get("WORKSHOP_TEST_IMAGE") and os.environ.get("HUB_TEST_HUB_IMAGE"):
        print(f"== the tiers use {os.environ['WORKSHOP_TEST_IMAGE']} and {os.environ['HUB_TEST_HUB_IMAGE']} as given")
        return 0
    started = time.monotonic()
    try:
        import docker

        docker.from_env().ping()
    except Exception as error:  # noqa: BLE001 - any failure means no usable engine: the tiers skip or fail
        print(f"== no Docker engine answers ({type(error).__name__}); the tiers that need one will say so")
        return 0
    try:
        build_test_images("workshop-cpu", "hub")
    except RuntimeError as error:
        print(f"== building the test images failed: {error}")
        return 1
    print(f"== test images built in {time.monotonic() - started:.0f} s")
    os.environ.setdefault("WORKSHOP_TEST_IMAGE", TEST_IMAGE)
    os.environ.setdefault("HUB_TEST_HUB_IMAGE", TEST_HUB_IMAGE)
    return 0


def main(extra: list[str]) -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    for stale in REPORTS.glob("*.xml"):
        stale.unlink()
    seconds: dict[str, float] = {}
    if prebuild_images() != 0:
        return 1
    beside_log = REPORTS / f"{BESIDE}.log"
    beside_started = time.monotonic()
    with open(beside_log, "w") as log:
        beside = subprocess.Popen(pytest_command(BESIDE, extra), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        for tier in SEQUENTIAL:
            print(f"\n== tests/{tier}: {shlex.join(pytest_command(tier, extra))}", flush=True)
            started = time.monotonic()
            subprocess.run(pytest_command(tier, extra), cwd=ROOT)
            seconds[tier] = time.monotonic() - started
        beside.wait()
    seconds[BESIDE] = time.monotonic() - beside_started
    print(f"\n== tests/{BESIDE} (ran beside the tiers above): its output\n{beside_log.read_text()}", flush=True)
    print(f"\n== tests/{ALONE}, alone", flush=True)
    started = time.monotonic()
    subprocess.run(pytest_command(ALONE, extra), cwd=ROOT)
    seconds[ALONE] = time.monotonic() - started

    print("\n== the suite, tier by tier (seconds are wall time; ansible ran beside unit..hub)")
    totals = [0, 0, 0]
    for tier in [*SEQUENTIAL, BESIDE, ALONE]:
        tier_counts = counts(tier)
        totals = [a + b for a, b in zip(totals, tier_counts)]
        print(f"   {tier:<8} {seconds[tier]:7.0f} s  {tier_counts[0]} passed, {tier_counts[1]} failed, "
              f"{tier_counts[2]} skipped")
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if totals[1] or not totals[0] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
