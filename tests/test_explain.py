"""hybrid/explain.py: what a prediction rests on, read from the CNN maps the Recognizer already made."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hybrid.explain import activation_maps, grad_cam, imagenet_concepts
from hybrid.pipeline import Recognizer
from hybrid.video import read_clip


@pytest.fixture(scope="module")
def rec(tiny_model_dir) -> Recognizer:
    return Recognizer(tiny_model_dir, engine="torch")


def test_grad_cam_is_normalised_per_clip_and_depends_on_the_class(rec, index_clip_path):
    _, fmap = rec.encode(read_clip(index_clip_path, 4).frames)
    cams = [grad_cam(rec.model, fmap, k) for k in range(3)]
    for cam in cams:
        assert cam.shape == (4, *fmap.shape[2:]) and cam.min() >= 0 and np.isclose(cam.max(), 1.0)
    assert not np.allclose(cams[0], cams[1])


def test_activation_maps_scale_each_frame_to_its_own_range():
    fmap = torch.zeros(2, 3, 2, 2)
    fmap[0, :, 0, 0], fmap[1, :, 1, 1] = 1.0, 5.0
    maps = activation_maps(fmap)
    assert maps.shape == (2, 2, 2) and maps[0, 0, 0] == 1 and maps[1, 1, 1] == 1 and maps.min() == 0


def test_a_prediction_is_explained_without_carrying_the_maps(rec, index_clip_path):
    pred = rec(index_clip_path, explain=True)
    _, fmap = rec.encode(pred.frames)
    assert not hasattr(pred, "fmap")
    np.testing.assert_allclose(pred.gradcam, grad_cam(rec.model, fmap, rec.labels.index(pred.label)), atol=1e-5)
    np.testing.assert_allclose(pred.heatmaps, activation_maps(fmap), atol=1e-6)
    assert len(pred.concepts) == 4 and all(len(c) == 3 for c in pred.concepts)
    plain = rec(index_clip_path)
    assert plain.heatmaps is None and plain.gradcam is None and plain.concepts == []


def test_no_concepts_from_a_fine_tuned_backbone(rec, index_clip_path):
    from dataclasses import replace

    _, fmap = rec.encode(read_clip(index_clip_path, 4).frames)
    names = rec.imagenet_labels
    assert len(imagenet_concepts(rec.model, fmap, names)) == 4
    rec.model.config, saved = replace(rec.model.config, imagenet_concepts=False), rec.model.config
    try:
        assert imagenet_concepts(rec.model, fmap, names) == []
    finally:
        rec.model.config = saved
