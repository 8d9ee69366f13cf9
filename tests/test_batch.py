"""Batch prediction (hybrid/batch.py, `predict ... --out`): inputs expanded, one line per video, errors recorded,
resumable, and under `torchrun --nproc_per_node 2` (gloo, CPU) the same file as one process writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synth import index_clip

from hybrid.batch import expand_inputs, merge, predict_many
from hybrid.errors import HybridError, VideoError

ROOT = Path(__file__).resolve().parents[1]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Five short synthetic clips in two folders, and a text file that is not a video."""
    root = tmp_path_factory.mktemp("videos")
    (root / "a").mkdir()
    (root / "b").mkdir()
    for i, name in enumerate(["a/1.mp4", "a/2.mp4", "b/3.mp4", "b/4.avi", "5.mp4"]):
        codec = "mpeg4" if name.endswith(".avi") else "libx264"
        index_clip(root / name, 20 + 10 * i, size=(96, 64), codec=codec)
    (root / "b" / "broken.mp4").write_text("not a video at all\n" * 20)
    (root / "notes.txt").write_text("x")
    return root


def test_inputs_are_folders_globs_lists_and_files_each_once(videos, tmp_path):
    everything = expand_inputs([str(videos)])
    assert [Path(p).relative_to(videos).as_posix() for p in everything] == [
        "5.mp4", "a/1.mp4", "a/2.mp4", "b/3.mp4", "b/4.avi", "b/broken.mp4",
    ]  # fmt: skip
    assert expand_inputs([str(videos / "a" / "*.mp4")]) == [str(videos / "a/1.mp4"), str(videos / "a/2.mp4")]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two clips\n{videos / 'b/3.mp4'}\n\n{videos / '5.mp4'}\n{videos / 'b/3.mp4'}\n")
    assert expand_inputs([str(listing), str(videos / "5.mp4")]) == [str(videos / "b/3.mp4"), str(videos / "5.mp4")]
    with pytest.raises(HybridError, match="no such file or folder"):
        expand_inputs([str(videos / "missing.mp4")])


def fake_answer(path: str) -> dict:
    if "broken" in path:
        raise VideoError(f"{Path(path).name} is not a video")
    return {"label": Path(path).stem, "score": 1.0}


def test_one_line_per_video_errors_recorded_and_a_rerun_skips_what_is_done(videos, tmp_path):
    out = tmp_path / "out" / "predictions.jsonl"
    report = predict_many(fake_answer, [str(videos)], out, progress=False)
    got = rows(out)
    assert (report.total, report.done, report.failed, report.skipped) == (6, 6, 1, 0)
    assert [r["path"] for r in got] == expand_inputs([str(videos)])  # input order
    bad = next(r for r in got if "broken" in r["path"])
    assert bad["error"] == "broken.mp4 is not a video" and "label" not in bad
    assert all(r["error"] is None and r["label"] == Path(r["path"]).stem for r in got if r is not bad)
    assert not list(out.parent.glob("*.part*")) and not list(out.parent.glob("*.merging"))

    calls: list[str] = []
    again = predict_many(lambda p: calls.append(p) or fake_answer(p), [str(videos)], out, progress=False)
    assert calls == [] and (again.done, again.skipped) == (0, 6) and rows(out) == got


def test_a_stopped_run_goes_on_where_it_was(videos, tmp_path):
    """A crash leaves the output of an earlier run, a part file whose last line was cut short, nothing merged:
    the next run keeps both, redoes only the cut video and what was never started."""
    paths = expand_inputs([str(videos)])
    out = tmp_path / "predictions.jsonl"
    out.write_text(json.dumps({"path": paths[0], "error": None, "label": "earlier"}) + "\n")
    part = tmp_path / "predictions.jsonl.part1"
    part.write_text(json.dumps({"path": paths[1], "error": None, "label": "from the part"}) + "\n" + '{"path": "')
    calls: list[str] = []
    predict_many(lambda p: calls.append(p) or fake_answer(p), [str(videos)], out, progress=False)
    assert calls == paths[2:]
    got = rows(out)
    assert [r["path"] for r in got] == paths and got[0]["label"] == "earlier" and got[1]["label"] == "from the part"
    assert not part.exists()


def test_merge_keeps_old_lines_first_then_the_new_in_input_order(tmp_path):
    out = tmp_path / "p.jsonl"
    out.write_text('{"path": "z", "error": null}\n')
    (tmp_path / "p.jsonl.part0").write_text('{"path": "c", "error": null}\n{"path": "a", "error": null}\n')
    (tmp_path / "p.jsonl.part1").write_text('{"path": "b", "error": null}\n{"path": "z", "error": "again"}\n')
    assert merge(out, ["a", "b", "c"]) == 3
    assert [r["path"] for r in rows(out)] == ["z", "a", "b", "c"] and rows(out)[0]["error"] is None


# --- the command, in one process and under torchrun -----------------------------------------------------------
def cli(*args: str, torchrun: int = 0, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    if torchrun:
        run = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}"]
        cmd = [*run, "-m", "hybrid", *args]
    else:
        cmd = [sys.executable, "-m", "hybrid", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def comparable(path: Path) -> list[dict]:
    """The lines without their timings (the only thing two runs may differ in)."""
    return [{k: v for k, v in r.items() if k != "timings_ms"} for r in rows(path)]


def test_the_cli_under_torchrun_writes_what_one_process_writes(videos, tiny_model_dir, tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    single = cli("predict", str(videos), "--model", str(tiny_model_dir), "--out", str(one), "--no-progress")
    assert single.returncode == 1, single.stderr  # one video could not be answered: said, and recorded
    assert "6 videos answered now (1 with an error), 0 already there, 6 in all" in single.stdout
    lines = rows(one)
    assert len(lines) == 6 and sum(r["error"] is not None for r in lines) == 1
    ok = [r for r in lines if r["error"] is None]
    assert all(r["label"] in ("alpha", "beta", "gamma") and len(r["topk"]) == 3 for r in ok)

    double = cli("predict", str(videos), "--model", str(tiny_model_dir), "--out", str(two), torchrun=2)
    assert double.returncode == 1, double.stderr
    assert double.stdout.count("videos answered now") == 1  # rank 0 alone reports
    assert comparable(two) == comparable(one)
    assert not list(tmp_path.glob("*.part*"))

    again = cli("predict", str(videos), "--model", str(tiny_model_dir), "--out", str(two), torchrun=2)
    assert "0 videos answered now (0 with an error), 6 already there" in again.stdout and again.returncode == 0
    assert comparable(two) == comparable(one)


def test_the_cli_writes_timelines_and_refuses_many_videos_without_out(videos, tiny_model_dir, tmp_path):
    out = tmp_path / "timelines.jsonl"
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a/1.mp4", "5.mp4"):
        shutil.copy(videos / name, clips / Path(name).name)
    proc = cli("predict", str(clips), "--model", str(tiny_model_dir), "--out", str(out), "--timeline",
               "--window", "1", "--no-progress")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = rows(out)
    assert [Path(r["path"]).name for r in got] == ["1.mp4", "5.mp4"]
    assert all(r["segments"] and r["window_s"] == 1 for r in got)
    refused = cli("predict", str(videos / "5.mp4"), str(videos / "a/1.mp4"), "--model", str(tiny_model_dir))
    assert refused.returncode == 2 and "need --out FILE" in refused.stderr
