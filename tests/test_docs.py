"""The docs: the README stays a front door, and every relative link lands.

A link is checked the way GitHub renders it: the file must exist, and a `#anchor` must be
produced by a heading of the target markdown file (GitHub's slug: the heading's text in
lower case, punctuation other than `-` and `_` dropped, each space a `-`; a repeated heading
gets `-1`, `-2`, ...). Links in fenced code and inline code are not links; http(s), mailto and
other URLs with a scheme are not followed. The same check covers the markdown cells of the
notebooks and the docs that labkit, scripts and benchmarks cite in their prose; and every
figure of the README's benchmark table must be a figure of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

README_LIMIT_BYTES = 15_000

# The pages whose links are checked: the README, every page under docs/, the lessons' README.
MARKDOWN = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "notebooks/README.md"]
NOTEBOOKS = sorted(
    [*(REPO / "notebooks").glob("*.ipynb"), *(REPO / "labkit/pages").glob("*.ipynb")]
)

FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")
# [text](target) and ![alt](target); the text may hold parentheses, the target one level of them
LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]"
    r"\(\s*(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def outside_fences(text: str) -> list[str]:
    """The file's lines, those of fenced code blocks (fences included) emptied."""
    lines, fence = [], ""
    for line in text.splitlines():
        opening = FENCE.match(line)
        if fence:
            if opening and opening.group(1) == fence:
                fence = ""
            lines.append("")
        elif opening:
            fence = opening.group(1)
            lines.append("")
        else:
            lines.append(line)
    return lines


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every inline, image and reference link; link text may wrap."""
    lines = [
        INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line) for line in outside_fences(text)
    ]
    prose = "\n".join(lines)
    for match in LINK.finditer(prose):
        yield prose.count("\n", 0, match.start()) + 1, match.group(1).strip("<>")
    for number, line in enumerate(lines, 1):
        if reference := REFERENCE.match(line):
            yield number, reference.group(1).strip("<>")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's markdown text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image: its text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a markdown file's headings (and explicit HTML anchors) produce."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in outside_fences(text):
        found.update(HTML_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken(source: Path, target: str) -> str | None:
    """Why a link from `source` to `target` does not land, or None when it does."""
    if SCHEME.match(target):
        return None
    path_part, _, anchor = target.partition("#")
    path = (source.parent / path_part).resolve() if path_part else source
    if not path.exists():
        return f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path} does not exist"
    if anchor and path.suffix == ".md":
        if anchor not in anchors(path.read_text(encoding="utf-8")):
            return f"no heading in {path.relative_to(REPO)} makes the anchor #{anchor}"
    elif anchor and not path.is_dir():
        return f"#{anchor} points into {path.name}, which is not markdown"
    return None


def notebook_markdown(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join(
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for cell in cells
        if cell["cell_type"] == "markdown"
    )


def test_the_readme_is_a_front_door_under_15000_bytes() -> None:
    size = (REPO / "README.md").stat().st_size
    assert size <= README_LIMIT_BYTES, (
        f"README.md is {size:,} bytes, over {README_LIMIT_BYTES:,}: move the detail into a page "
        "under docs/ and link it from the README's map of the docs"
    )


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_lands(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    problems = [
        f"{page.relative_to(REPO)}:{number}: ({target}) {why}"
        for number, target in links(text)
        if (why := broken(page, target))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_in_a_notebook_lands(notebook: Path) -> None:
    problems = [
        f"{notebook.relative_to(REPO)}: ({target}) {why}"
        for _, target in links(notebook_markdown(notebook))
        if (why := broken(notebook, target))
    ]
    assert not problems, "\n".join(problems)


# docs/PAGE.md or README.md, with an optional #anchor, as code and scripts cite them in prose
CITED_DOC = re.compile(r"\b((?:docs/[\w./-]+?\.md|README\.md)(?:#[\w-]+)?)")


def test_docs_cited_in_code_exist() -> None:
    problems = []
    for folder in ("labkit", "scripts", "benchmarks"):
        for source in sorted((REPO / folder).rglob("*.py")):
            text = source.read_text(encoding="utf-8")
            for number, line in enumerate(text.splitlines(), 1):
                for cited in CITED_DOC.findall(line):
                    if why := broken(REPO / "README.md", cited):
                        problems.append(f"{source.relative_to(REPO)}:{number}: {cited}: {why}")
    assert not problems, "\n".join(problems)


def table_rows(text: str, heading: str) -> list[str]:
    """The table rows (past its header) of the section under `heading`."""
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return rows[2:]


NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})*(?:\.\d+)?(?![\w,]*\d)")


def test_the_readme_benchmark_figures_are_the_benchmarks_page_figures() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    page = (REPO / "docs/benchmarks.md").read_text(encoding="utf-8")
    rows = table_rows(readme, "## Latest benchmark figures")
    assert len(rows) >= 6, "the README's table has a line per benchmark"
    on_the_page = set(NUMBER.findall(page))
    missing = [
        f"{number} in: {row[:80]}..."
        for row in rows
        for number in NUMBER.findall(re.sub(r"\]\([^)]*\)", "]", row))  # not the link targets
        if number not in on_the_page
    ]
    assert not missing, "figures in the README that docs/benchmarks.md does not have:\n" + (
        "\n".join(missing)
    )


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("The lab: `labkit up`", "the-lab-labkit-up"),
        (
            "The dashboard page: Grafana's rows without Grafana",
            "the-dashboard-page-grafanas-rows-without-grafana",
        ),
        ("Benchmark: one process, 1,000 nodes", "benchmark-one-process-1000-nodes"),
        ("From Python: `labkit.Lab`", "from-python-labkitlab"),
        ("The compose stack (the second way to run)", "the-compose-stack-the-second-way-to-run"),
        ("PromQL answer → DataFrame", "promql-answer--dataframe"),
        ("[Linked](x.md) and snake_case", "linked-and-snake_case"),
    ],
)
def test_anchors_follow_githubs_slug(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_repeated_headings_are_numbered_and_fenced_ones_ignored() -> None:
    text = "# Notes\n\n## Notes\n\n```\n## Notes\n```\n\n## Notes ##\n"
    assert anchors(text) == {"notes", "notes-1", "notes-2"}


def test_links_wrap_and_skip_code() -> None:
    text = "see [A lab with a\npast](lab.md#a) and `[not](a.md)`\n\n```\n[nor](b.md)\n```\n![img](i.png)\n"
    assert list(links(text)) == [(1, "lab.md#a"), (7, "i.png")]
