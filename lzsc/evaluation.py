"""Evaluate a fusion model on the paper's test sets with the metrics of ``lzsc.metrics``.

For each pair: fuse (or take an already fused image), save the 8-bit result, re-read it, and compute
every metric on the grey of the saved image against the grey sources, as the reference evaluator
does. How to fuse, save and measure is the protocol, ``default`` or ``paper`` (:mod:`lzsc.protocols`;
the facts behind both in ``docs/conventions.md``); the test sets are the registry's
(:mod:`lzsc.datasets`).

Fused images are cached under ``cache_dir/<model hash>/<protocol>/<dataset>/`` so a second evaluation
does not fuse again, and per-pair rows are added to a CSV (atomically) as they are computed so that an
interrupted run restarts where it stopped. Rows are keyed by data set, pair, protocol, readers and
what made the fused images: the model's hash, or for a folder of fused images the hash of those
files' contents, so a row is reused only for the very same images. A run never drops rows it did not
recompute (a limited run leaves the other pairs' rows in place), and never writes into a file that is
not a CSV of rows (:func:`check_rows_file`). Introduced in ``notebooks/08_reproduce_table1.ipynb``.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from .atomic import append_csv, atomic_open
from .datasets import Paper, dataset_dirs, lookup
from .fusion import check_limit, fuse_files
from .io import IMAGE_SUFFIXES, ImageError, pair_files, read_gray_u8, save_image
from .methods.registry import get_method
from .metrics import METRIC_NAMES, compute_all
from .protocols import CONVENTIONS, EvalProtocol, ProtocolName, get_protocol
from .reference import TABLE_NAMES, best_competitor, paper_metrics, paper_value, reports

__all__ = [
    "EvalResult",
    "check_rows_file",
    "evaluate",
    "fused_folder",
    "fused_hash",
    "load_results",
    "model_hash",
    "write_rows",
]

ID_FIELDS = ("dataset", "name", "protocol", "readers", "model")
#: The columns that make a CSV one of ours (files written before the ``readers`` column lack it).
_REQUIRED = {"dataset", "name", "protocol", "model", *METRIC_NAMES}


def model_hash(model: nn.Module, length: int = 12) -> str:
    """SHA-256 of a model's state_dict (names and bytes): the cache key of its fused images.

    A model whose fusion depends on more than its weights declares it in a ``fusion_settings``
    mapping (CSC-IVFN's rule settings and rounding, :class:`lzsc.methods.csc_ivfn.CSCIVFNFusion`),
    which is hashed too.
    """
    digest = hashlib.sha256()
    settings = getattr(model, "fusion_settings", None)
    if settings is not None:
        digest.update(repr(sorted(settings.items())).encode())
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:length]


@dataclass
class EvalResult:
    """Per-pair metric rows of one data set, with summaries that print nicely in Jupyter."""

    dataset: str
    protocol: ProtocolName
    model: str
    rows: list[dict] = field(default_factory=list)
    scale: str = ""
    pairs_in_set: int | None = None
    method: str = "fnet"

    @property
    def complete(self) -> bool:
        """Whether the rows cover every pair of the data set (False when the set's size is unknown)."""
        return self.pairs_in_set is not None and len(self.rows) >= self.pairs_in_set

    def means(self) -> dict[str, float]:
        return {m: float(np.mean([r[m] for r in self.rows])) for m in METRIC_NAMES} if self.rows else {}

    def stds(self) -> dict[str, float]:
        return {m: float(np.std([r[m] for r in self.rows])) for m in METRIC_NAMES} if self.rows else {}

    @property
    def paper(self) -> Paper | None:
        """The paper whose table the summary compares with: the one reporting the data set, unless this
        method is not in it and its own paper reports the set too (DAE-Fuse on TNO: DAE-Fuse's Table I)."""
        spec = lookup(self.dataset)
        default = spec.paper if spec is not None else None
        labels = get_method(self.method).labels
        if default in labels:
            return default
        return next((p for p in labels if reports(self.dataset, p)), default)

    @property
    def paper_label(self) -> str | None:
        """This method's row name in :attr:`paper`'s table, None when it is not there."""
        return get_method(self.method).label(self.paper)

    def summary(self) -> list[dict]:
        """One row per metric: mean, std, the published value of this method on this set (None when
        the reporting paper does not give it), the difference, and the best other published method."""
        means, stds = self.means(), self.stds()
        table, label = self.paper, self.paper_label
        reported = paper_metrics(self.dataset, table)
        out = []
        for m in METRIC_NAMES:
            paper = paper_value(self.dataset, m, label, table) if label and m in reported else None
            best = best_competitor(self.dataset, m, exclude=label, paper=table) if m in reported else None
            out.append(
                {
                    "metric": m,
                    "mean": means.get(m, math.nan),
                    "std": stds.get(m, math.nan),
                    "paper": paper,
                    "diff": None if paper is None else means.get(m, math.nan) - paper,
                    "best_other": best,
                }
            )
        return out

    def header(self) -> str:
        scale = f"; {self.scale}" if self.scale else ""
        label = self.paper_label
        paper = f"; paper column: {label} in {TABLE_NAMES[self.paper]}" if label and self.paper else ""
        return (
            f"{self.dataset}: {len(self.rows)} pairs, {self.method} {self.model}, protocol '{self.protocol}' "
            f"[{get_protocol(self.protocol).describe()}]{scale}{paper}\n{CONVENTIONS}"
        )

    def __str__(self) -> str:
        lines = [self.header(), f"{'metric':<6} {'mean':>8} {'std':>7} {'paper':>7} {'diff':>7}  best other"]
        for r in self.summary():
            paper = "" if r["paper"] is None else f"{r['paper']:.2f}"
            diff = "" if r["diff"] is None else f"{r['diff']:+.3f}"
            best = "" if r["best_other"] is None else f"{r['best_other'][1]:.2f} {r['best_other'][0]}"
            lines.append(f"{r['metric']:<6} {r['mean']:8.3f} {r['std']:7.3f} {paper:>7} {diff:>7}  {best}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        paper = f"paper {html.escape(self.paper_label or '(not reported)')}"
        head = "".join(f"<th>{h}</th>" for h in ("metric", "ours (mean ± std)", paper, "diff", "best other"))
        body = []
        for r in self.summary():
            paper = "" if r["paper"] is None else f"{r['paper']:.2f}"
            diff = "" if r["diff"] is None else f"{r['diff']:+.3f}"
            best = r["best_other"] and f"{r['best_other'][1]:.2f} ({html.escape(r['best_other'][0])})"
            body.append(
                f"<tr><td>{r['metric']}</td><td>{r['mean']:.3f} ± {r['std']:.3f}</td>"
                f"<td>{paper}</td><td>{diff}</td><td>{best}</td></tr>"
            )
        return f"<p><b>{html.escape(self.header())}</b></p><table><tr>{head}</tr>{''.join(body)}</table>"


def _foreign_header(path: Path) -> str | None:
    """The header of ``path`` when it is a non-empty file that is not a CSV of evaluation rows (its
    header lacks dataset, name, protocol, model or a metric), else None."""
    if not path.is_file():
        return None
    try:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        return f"unreadable as CSV: {err}"
    if header is None or set(header) >= _REQUIRED:
        return None
    return ",".join(header)


def check_rows_file(path: str | Path, force: bool = False) -> None:
    """FileExistsError if ``path`` is a folder, or a file that is not a CSV of evaluation rows (unless
    ``force``, which allows replacing it); an empty file or a missing one is fine."""
    path = Path(path)
    if path.is_dir():
        raise FileExistsError(
            f"{path} is a folder; give the name of the per-pair CSV to write (e.g. {path}/eval.csv)"
        )
    header = None if force else _foreign_header(path)
    if header is not None:
        raise FileExistsError(
            f"{path} exists and is not a CSV of evaluation rows (header {header[:80]!r}); refusing to "
            "overwrite it: choose another --out, or pass --force to replace it"
        )


def fused_hash(paths: list[Path], length: int = 12) -> str:
    """SHA-256 of the names and contents of fused image files: the key of rows measured on them."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:length]


def _read_rows(path: Path | None) -> list[dict]:
    if path is None or not path.is_file():
        return []
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                rows.append({**row, **{m: float(row[m]) for m in METRIC_NAMES}})
            except (KeyError, TypeError, ValueError):
                continue  # a line cut short by an interrupted run is recomputed
    return rows


def _pair_count(dataset: str) -> int | None:
    """The number of pairs of a test set under the data root, None when it cannot be read."""
    try:
        return len(pair_files(*dataset_dirs(dataset, "test")[:2])[0])
    except (FileNotFoundError, KeyError, OSError):
        return None


def load_results(
    path: str | Path, method: str | None = None, model: str | None = None, protocol: str | None = None
) -> dict[str, EvalResult]:
    """The per-pair rows of an evaluation CSV (``lzsc evaluate --out``) as ``{dataset: EvalResult}``.

    ``method``: the pair method that made them (for the papers' columns); None takes the one the
    summary JSON beside the file records (``fnet`` without one), and an explicit one that disagrees
    with it is a ValueError. ``model`` / ``protocol`` pick the rows of one model tag / protocol when
    the file holds several runs of a data set (ValueError listing them otherwise). A set counts as
    complete when the summary of that very run (same model and protocol) says so, or when its rows
    cover every pair of the set under the data root; otherwise its ``scale`` says how many it holds.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; make it with `lzsc evaluate --out {path}`")
    groups: dict[str, dict[tuple, list[dict]]] = {}
    for row in _read_rows(path):
        if (model is None or row["model"] == model) and (protocol is None or row["protocol"] == protocol):
            groups.setdefault(row["dataset"], {}).setdefault(_row_key(row), []).append(row)
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()).get("datasets", {}) if meta_path.is_file() else {}
    out = {}
    for dataset, runs in groups.items():
        if len(runs) > 1:
            found = ", ".join(sorted(f"{k[1]}/{k[3]}" for k in runs))
            raise ValueError(
                f"{path} holds several runs of {dataset} (protocol/model: {found}); pass protocol= and model="
            )
        ((key, rows),) = runs.items()
        info = meta.get(dataset, {})
        same_run = info.get("model") == key[3] and info.get("protocol") == key[1]
        recorded = info.get("method") if same_run else None
        if method is not None and recorded is not None and method != recorded:
            raise ValueError(f"{path}: the {dataset} rows were made by {recorded!r}, not {method!r}")
        total = len(rows) if same_run and info.get("complete") else _pair_count(dataset)
        scale = "" if total == len(rows) else f"{len(rows)} of {total or 'an unknown number of'} pairs only"
        out[dataset] = EvalResult(dataset, key[1], key[3], rows, scale, total, method or recorded or "fnet")
    return out


def _csv_row(row: dict) -> dict[str, str]:
    return {
        k: (f"{row[k]:.6f}" if k in METRIC_NAMES else row.get(k, "")) for k in (*ID_FIELDS, *METRIC_NAMES)
    }


def write_rows(path: Path, rows: list[dict]) -> Path:
    """Write per-pair rows as CSV atomically (temporary file + rename)."""
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*ID_FIELDS, *METRIC_NAMES])
        writer.writeheader()
        writer.writerows(_csv_row(row) for row in rows)
    return path


def fused_folder(fused_dir: str | Path, dataset: str) -> Path:
    """The folder of ``dataset``'s fused images in ``fused_dir``: ``fused_dir/<dataset>/`` when it
    exists (a root with one folder per data set), else ``fused_dir`` itself (the images themselves)."""
    fused_dir = Path(fused_dir)
    if not fused_dir.is_dir():
        raise FileNotFoundError(
            f"folder of fused images {fused_dir} does not exist; give the folder holding the fused "
            f"images of {dataset}, or a folder holding {dataset}/"
        )
    per_dataset = fused_dir / dataset
    return per_dataset if per_dataset.is_dir() else fused_dir


def _row_key(row: dict) -> tuple:
    return (row["dataset"], row["protocol"], row.get("readers"), row["model"])


def _check_fused(
    folder: Path, pairs: list[tuple[str, Path, Path]], rules: EvalProtocol, dataset: str
) -> None:
    """Check that every pair has its fused image in ``folder``, readable and as large as its sources."""
    for name, pa, _ in pairs:
        path = rules.find_fused(folder, name)
        if path is None:
            raise FileNotFoundError(
                f"no fused image for {name} in {folder} (looked for {Path(name).stem} with suffix "
                f"{'/'.join(IMAGE_SUFFIXES)}); give the folder of {dataset}'s fused images, or a "
                f"folder holding {dataset}/"
            )
        fused, source = read_gray_u8(path), read_gray_u8(pa)
        if fused.shape != source.shape:
            raise ImageError(
                f"fused image {path} is {fused.shape[1]}x{fused.shape[0]} but the sources of {name} are "
                f"{source.shape[1]}x{source.shape[0]} (W x H); give the fused images of these sources"
            )


def evaluate(
    dataset: str,
    model: nn.Module | None = None,
    protocol: ProtocolName = "default",
    fused_dir: str | Path | None = None,
    out_csv: str | Path | None = None,
    limit: int | None = None,
    cache_dir: str | Path = Path("runs") / "fused",
    root: str | Path | None = None,
    progress: bool = True,
    scale: str = "",
    force: bool = False,
    method: str = "fnet",
) -> EvalResult:
    """Evaluate ``model`` (or the images in ``fused_dir``) on a test set; see the module docstring.

    ``method`` names the pair method of :mod:`lzsc.methods.registry` that ``model`` (or the fused
    images) is: the summary prints the published value of that method where a paper reports it.

    ``fused_dir`` holds the fused images of ``dataset`` (named like the sources, any image format),
    or is a root holding one such folder per data set (``fused_dir/<dataset>/``); every one of them is
    checked (present, readable, as large as its sources) before any metric is computed. ``limit`` keeps
    the first N pairs sorted by name (a positive number). Rows already in ``out_csv`` with the same key
    (module docstring) are reused, new rows are added to it as they are computed, and rows of other
    pairs are kept. An ``out_csv`` that is not a CSV of rows is refused unless ``force`` (then replaced).
    """
    rules = get_protocol(protocol)
    check_limit(limit)
    if get_method(method).inputs != "pair":
        raise ValueError(f"method {method!r} does not fuse pairs of images; evaluate a pair method")
    if (model is None) == (fused_dir is None):
        raise ValueError("give either a model to fuse with or a folder of fused images (fused_dir), not both")
    out_csv = Path(out_csv) if out_csv else None
    if out_csv is not None:
        check_rows_file(out_csv, force)
    a_dir, b_dir, spec = dataset_dirs(dataset, "test", root)
    pairs, problems = pair_files(a_dir, b_dir)
    if problems:
        raise FileNotFoundError(f"{dataset}: unpaired files:\n  " + "\n  ".join(problems))
    all_pairs, pairs = pairs, pairs[:limit]
    if model is not None:
        tag = model_hash(model)
        folder = rules.cache_folder(cache_dir, tag, dataset)
    else:
        folder = fused_folder(fused_dir, dataset)
        _check_fused(folder, pairs, rules, dataset)
        every = (rules.find_fused(folder, name) for name, _, _ in all_pairs)  # a limit keeps the key
        tag = f"fused:{folder.name}:{fused_hash([p for p in every if p is not None])}"
    if out_csv is not None and _foreign_header(out_csv) is not None:
        write_rows(out_csv, [])  # allowed by force (checked above): the file that was not ours is replaced
    key = (dataset, protocol, rules.readers, tag)
    done = {r["name"]: r for r in _read_rows(out_csv) if _row_key(r) == key}
    result = EvalResult(dataset, protocol, tag, scale=scale, pairs_in_set=len(all_pairs), method=method)
    for name, pa, pb in tqdm(pairs, desc=f"{dataset} ({protocol})", unit="pair", disable=not progress):
        if name in done:
            result.rows.append(done[name])
            continue
        fused_path = rules.find_fused(folder, name)
        if fused_path is None:
            fused = fuse_files(model, pa, pb, color=rules.color(spec), reader=rules.fusion_reader)
            fused_path = save_image(folder / rules.fused_name(name), fused)
        grey = [read_gray_u8(p, rules.metric_reader).astype(np.float64) for p in (fused_path, pa, pb)]
        row = {"dataset": dataset, "name": name, "protocol": protocol, "readers": rules.readers, "model": tag}
        row.update(compute_all(*grey, protocol=protocol))
        result.rows.append(row)
        if out_csv is not None:
            append_csv(out_csv, [_csv_row(row)])
    if out_csv is not None:  # rewrite without lines cut short by an interrupted run, one row per key
        rows = {(*_row_key(r), r["name"]): r for r in _read_rows(out_csv)}
        write_rows(out_csv, list(rows.values()))
    return result
