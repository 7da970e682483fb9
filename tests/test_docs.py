"""The docs: every relative link in README.md and docs/*.md resolves (its file, and its
#anchor where one is given), and the generated docs are current."""
import glob
import os
import re

import pytest

from began_fast import doc_tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(    |\t)")          # indented code blocks: their brackets are code


def prose(path: str) -> str:
    """The page without its indented code blocks and inline code spans."""
    lines = [line for line in open(path, encoding="utf-8").read().split("\n") if not FENCE.match(line)]
    return re.sub(r"`[^`]*`", "", "\n".join(lines))


def anchors(path: str) -> set:
    """GitHub's anchors for a page's headings: lower case, punctuation but - and _ dropped,
    spaces to hyphens, a repeated heading numbered -1, -2, ..."""
    seen, found = {}, set()
    for line in prose(path).split("\n"):
        heading = re.match(r"#{1,6} (.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: str) -> list:
    return [target for target in LINK.findall(prose(path)) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        file, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), file)) if file else page
        if not os.path.exists(resolved):
            broken.append(f"{target}: no file {os.path.relpath(resolved, ROOT)}")
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {os.path.relpath(resolved, ROOT)}")
    assert not broken, f"{os.path.relpath(page, ROOT)}: " + "; ".join(broken)


def test_the_link_checker_sees_a_broken_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page's title\n\n[ok](#a-pages-title) [bad](#nowhere)\n\n    [code](nowhere.md)\n")
    assert relative_links(str(page)) == ["#a-pages-title", "#nowhere"]
    assert anchors(str(page)) == {"a-pages-title"}


@pytest.mark.parametrize("name", sorted(doc_tables.GENERATED))
def test_generated_docs_are_current(name):
    """Regenerate with `python -m began_fast.doc_tables` after changing what they come from."""
    with open(os.path.join(ROOT, "docs", name), encoding="utf-8") as f:
        assert f.read() == doc_tables.GENERATED[name](), f"docs/{name} is stale: run python -m began_fast.doc_tables"
