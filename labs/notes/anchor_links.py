"""`[[Anchor]]` in Markdown -> a link into the lab's `transformers-src/` and one to the release on GitHub.

Anchors inside code spans and fenced code blocks are left alone.
"""

from __future__ import annotations

import re

from notes.transformers_tree import Source, default_source

GITHUB = "https://github.com/huggingface/transformers/blob/v{version}/src/transformers/{path}#L{line}"

ANCHOR = re.compile(r"\[\[([A-Za-z_][\w.]*)(?:\|([^\]\n]+))?\]\]")
# Fenced code blocks and inline code spans are copied as they are.
_CODE = re.compile(r"(^[ \t]*```.*?^[ \t]*```[^\n]*$|`[^`\n]+`)", re.S | re.M)


def link(source: Source, anchor: str, label: str | None, link_prefix: str) -> str:
    """The two links of one anchor: the local file at `#line=N` and the same line at the release tag."""
    loc = source.resolve(anchor)
    local = f"{link_prefix.rstrip('/')}/{loc.path}#line={loc.line - 1}"  # JupyterLab: 0-based (RFC 5147)
    github = GITHUB.format(version=source.version, path=loc.path, line=loc.line)
    return f"[`{label or anchor}`]({local}) ({loc}, [v{source.version}]({github}))"


def anchors(text: str) -> list[str]:
    """The anchors in Markdown `text`, in order, without those inside code."""
    out = []
    for i, chunk in enumerate(_CODE.split(text)):
        if i % 2 == 0:
            out.extend(m.group(1) for m in ANCHOR.finditer(chunk))
    return out


def render(text: str, link_prefix: str, source: Source | None = None) -> str:
    """`text` with every `[[Anchor]]` outside code replaced by its two links.

    `link_prefix` is the relative path from the rendered file to the lab root's
    `transformers-src` symlink: "transformers-src" for a notebook, "../transformers-src"
    for a note. Raises Unresolved for an anchor the tree lacks.
    """
    source = source or default_source()
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = ANCHOR.sub(lambda m: link(source, m.group(1), m.group(2), link_prefix), parts[i])
    return "".join(parts)
