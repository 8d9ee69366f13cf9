""" "Not one of the actions I know" through the app: a model whose open-set threshold the clip does not reach is
answered so on the Classify tab (verdict, belief plot, JSON), the Live tab and the Timeline (JSON and CSV); so is a
clip that looks unlike every clip a model was trained on (its look gate)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from synth import index_frame, lavfi_clip

from hybrid.app import card, clip, live
from hybrid.app import timeline as app_timeline
from hybrid.app.context import AppContext
from hybrid.app.settings import AppSettings
from hybrid.config import DEFAULT_WINDOW_S
from hybrid.openset import UNKNOWN
from hybrid.viz import UNKNOWN_COLOR

THRESHOLD = 0.99  # the tiny random model's answers are far less sure than this: every clip is none of its classes


def _with_look_gate(src, folder) -> None:
    """The tiny model, its weights as they are, with a look gate no clip passes: two stored exemplars in random
    directions (every clip's features are far from them) and a similarity threshold of 0.99."""
    import torch

    from hybrid import HybridCNNRNN
    from hybrid.openset import exemplars_of

    m = HybridCNNRNN.from_pretrained(src)
    gated = HybridCNNRNN(m.config, openset_exemplars=2, openset_similarity=0.99)
    gated.load_state_dict({**m.state_dict(), "openset_exemplars": exemplars_of(torch.randn(2, 1, m.feature_dim))})
    gated.save_pretrained(folder)


@pytest.fixture(params=["score", "look"])
def unsure(request, tiny_model_dir, tmp_path, monkeypatch) -> tuple[AppContext, str]:
    """An app whose only model is the tiny one with an open-set gate no clip passes: a (very high) score threshold,
    or a look gate (exemplars no clip looks like)."""
    folder = tmp_path / f"tiny-openset-{request.param}"
    if request.param == "score":
        shutil.copytree(tiny_model_dir, folder)
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "openset_threshold": THRESHOLD}))
    else:
        _with_look_gate(tiny_model_dir, folder)
    monkeypatch.setenv("HYBRID_CACHE", str(tmp_path / "engine-cache"))
    return AppContext.create(AppSettings(model=str(folder), models_dir=tmp_path / "no-models")), folder.name


def _threshold_lines(svg: str) -> list:
    import xml.etree.ElementTree as ET

    return [e for e in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}line") if e.get("class") == "threshold"]


def test_classify_says_none_of_them_and_still_shows_the_closest(unsure, app_ctx, app_env, index_clip_path):
    ctx, name = unsure
    out = clip.classify(ctx, str(index_clip_path), name, "")
    d = out.details
    look = name.endswith("look")
    assert d["known"] is False and out.verdict.startswith('## <span class="not-known">Not one of the actions I know')
    assert f"closest: **{d['label']}**" in out.verdict and "alpha · beta · gamma" in out.verdict
    dotted = _threshold_lines(out.belief)
    if look:  # the look gate: the similarity is reported; no probability threshold to draw
        assert d["threshold"] is None and d["similarity_threshold"] == 0.99 and d["similarity"] < 0.99
        assert "looks unlike every clip the model was trained on" in out.verdict and not dotted
    else:
        assert d["threshold"] == THRESHOLD and d["openset_score"] < THRESHOLD and d["similarity"] is None
        assert len(dotted) == 1 and float(dotted[0].get("data-threshold")) == THRESHOLD  # drawn on the belief chart
        assert "not sure enough (open-set score" in out.verdict
    assert "anything else is answered *Not one of the actions I know*" in card.known_actions(ctx, name, "")
    # the same clip and weights without a threshold: named as before, and the page says it always names one
    plain = clip.classify(app_ctx, str(index_clip_path), app_env, "")
    assert plain.details["known"] is None and plain.verdict.startswith(f"## {d['label']} — ")
    assert not _threshold_lines(plain.belief)
    assert "every clip is answered with one of them" in card.known_actions(app_ctx, app_env, "")


def test_live_says_nothing_known_is_in_view(unsure):
    ctx, name = unsure
    state, period = None, DEFAULT_WINDOW_S / 4
    for i in range(6):
        view, state = live.live_frame(ctx, index_frame(i * 37, (160, 120)), state, name, "", now=i * period)
    assert view is not None and "Nothing I know in view" in view.verdict and "closest: **" in view.verdict
    assert [s.label for s in state.session.history] == [UNKNOWN] and UNKNOWN_COLOR in view.history
    assert state.session.status()["label"] == UNKNOWN


def test_the_timeline_labels_unknown_stretches(unsure, tmp_path):
    ctx, name = unsure
    video = lavfi_clip(tmp_path / "long.mp4", 6, size=(160, 120), fps=10)
    out = app_timeline.make_timeline(ctx, str(video), name, "", 2.0, 1.0)
    assert [s["label"] for s in out.details["segments"]] == [UNKNOWN]
    assert all(w["label"] == UNKNOWN and w["closest"] in ("alpha", "beta", "gamma") for w in out.details["windows"])
    csv = open(out.files[1], encoding="utf-8").read().splitlines()
    assert csv[1].split(",")[2] == UNKNOWN and UNKNOWN_COLOR in out.strip and ">unknown</span>" in out.strip
    assert np.isclose(out.details["segments"][-1]["end"], out.details["duration_s"])
