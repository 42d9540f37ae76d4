"""README.md and docs/*.md: every relative markdown link points at a file or folder that exists.

Links are ``[text](target)`` (images ``![alt](target)`` too) outside fenced code blocks and
inline code; http(s)://, mailto: and pure ``#anchor`` targets are skipped, and a ``#fragment``
is stripped before the target is resolved against the linking file's folder.
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

LINK = re.compile(
    r"""!?\[ (?: [^\[\]] | \[[^\[\]]*\] )* \]   # [text], one level of nested brackets
    \( \s* <? ([^()\s<>]+) >? (?: \s+ "[^"]*" )? \s* \)   # (target "optional title")""",
    re.VERBOSE,
)
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
SKIPPED = ("http://", "https://", "mailto:")


def doc_files() -> list[Path]:
    return [README, *sorted((REPO / "docs").glob("*.md"))]


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of each markdown link outside code."""
    found, in_fence = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            found.append((number, match.group(1)))
    return found


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """'FILE:LINE: TARGET' (FILE relative to ``root``) for each relative link of ``path``
    whose target does not exist."""
    broken = []
    for number, target in links(path.read_text(encoding="utf-8")):
        if target.startswith(SKIPPED) or target.startswith("#"):
            continue
        relative = target.split("#", 1)[0]
        if not relative or not (path.parent / relative).exists():
            broken.append(f"{path.relative_to(root)}:{number}: {target}")
    return broken


def test_link_parser_finds_links_and_reports_missing_targets(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("x")
    page.write_text(
        "[ok](there.md#part) and [gone](missing/file.md) and [web](https://example.org)\n"
        "![img](there.md) [anchor](#top) `[code](not/a/link.md)`\n"
        "```\n[fenced](not/a/link/either.md)\n```\n"
    )
    assert [t for _, t in links(page.read_text())] == [
        "there.md#part", "missing/file.md", "https://example.org", "there.md", "#top"
    ]  # fmt: skip
    assert broken_links(page, root=tmp_path) == ["page.md:1: missing/file.md"]


def test_readme_and_docs_links_resolve():
    files = doc_files()
    assert len(files) >= 6, f"expected README.md and docs/*.md pages, found {files}"
    total = sum(len(links(p.read_text(encoding="utf-8"))) for p in files)
    assert total >= 50, f"only {total} links found: is the link pattern still matching?"
    broken = [line for path in files for line in broken_links(path)]
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_readme_is_short_and_has_a_layout_section():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert "## Layout" in lines, "README.md needs a '## Layout' section"
    assert len(lines) < 200, f"README.md has {len(lines)} lines; move detail to docs/"
