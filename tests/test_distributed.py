"""torchrun on CPU (gloo): `train` and `eval --cv` with 2 processes do what 1 process does (features sharded by
clip into one cache, DistributedDataParallel training, folds spread over the ranks), and hybrid.distributed's
World outside torchrun is a world of one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_train import RECIPE, write_dataset

from hybrid.distributed import World
from hybrid.errors import HybridError

ROOT = Path(__file__).resolve().parents[1]


def test_outside_torchrun_the_world_is_one_process(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    w = World.from_env()
    assert (w.rank, w.size, w.main) == (0, 1, True) and w.gather("x") == ["x"] and w.device("cuda") == "cuda"
    assert World(1, 3).shard(list(range(8))) == [1, 4, 7] and World(2, 4, 2).device("cuda") == "cuda:2"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(HybridError, match="does not fit"):
        World.from_env()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """4 classes x 3 groups x 1 clip (UT-Interaction names: <idx>_<group>_<class>.avi)."""
    return write_dataset(tmp_path_factory.mktemp("dist_ds") / "data", groups=3, per_group=1, seed=1)


def recipe_file(folder: Path, **fields) -> Path:
    path = folder / "recipe.json"
    path.write_text(json.dumps(RECIPE.updated(dict(epochs=12, aug_copies=2, batch_size=6, **fields)).to_dict()))
    return path


def run(*args: str, procs: int = 1, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    cmd = [*(launch if procs > 1 else [sys.executable]), "-m", "hybrid", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def train_both(data: Path, recipe: Path, folder: Path) -> dict[int, Path]:
    """The recipe trained by 1 and by 2 processes, each with a fresh cache; checks the caches and the output."""
    outs = {}
    for procs in (1, 2):
        outs[procs], cache = folder / f"model{procs}", folder / f"cache{procs}"
        proc = run("train", "--data", str(data), "--out", str(outs[procs]), "--recipe", str(recipe),
                   "--cache", str(cache), "--device", "cpu", procs=procs)  # fmt: skip
        assert proc.stdout.count("saved ") == 1  # rank 0 alone reports (and writes)
    # each clip and augmentation computed once, by one rank: the same files as one process made
    files = {p: sorted(f.name for f in (folder / f"cache{p}").glob("*.safetensors")) for p in (1, 2)}
    assert len(files[2]) == 12 * 2 and files[2] == files[1]
    assert not list((folder / "cache2").glob("*.tmp"))
    return outs


def accuracy(model: Path, data: Path) -> tuple:
    report = json.loads(run("eval", "--data", str(data), "--model", str(model), "--json").stdout)
    return report["accuracy"], report["confusion"]


def test_training_on_two_processes_gives_the_one_process_model(data, tmp_path):
    """Without dropout the two runs compute the same gradients but for the order of their sums: the weights
    agree within 1e-2 (float16 on disk) after 24 steps. With dropout each rank draws its own masks (as a
    different seed would), so the weights differ more; the answers are the same."""
    outs = train_both(data, recipe_file(tmp_path, dropout=0.0), tmp_path / "no-dropout")
    one, two = (load_file(str(outs[p] / "model.safetensors")) for p in (1, 2))
    assert one.keys() == two.keys()
    worst = max(float((one[k].float() - two[k].float()).abs().max()) for k in one)
    assert worst < 1e-2, worst
    history = {p: json.loads((outs[p] / "training.json").read_text())["history"] for p in (1, 2)}
    assert len(history[1]) == len(history[2]) == 12
    assert history[2][0]["loss"] == pytest.approx(history[1][0]["loss"], rel=1e-4)  # the same first epoch
    assert history[2][-1]["loss"] == pytest.approx(history[1][-1]["loss"], rel=1e-2)
    assert accuracy(outs[1], data) == accuracy(outs[2], data)

    outs = train_both(data, recipe_file(tmp_path), tmp_path / "dropout")  # the default dropout, 0.3
    assert accuracy(outs[1], data) == accuracy(outs[2], data)
    assert accuracy(outs[1], data)[0] >= 0.75


def test_cross_validation_on_two_processes_reports_what_one_does(data, tmp_path):
    reports, recipe = {}, recipe_file(tmp_path)
    for procs in (1, 2):
        proc = run("eval", "--data", str(data), "--cv", "groups", "--recipe", str(recipe), "--cache",
                   str(tmp_path / "cache"), "--device", "cpu", "--json", procs=procs)  # fmt: skip
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        assert len(lines) == 1  # rank 0 alone prints the report
        reports[procs] = json.loads(lines[0])
    one, two = reports[1], reports[2]
    assert [f["group"] for f in two["folds"]] == [f["group"] for f in one["folds"]] == ["0", "1", "2"]
    assert [f["pred"] for f in two["folds"]] == [f["pred"] for f in one["folds"]]
    assert two["accuracy"] == one["accuracy"] and two["confusion"] == one["confusion"]
    for a, b in zip(one["folds"], two["folds"]):
        torch.testing.assert_close(torch.tensor(a["openset_scores"]), torch.tensor(b["openset_scores"]), atol=1e-3,
                                   rtol=0)  # fmt: skip
