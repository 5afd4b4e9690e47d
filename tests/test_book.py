"""The book (lzsc.book): docstrings made safe for reST, links, the errata list, and real builds that fail
on a broken link."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from html import unescape
from pathlib import Path

import pytest

from lzsc.book import _escape, _sections, _unlink, build, errata
from lzsc.claims import results_dir

needs_book = pytest.mark.skipif(
    importlib.util.find_spec("jupyter_book") is None,
    reason="Jupyter Book is not installed: pip install -e '.[book]'",
)


class TestEscape:
    def test_bars_and_products_outside_literals(self) -> None:
        assert _escape("|x| <= theta and a * b") == r"\|x\| <= theta and a \* b"

    def test_literals_roles_and_bold_are_kept(self) -> None:
        line = "``x*y|z`` :math:`|a|` **bold**"
        assert _escape(line) == line


class TestLinks:
    def test_repository_files_become_code_text(self) -> None:
        pages = {"notebooks/01_x.ipynb"}
        text = "[ledger](results/claims.csv), [01](notebooks/01_x.ipynb), [web](https://a.org), "
        text += "[`docs/c.md`](docs/c.md)"
        assert _unlink(text, pages) == (
            "ledger (`results/claims.csv`), [01](notebooks/01_x.ipynb), [web](https://a.org), `docs/c.md`"
        )

    def test_sections_by_title(self) -> None:
        text = "# T\n\nintro\n\n## Results: a\n\nA\n\n## Speed\n\nS\n\n## Results: b\n\nB\n"
        assert _sections(text, ("Results",)) == "## Results: a\n\nA\n\n## Results: b\n\nB\n"


def _notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    nb = {
        "cells": [
            {"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": text.splitlines(keepends=True)}
            | ({"outputs": [], "execution_count": None} if kind == "code" else {})
            for i, (kind, text) in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb), encoding="utf-8")


def test_errata_are_collected_whole_and_in_order(tmp_path: Path) -> None:
    first = tmp_path / "00_a.ipynb"
    _notebook(
        first,
        [("markdown", "# 00 · A\n\n> **Paper erratum (eq. 6).** Printed even.\n> It is odd.\n\nAfter.")],
    )
    second = tmp_path / "01_b.ipynb"
    _notebook(
        second, [("markdown", "> **Paper erratum (Fig. 10).** One.\n> **Paper erratum (release).** Two.")]
    )
    found = errata([first, second])
    assert [(p.name, t) for p, t in found] == [
        ("00_a.ipynb", "> **Paper erratum (eq. 6).** Printed even.\n> It is odd."),
        ("01_b.ipynb", "> **Paper erratum (Fig. 10).** One."),
        ("01_b.ipynb", "> **Paper erratum (release).** Two."),
    ]


def _tiny_repo(root: Path, link: str) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "README.md").write_text("# tiny\n\n## Notebooks\n\nSee [the ledger](results/claims.csv).\n")
    shutil.copytree(results_dir(), root / "results")
    _notebook(
        root / "notebooks" / "00_tiny.ipynb",
        [
            ("markdown", f"# 00 · Tiny\n\n[next]({link})"),
            ("markdown", "## Notation\n\n| a | b |\n|---|---|\n| $x$ | y |"),
            ("code", "1 + 1"),
        ],
    )
    return root


@needs_book
@pytest.mark.data
@pytest.mark.slow
class TestBuild:
    def test_a_broken_link_fails_and_a_good_one_builds(self, lzsc_data: Path, tmp_path: Path) -> None:
        bad = _tiny_repo(tmp_path / "bad", "01_missing.ipynb")
        with pytest.raises(RuntimeError, match="01_missing"):
            build(tmp_path / "bad-book", repo=bad, api=False)
        good = _tiny_repo(tmp_path / "good", "https://example.org")
        index = build(tmp_path / "good-book", repo=good, api=False)
        assert (index.parent / "notebooks" / "00_tiny.html").is_file()

    def test_the_suite_builds_with_hidden_assertions_and_its_images(
        self, lzsc_data: Path, tmp_path: Path
    ) -> None:
        index = build(tmp_path / "book")
        html = index.parent
        for page in ("notation", "errata", "results", "claims", "api"):
            assert (html / f"{page}.html").is_file(), page
        src = tmp_path / "book" / "src"  # what the build read
        for nb in sorted((src / "notebooks").glob("*.ipynb")):
            page = (html / "notebooks" / f"{nb.stem}.html").read_text(encoding="utf-8")
            text = unescape(re.sub(r"<[^>]+>", "", page))  # what the reader sees, code highlighting undone
            cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
            shown = next(
                "".join(c["source"]).splitlines()[0]
                for c in cells
                if c["cell_type"] == "code" and not c.get("metadata", {}).get("tags")
            )
            assert shown in text, f"{nb.stem}: the check cannot see code: {shown!r}"
            for image in re.findall(r'<img[^>]*src="([^"]+)"', page):
                if not image.startswith("data:"):
                    assert (html / "notebooks" / image).resolve().is_file(), f"{nb.stem}: missing {image}"
            hidden = [
                "".join(c["source"])
                for c in cells
                if "remove-input" in c.get("metadata", {}).get("tags", [])
                and "assert" in "".join(c["source"])
            ]
            for source in hidden:
                first = next(line.strip() for line in source.splitlines() if "assert" in line)
                assert first not in page.replace("&quot;", '"').replace("&#39;", "'"), (
                    f"{nb.stem} shows: {first}"
                )
        assert "not reproducible here" in (html / "claims.html").read_text(encoding="utf-8")
