"""Batch prediction: many videos -> one JSON line each (predictions.jsonl), resumable, sharded over torchrun ranks.

    python -m hybrid predict DIR_OR_GLOB_OR_LIST ... --out predictions.jsonl [--timeline]
    torchrun --nproc_per_node N -m hybrid predict ... --out predictions.jsonl

Each line is the `predict --json` answer (or, with --timeline, the `timeline --json` one) plus "path" and
"error" (null, or why this video has no answer: it is recorded and the run goes on). Videos already in the
output are skipped, so a stopped run goes on where it was. Every rank takes a disjoint shard of what is left and
appends its lines to its own part file beside the output (flushed line by line: a crash loses one video at
most); at the end rank 0 merges the output and every part into the output (old lines first, then the new ones
in input order), replaces it in one step and removes the parts. So N processes write the same file as one.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .distributed import World
from .errors import HybridError
from .video import VIDEO_EXTS


@dataclass(frozen=True)
class BatchReport:
    total: int  # videos named by the inputs
    skipped: int  # already in the output
    done: int  # answered now (this rank's or, on rank 0 after the merge, every rank's)
    failed: int  # of those, recorded with an error
    out: Path


def expand_inputs(items: Iterable[str]) -> list[str]:
    """Folders (their videos, recursively, by name), globs, text files of paths (one per line, # comments) and
    video files -> the videos, each once, in the order given."""
    found: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found += sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTS)
        elif any(c in item for c in "*?["):
            found += sorted(p for p in glob.glob(item, recursive=True) if Path(p).suffix.lower() in VIDEO_EXTS)
        elif path.is_file() and path.suffix.lower() in (".txt", ".lst", ".list"):
            base = path.parent
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    found.append(line if Path(line).is_absolute() else str(base / line))
        elif path.exists():
            found.append(item)
        else:
            raise HybridError(f"{item}: no such file or folder (give videos, folders, globs or a .txt list)")
    return list(dict.fromkeys(found))


def _lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a results file that name a path; a line cut short by a crash is dropped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("path"), str):
            rows.append(row)
    return rows


def _parts(out: Path) -> list[Path]:
    return sorted(out.parent.glob(glob.escape(out.name) + ".part*"))


def merge(out: Path, order: Sequence[str]) -> int:
    """Write out = its own lines, then every part's lines in `order` (a path once); remove the parts. Returns
    the number of lines written."""
    rows: dict[str, dict[str, Any]] = {}
    for row in _lines(out):
        rows.setdefault(row["path"], row)
    old = len(rows)
    new: dict[str, dict[str, Any]] = {}
    for part in _parts(out):
        for row in _lines(part):
            if row["path"] not in rows:
                new.setdefault(row["path"], row)
    rank = {p: i for i, p in enumerate(order)}
    for p in sorted(new, key=lambda p: rank.get(p, len(rank))):
        rows[p] = new[p]
    tmp = out.with_name(out.name + ".merging")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows.values():
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, out)
    for part in _parts(out):
        part.unlink(missing_ok=True)
    return len(rows) - old


def predict_many(
    answer: Callable[[str], dict[str, Any]],
    inputs: Sequence[str],
    out: str | os.PathLike,
    world: World = World(),
    progress: bool = True,
) -> BatchReport:
    """Run `answer(path) -> JSON dict` over the videos of `inputs` not yet in `out`, this rank's shard of them,
    then merge on rank 0. An answer that raises is recorded as {"path", "error"}; the run goes on. Raises
    HybridError when the inputs name no videos."""
    out = Path(out)
    paths = expand_inputs(inputs)
    if not paths:
        raise HybridError(f"no videos in {' '.join(inputs)}")
    out.parent.mkdir(parents=True, exist_ok=True)  # only once there is something to write
    seen = {row["path"] for row in _lines(out)} | {row["path"] for part in _parts(out) for row in _lines(part)}
    todo = [p for p in paths if p not in seen]
    world.barrier()  # every rank has read the same state before any of them writes
    mine = world.shard(todo)
    failed = 0
    bar = _bar(len(mine), world) if progress and world.main else None
    with out.with_name(f"{out.name}.part{world.rank}").open("a", encoding="utf-8") as part:
        for path in mine:
            try:
                row = {"path": path, "error": None, **answer(path)}
            except HybridError as e:
                row, failed = {"path": path, "error": str(e)}, failed + 1
            except (OSError, ValueError, RuntimeError) as e:  # a file nothing foresaw: recorded, not fatal
                row, failed = {"path": path, "error": f"{type(e).__name__}: {e}"}, failed + 1
            part.write(json.dumps(row) + "\n")
            part.flush()
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    counts = world.gather((len(mine), failed))
    world.barrier()  # every part is complete
    if world.main:
        merge(out, paths)
    world.barrier()  # the output is whole before any rank reports
    done, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return BatchReport(total=len(paths), skipped=len(paths) - len(todo), done=done, failed=failed, out=out)


def _bar(total: int, world: World):
    from tqdm import tqdm

    desc = "videos" if world.size == 1 else f"videos (rank 0 of {world.size})"
    return tqdm(total=total, desc=desc, unit="video", file=sys.stderr, dynamic_ncols=True)
