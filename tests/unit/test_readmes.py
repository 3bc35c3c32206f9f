"""The READMEs stay short at the top, one per folder, and true: their links resolve and their make commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.helpers import ROOT

# The top README is a map, not a manual: the details live in each folder's own README.
TOP_README_MAX_LINES = 120
# Each folder has a README; only these are searched for more, since .venv, build/ and caches hold others' READMEs.
FOLDERS = ("docker", "hub", "labs", "ansible", "tests")

LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCED_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
MAKE_COMMAND = re.compile(r"(?:^|[\s;&|(])make\s+(?:[A-Z_]+=\S+\s+)*([a-z][a-z0-9-]*)")
MAKEFILE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", re.MULTILINE)


def readmes() -> list[Path]:
    found = [ROOT / "README.md"]
    for folder in FOLDERS:
        found += sorted((ROOT / folder).rglob("README.md"))
    return found


def code_in(text: str) -> list[str]:
    """The fenced blocks and inline code spans: where a README gives a command to run."""
    blocks = FENCED_BLOCK.findall(text)
    return blocks + INLINE_CODE.findall(FENCED_BLOCK.sub("", text))


def make_targets() -> set[str]:
    """The Makefile's explicit targets, and test-TIER for each tier its `test-%` rule accepts."""
    makefile = (ROOT / "Makefile").read_text()
    tiers = re.search(r"^TIERS := (.*)$", makefile, re.MULTILINE)[1].split()
    return set(MAKEFILE_TARGET.findall(makefile)) | {f"test-{tier}" for tier in tiers}


def test_the_top_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= TOP_README_MAX_LINES, f"README.md has {len(lines)} lines, at most {TOP_README_MAX_LINES}"


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_folder_has_a_readme(folder):
    assert (ROOT / folder / "README.md").is_file()


@pytest.mark.parametrize("readme", readmes(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(readme):
    broken = []
    for target in LINK.findall(readme.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if not (readme.parent / path).exists():
            broken.append(target)
    assert not broken, f"{readme.relative_to(ROOT)}: links to missing files: {broken}"


@pytest.mark.parametrize("readme", readmes(), ids=lambda path: str(path.relative_to(ROOT)))
def test_make_commands_are_makefile_targets(readme):
    targets = make_targets()
    named = {target for code in code_in(readme.read_text()) for target in MAKE_COMMAND.findall(code)}
    assert not named - targets, f"{readme.relative_to(ROOT)}: not Makefile targets: {sorted(named - targets)}"


def test_the_checks_see_what_they_check():
    """The patterns find links and make commands in a README shaped like ours, so the tests above can fail."""
    sample = "See [the labs](labs/README.md).\n\n```bash\nmake nosuch ARGS=x\n```\n\nRun `FLAVOR=cpu make image`."
    assert LINK.findall(sample) == ["labs/README.md"]
    assert [target for code in code_in(sample) for target in MAKE_COMMAND.findall(code)] == ["nosuch", "image"]
    assert {"test", "test-fast", "test-hub", "image", "provision"} <= make_targets()
