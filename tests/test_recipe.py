"""Recipe (hybrid/recipe.py): a HybridConfig plus training fields; old flat training.json files keep loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybrid.config import HybridConfig
from hybrid.errors import ConfigError
from hybrid.recipe import MODEL_FIELDS, Recipe

MODELS = Path(__file__).resolve().parents[1] / "assets" / "models"


def test_a_recipe_holds_the_model_config_and_training_fields_only():
    r = Recipe()
    assert isinstance(r.model, HybridConfig) and r.model.labels == ()
    assert not set(MODEL_FIELDS) & ({"labels"} | set(r.to_dict()) - {"model"})  # no model field repeated
    assert (r.model.dropout, r.model.storage_dtype) == (0.3, "float16")  # what training here defaults to


@pytest.mark.parametrize("name", ["ut-interaction-lite0", "ut-interaction-idle-lite0", "egogestar-lite0"])
def test_a_bundled_models_training_json_loads_and_round_trips(name):
    spec = json.loads((MODELS / name / "training.json").read_text())["recipe"]
    r = Recipe().updated(spec)
    model = spec.get("model", spec)  # model fields flat (older releases) or nested
    assert r.model.num_frames == model["num_frames"] and r.model.spatial_pool == model["spatial_pool"]
    assert r.epochs == spec["epochs"] and r.finetune == spec["finetune"]
    assert Recipe().updated(json.loads(json.dumps(r.to_dict()))) == r
    cfg = r.model_config(["a", "b"], "imagenet-package")
    assert cfg.labels == ("a", "b") and cfg.imagenet_concepts == (r.finetune == 0)
    assert cfg.backbone_pretrained == "imagenet-package" and cfg.num_frames == r.model.num_frames


def test_model_fields_nested_or_flat_and_bad_ones_refused():
    r = Recipe().updated({"num_frames": 8, "model": {"hidden_size": 32}, "epochs": 5})
    assert (r.model.num_frames, r.model.hidden_size, r.epochs, r.num_frames) == (8, 32, 5, 8)
    with pytest.raises(ConfigError, match="unknown recipe fields: colour"):
        Recipe().updated({"colour": True})
    with pytest.raises(ConfigError, match="unknown recipe fields: imagenet_concepts"):
        Recipe().updated({"model": {"imagenet_concepts": False}})
    with pytest.raises(ConfigError, match="num_frames has a bad value"):
        Recipe().updated({"num_frames": "16"})


def test_every_recipe_setting_is_a_cli_flag():
    from hybrid.cli import _recipe, build_parser

    args = build_parser().parse_args(["train", "--data", "d", "--out", "o", "--mean", "0.4", "0.5", "0.6",
                                      "--image-size", "96", "128", "--no-flip", "--epochs", "3"])  # fmt: skip
    r = _recipe(args)
    assert r.model.mean == (0.4, 0.5, 0.6) and r.model.image_size == (96, 128) and not r.flip and r.epochs == 3


def test_label_swaps_read_both_ways_and_refuse_what_they_cannot_mean():
    from hybrid.recipe import label_swaps

    swaps = label_swaps(" left=right, up ,down=down,", ["left", "right", "up", "down", "star"])
    assert swaps == {"left": "right", "right": "left", "up": "up", "down": "down"}  # star: never mirrored
    assert label_swaps("", ["a"]) == {}
    for spec, match in (("a=b=c", "neither"), ("a=", "neither"), ("a=b,a=c", "'a' is mapped twice"),
                        ("a=b,b", "'b' is mapped twice"), ("a=zzz", "no class zzz")):  # fmt: skip
        with pytest.raises(ConfigError, match=match):
            label_swaps(spec, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="must be a string"):
        Recipe().updated({"reverse_labels": ["a", "b"]})
    with pytest.raises(ConfigError, match="choose one"):  # a plain flip keeps every class: no map beside it
        Recipe().updated({"mirror_labels": "left=right"})
    r = Recipe().updated({"flip": False, "mirror_labels": "left=right,up", "reverse_labels": "left=right"})
    assert Recipe().updated(r.to_dict()) == r  # a training.json gives the same recipe back
