"""The book: a static site of the executed notebooks, the errata, the results, the claims ledger and the API.

:func:`stage` lays the book's sources out in one folder, from what the repository already holds: the
landing page (the README's title and its "Notebooks" and "Deviations" sections), the committed,
executed notebooks (copied: nothing is executed again), the notation table of ``00_overview``, every
"Paper erratum" box of the notebooks in one list with a link to its notebook, the README's results
sections, the claims ledger (:mod:`lzsc.claims`) and the API reference (Sphinx autodoc of every module).
:func:`build` runs Jupyter Book on it with warnings as errors, so a broken cross-reference between
pages or notebooks, a missing image or a docstring Sphinx cannot parse fails the build. The front end
is ``lzsc book`` (:mod:`lzsc.cli.book`); the site opens from the file system (``index.html``).

Jupyter Book 1 (Sphinx + MyST-NB) because it honours the cell tags the notebooks already carry
(``remove-input`` hides an assertion cell's code, ``hide-input`` collapses a solution), renders
notebooks from their stored outputs (``execute_notebooks: off``), makes a static site with no server,
and builds the API reference from the docstrings with Sphinx's autodoc, whose maths renders.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .atomic import write_text_atomic
from .claims import STATUSES, Claim, build_claims
from .notebooks import discover

__all__ = ["build", "claims_page", "errata", "stage"]

_REPO = Path(__file__).resolve().parents[1]
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
_ERRATUM = "> **Paper erratum ("

_CONFIG = """\
title: "lzsc: l0 sparse coding, unrolling and FNet image fusion"
author: the lzsc authors
only_build_toc_files: true
execute:
  execute_notebooks: "off"
parse:
  myst_enable_extensions: [dollarmath, amsmath]
sphinx:
  extra_extensions: [sphinx.ext.autodoc, sphinx.ext.napoleon, lzsc.book]
  config:
    autodoc_member_order: bysource
    autodoc_typehints: description
    html_show_copyright: false
    nb_merge_streams: true
"""


def _unlink(markdown: str, pages: set[str]) -> str:
    """Keep links to web addresses and book pages; turn links to repository files into code text."""

    def replace(match: re.Match) -> str:
        text, target = match.groups()
        if target.startswith(("http://", "https://", "#")) or target.split("#")[0] in pages:
            return match.group(0)
        return f"{text} (`{target}`)" if text.strip("`") != target else f"`{target}`"

    return _LINK.sub(replace, markdown)


def _sections(markdown: str, titles: tuple[str, ...]) -> str:
    """The README's level-2 sections whose title starts with one of ``titles``, in order."""
    parts = re.split(r"(?m)^(?=## )", markdown)
    return "".join(p for p in parts if p.startswith("## ") and p[3:].startswith(titles))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _title(path: Path) -> str:
    first = "".join(_cells(path)[0]["source"]).splitlines()[0]
    return first.lstrip("# ").strip()


def errata(notebooks: list[Path]) -> list[tuple[Path, str]]:
    """Every "Paper erratum" box of the notebooks: (notebook, the block quote's text), in suite order."""
    found = []
    for path in notebooks:
        for cell in _cells(path):
            if cell["cell_type"] != "markdown":
                continue
            lines = "".join(cell["source"]).splitlines()
            for i, line in enumerate(lines):
                if line.startswith(_ERRATUM):
                    block = [line]
                    block += [nxt for nxt in _takewhile_quote(lines[i + 1 :])]
                    found.append((path, "\n".join(block)))
    return found


def _takewhile_quote(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        if not line.startswith(">") or line.startswith(_ERRATUM):
            break
        out.append(line)
    return out


def _short(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _note(claim: Claim) -> str:
    """A ledger row's last column: the reason, and for a direction (Table III) which way each went."""
    if claim.where == "Table III":
        return claim.protocol + (f"; {claim.reason}" if claim.reason else "")
    return claim.reason


def claims_page(claims: list[Claim]) -> str:
    """The ledger as a page: counts per paper and status, then one table per paper and place."""
    papers = list(dict.fromkeys(c.paper for c in claims))
    lines = [
        "# Claims ledger",
        "",
        "Every numbered claim of the three papers the suite touches, next to lzsc's value:",
        "`results/claims.csv`, written by `lzsc claims` from the committed files in `results/` (nothing",
        "recomputed). A value within 0.01 of the printed one (1 % for values above 1) is **reproduced**; the",
        "other statuses are",
        "**deviation explained** (the reason is given), **not reproduced** and **not reproducible here**",
        "(missing weights, data or hardware). Definitions: `lzsc.claims`.",
        "",
        "| paper | " + " | ".join(STATUSES) + " |",
        "|---" * (len(STATUSES) + 1) + "|",
    ]
    for paper in papers:
        counts = [sum(c.paper == paper and c.status == s for c in claims) for s in STATUSES]
        lines.append(f"| {paper} | " + " | ".join(map(str, counts)) + " |")
    for paper in papers:
        for where in dict.fromkeys(c.where for c in claims if c.paper == paper):
            rows = [c for c in claims if c.paper == paper and c.where == where]
            first = rows[0]
            origin = f"`results/{first.source}`" if first.source.endswith(".csv") else first.source or "none"
            lines += ["", f"## {paper}, {where}", "", f"Source: {origin}; scale: {first.scale or 'n/a'}.", ""]
            lines += ["| set | quantity | paper | lzsc | status | note |", "|---|---|---|---|---|---|"]
            lines += [
                f"| {c.dataset} | {c.quantity} | {_short(c.paper_value)} | {_short(c.lzsc_value)} "
                f"| {c.status} | {_note(c)} |"
                for c in rows
            ]
    return "\n".join(lines) + "\n"


def _api_page() -> str:
    """Every module's docstring and the members it defines; a package shows its docstring only (its
    members are documented where they are defined, so that every cross-reference has one target)."""
    import lzsc

    found = [
        info
        for info in pkgutil.walk_packages(lzsc.__path__, "lzsc.")
        if not info.name.startswith(("lzsc.cli", "lzsc.__main__"))
    ]
    lines = ["# API reference", "", "Every module of `lzsc`, from its docstrings.", ""]
    for info in sorted(found, key=lambda i: i.name):
        importlib.import_module(info.name)
        options = [] if info.ispkg else ["   :members:", "   :ignore-module-all:"]
        lines += [
            f"## `{info.name}`",
            "",
            "```{eval-rst}",
            f".. automodule:: {info.name}",
            *options,
            "```",
            "",
        ]
    return "\n".join(lines)


_LITERAL = re.compile(r"(``.+?``|:\w+:`[^`]+`)")


def _escape(line: str) -> str:
    """``|`` and a lone ``*`` outside literals and roles, escaped: docstrings write |x| for an absolute
    value and a * b for a product, which reST would read as a substitution and an emphasis."""
    parts = _LITERAL.split(line)
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"(?<!\*)\*(?!\*)", r"\\*", parts[i].replace("|", "\\|"))
    return "".join(parts)


def _escape_docstring(
    app: object, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    """autodoc hook: :func:`_escape` on every docstring line."""
    lines[:] = [_escape(line) for line in lines]


def setup(app: object) -> dict[str, bool]:
    """Sphinx extension hook (the book's ``_config.yml`` loads ``lzsc.book``): :func:`_escape_docstring`."""
    app.connect("autodoc-process-docstring", _escape_docstring)  # type: ignore[attr-defined]
    return {"parallel_read_safe": True}


def stage(out: str | Path, repo: str | Path | None = None, api: bool = True) -> Path:
    """Write the book's sources to ``out`` (emptied first) and return it; needs the papers' tables.

    ``repo`` is the repository to read (default: this one); ``api=False`` leaves out the API page."""
    root = Path(repo) if repo is not None else _REPO
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    notebooks = discover(root / "notebooks")
    for path in notebooks:
        shutil.copy2(path, out / "notebooks" / path.name)
    pages = {f"notebooks/{p.name}" for p in notebooks}
    readme = (root / "README.md").read_text(encoding="utf-8")
    title = readme.splitlines()[0]
    links = "\n".join(f"- [{_title(p)}](notebooks/{p.name})" for p in notebooks)
    intro = f"{title}\n\n{links}\n\n" + _sections(readme, ("Notebooks", "Deviations", "Conventions"))
    write_text_atomic(out / "intro.md", _unlink(intro, pages))
    notation = next(
        "".join(c["source"])
        for c in _cells(notebooks[0])
        if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("## Notation")
    )
    source = f"From [{_title(notebooks[0])}](notebooks/{notebooks[0].name}).\n\n"
    table = _unlink(notation.replace("## Notation", "##", 1), pages)
    write_text_atomic(out / "notation.md", f"# Notation\n\n{source}{table}")
    boxes = errata(notebooks)
    body = "\n\n".join(f"From [{_title(p)}](notebooks/{p.name}):\n\n{text}" for p, text in boxes)
    write_text_atomic(
        out / "errata.md", f"# Paper errata\n\n{len(boxes)} boxes in the notebooks.\n\n{body}\n"
    )
    write_text_atomic(out / "results.md", "# Results\n\n" + _unlink(_sections(readme, ("Results",)), pages))
    write_text_atomic(out / "claims.md", claims_page(build_claims(root / "results")))
    if api:
        write_text_atomic(out / "api.md", _api_page())
    write_text_atomic(out / "_config.yml", _CONFIG)
    chapters = "".join(f"  - file: notebooks/{p.stem}\n" for p in notebooks)
    extra = "".join(
        f"  - file: {page}\n" for page in ("notation", "errata", "results", "claims", "api")[: 4 + api]
    )
    write_text_atomic(out / "_toc.yml", f"format: jb-book\nroot: intro\nchapters:\n{chapters}{extra}")
    return out


def build(out: str | Path, repo: str | Path | None = None, api: bool = True, quiet: bool = True) -> Path:
    """Stage the book under ``out/src`` and build it to ``out/_build/html``; return ``index.html``.

    Warnings are errors (Jupyter Book's ``-W``): a broken link, a missing image or an unparsable
    docstring fails with ``RuntimeError`` carrying the build's log.
    """
    if importlib.util.find_spec("jupyter_book") is None:
        raise FileNotFoundError(
            "Jupyter Book is not installed: pip install -e '.[book]' (or 'jupyter-book<2')"
        )
    out = Path(out)
    src = stage(out / "src", repo, api)
    main = "from jupyter_book.cli.main import main; main()"
    cmd = [sys.executable, "-c", main, "build", str(src), "--path-output", str(out), "-W", "--keep-going"]
    cmd += ["-q"] if quiet else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    index = out / "_build" / "html" / "index.html"
    if done.returncode != 0 or not index.is_file():
        raise RuntimeError(
            f"the book did not build ({' '.join(cmd)}):\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
        )
    return index
