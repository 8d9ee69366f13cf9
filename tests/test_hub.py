"""Loading and publishing models: local folders, and the real huggingface_hub client against a local fake Hub.

huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE at import, so Hub loads run in worker processes
(hub_server.HubWorker) whose environment points at `FakeHub`; the test process counts the requests it served.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import time
from pathlib import Path

import pytest
from hub_server import FakeHub, HubWorker, state_digest

from hybrid import HybridCNNRNN, ModelError, hub, model_dir
from hybrid.card import model_card
from hybrid.cli import main as cli_main


@pytest.fixture(scope="module")
def tiny_files(tiny_model_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in tiny_model_dir.iterdir()}


@pytest.fixture(scope="module")
def tiny_digest(tiny_model_dir) -> str:
    return state_digest(HybridCNNRNN.from_pretrained(tiny_model_dir))


@pytest.fixture(scope="module")
def fake_hub():
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hf_home")


def _worker(fake_hub, hf_home, tmp_path_factory, **env):
    env = {"HF_ENDPOINT": fake_hub.url, "HF_HOME": str(hf_home), "HF_TOKEN": fake_hub.token, **env}
    return HubWorker(env, cwd=tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="module")
def online(fake_hub, hf_home, tmp_path_factory):
    worker = _worker(fake_hub, hf_home, tmp_path_factory)
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def offline(fake_hub, hf_home, tmp_path_factory):
    worker = _worker(fake_hub, hf_home, tmp_path_factory, HF_HUB_OFFLINE="1")
    yield worker
    worker.close()


def ok(answer: dict) -> dict:
    assert "error" not in answer, answer
    return answer


def refused(answer: dict, *phrases: str) -> str:
    assert answer.get("error") == "ModelError", answer
    for phrase in phrases:
        assert phrase in answer["message"], answer["message"]
    return answer["message"]


# --- downloads --------------------------------------------------------------------------------------
def test_download_from_hub(online, fake_hub, tiny_files, tiny_digest):
    fake_hub.add_repo("acme/fresh", tiny_files)
    fake_hub.clear_requests()
    got = ok(online.call("load", ref="acme/fresh"))
    assert got["digest"] == tiny_digest and got["labels"] == ["alpha", "beta", "gamma"]
    assert fake_hub.count("GET", "/acme/fresh/resolve/main/config.json") == 1
    assert fake_hub.count("HEAD", "/acme/fresh/resolve/main/model.safetensors") == 1  # -> 302 to the CDN
    assert fake_hub.count("GET", "/lfs/" + _sha256(tiny_files["model.safetensors"])) == 1
    assert not any(p.endswith((".bin", ".pt", ".pth")) for _, p in fake_hub.requests)


def test_second_load_comes_from_the_cache(online, fake_hub, tiny_files, tiny_digest):
    fake_hub.add_repo("acme/cached", tiny_files)
    ok(online.call("load", ref="acme/cached"))
    fake_hub.clear_requests()
    assert ok(online.call("load", ref="acme/cached"))["digest"] == tiny_digest
    assert [m for m, _ in fake_hub.requests] and {m for m, _ in fake_hub.requests} == {"HEAD"}  # freshness only
    assert _downloads(fake_hub) == []


def test_offline_mode_loads_from_cache_without_any_request(online, offline, fake_hub, tiny_files, tiny_digest):
    fake_hub.add_repo("acme/for-offline", tiny_files)
    ok(online.call("load", ref="acme/for-offline"))
    fake_hub.clear_requests()
    assert ok(offline.call("load", ref="acme/for-offline"))["digest"] == tiny_digest
    refused(offline.call("load", ref="acme/never-downloaded"), "HF_HUB_OFFLINE=1", "not in the local cache")
    assert fake_hub.requests == []


def test_missing_repo_is_a_clear_error(online):
    answer = online.call("load", ref="acme/no-such-model")
    refused(answer, "'acme/no-such-model'", "not found on the Hub")
    assert answer["seconds"] < 5


def test_private_repo_needs_a_token(online, fake_hub, tiny_files, tiny_digest):
    fake_hub.add_repo("acme/secret", tiny_files, private=True)
    refused(online.call("load", ref="acme/secret", kwargs={"token": False}), "not found", "HF_TOKEN")
    assert ok(online.call("load", ref="acme/secret"))["digest"] == tiny_digest  # HF_TOKEN is set in the worker


def test_repo_with_only_pickled_weights_is_refused(online, fake_hub, tiny_files):
    fake_hub.add_repo("acme/pickle", {"config.json": tiny_files["config.json"], "pytorch_model.bin": b"\x80\x04..."})
    fake_hub.clear_requests()
    refused(online.call("load", ref="acme/pickle"), "no model.safetensors", "only safetensors")
    assert not any(p.endswith(".bin") for _, p in fake_hub.requests)


@pytest.mark.parametrize(
    "config,phrase",
    [
        (b"{labels: [oops", "malformed"),
        (json.dumps({"model_type": "bert", "hidden_size": 768}).encode(), "not a hybrid model config"),
        (json.dumps({"labels": ["a", "b"], "backbone": "resnet_does_not_exist"}).encode(), "unknown backbone"),
        (json.dumps({"labels": ["a", "b"], "backbone": "hf-hub:evil/net"}).encode(), "plain timm architecture"),
        (json.dumps({"labels": ["a", "b"], "hidden_size": 10**6}).encode(), "hidden_size = 1000000 is over the limit"),
        (json.dumps({"labels": ["a", "b"], "image_size": [224, 10**5]}).encode(), "image_size = 100000 is over"),
        (json.dumps({"labels": [str(i) for i in range(20_000)]}).encode(), "labels = 20000 is over"),
    ],
)
def test_bad_config_is_refused_before_the_weights_are_fetched(online, fake_hub, tiny_files, config, phrase):
    fake_hub.add_repo("acme/bad-config", {"config.json": config, "model.safetensors": tiny_files["model.safetensors"]})
    fake_hub.clear_requests()
    refused(online.call("load", ref="acme/bad-config"), "acme/bad-config", phrase)
    assert fake_hub.count("HEAD", "model.safetensors") == 0
    assert _downloads(fake_hub) == ["/acme/bad-config/resolve/main/config.json"]


def test_network_down_fails_fast_and_the_cache_still_works(online, fake_hub, tiny_files, tiny_digest, index_clip_path):
    fake_hub.add_repo("acme/before-outage", tiny_files)
    ok(online.call("load", ref="acme/before-outage"))
    with fake_hub.down():
        answer = online.call("load", ref="acme/during-outage")
        refused(answer, "can't reach the Hugging Face Hub", "not in the local cache")
        assert answer["seconds"] < 3  # huggingface_hub alone retries for ~23 s here
        assert "Retrying" not in answer["stderr"]
        assert ok(online.call("load", ref="acme/before-outage"))["digest"] == tiny_digest
        # a real clip: the CLI checks the video before it loads the model
        cli = online.call("cli", argv=["predict", str(index_clip_path), "--model", "acme/during-outage"])
    assert cli["rc"] == 2 and cli["stderr"].startswith("error: can't reach the Hugging Face Hub"), cli
    assert cli["seconds"] < 3


def test_model_card_is_read_from_the_hub_or_cache_and_never_blocks(online, fake_hub, tiny_files, tiny_model_dir):
    fake_hub.add_repo("acme/with-card", tiny_files)
    card = tiny_files["README.md"].decode()
    assert ok(online.call("card", ref="acme/with-card"))["text"] == card
    assert hub.read_card(tiny_model_dir) == card
    with fake_hub.down():
        assert ok(online.call("card", ref="acme/with-card"))["text"] == card  # cached
        answer = ok(online.call("card", ref="acme/never-fetched"))
        assert answer["text"] == "" and answer["seconds"] < 3
    fake_hub.add_repo("acme/no-card", {k: v for k, v in tiny_files.items() if k != "README.md"})
    assert ok(online.call("card", ref="acme/no-card"))["text"] == ""


def test_unanswered_request_times_out_quickly(monkeypatch, tmp_path):
    """A Hub that accepts connections but never answers: one HEAD, HF_HUB_ETAG_TIMEOUT, then a clear error."""
    from huggingface_hub import constants

    with socket.socket() as sink:  # the kernel completes handshakes into the backlog; nobody ever reads
        sink.bind(("127.0.0.1", 0))
        sink.listen(8)
        endpoint = f"http://127.0.0.1:{sink.getsockname()[1]}"
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", 0.5)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)  # no once-per-process agent registry fetch
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        t0 = time.perf_counter()
        with pytest.raises(ModelError, match="can't reach the Hugging Face Hub.*no answer within 0.5 s"):
            HybridCNNRNN.from_pretrained("acme/silent", cache_dir=tmp_path)
        assert time.perf_counter() - t0 < 3


# --- push -------------------------------------------------------------------------------------------
def test_push_then_load(online, fake_hub, tiny_model_dir, tiny_files, tiny_digest):
    url = ok(online.call("push", folder=str(tiny_model_dir), repo_id="acme/pushed"))["url"]
    assert url == f"{fake_hub.url}/acme/pushed"
    repo = fake_hub.repos["acme/pushed"]
    assert not repo.private
    for name in ("config.json", "model.safetensors", "README.md"):
        assert repo.files[name] == tiny_files[name]
    assert ok(online.call("load", ref="acme/pushed"))["digest"] == tiny_digest


def test_push_writes_a_model_card_when_the_folder_has_none(online, fake_hub, tiny_model_dir, tmp_path):
    folder = tmp_path / "no_card"
    shutil.copytree(tiny_model_dir, folder, ignore=shutil.ignore_patterns("README.md"))
    ok(online.call("push", folder=str(folder), repo_id="acme/carded"))
    card = fake_hub.repos["acme/carded"].files["README.md"].decode()
    assert "library_name: hybrid" in card and "## Classes (3)" in card and "`gamma`" in card


def test_cli_push_private(online, fake_hub, tiny_model_dir, tiny_digest):
    answer = online.call("cli", argv=["push", str(tiny_model_dir), "acme/private-one", "--private"])
    assert answer["rc"] == 0, answer
    assert f"{fake_hub.url}/acme/private-one" in answer["stdout"]
    assert fake_hub.repos["acme/private-one"].private
    assert ok(online.call("load", ref="acme/private-one"))["digest"] == tiny_digest
    # an existing public repo is never pushed to when --private was asked
    ok(online.call("push", folder=str(tiny_model_dir), repo_id="acme/public-one"))
    answer = online.call("cli", argv=["push", str(tiny_model_dir), "acme/public-one", "--private"])
    assert answer["rc"] == 2 and "already exists and is public" in answer["stderr"], answer


def test_push_without_a_token_is_refused(online, fake_hub, tiny_model_dir):
    answer = online.call("push", folder=str(tiny_model_dir), repo_id="acme/anonymous", kwargs={"token": False})
    refused(answer, "not logged in", "HF_TOKEN")
    assert "acme/anonymous" not in fake_hub.repos


def test_model_push_to_hub_mixin_writes_a_loadable_repo(online, fake_hub, tiny_model_dir, tiny_digest):
    answer = ok(online.call("mixin_push", folder=str(tiny_model_dir), repo_id="acme/mixin"))
    assert "acme/mixin" in answer["url"]
    assert {"config.json", "model.safetensors", "README.md"} <= set(fake_hub.repos["acme/mixin"].files)
    assert ok(online.call("load", ref="acme/mixin"))["digest"] == tiny_digest


# --- local references and folders (no network) ------------------------------------------------------
@pytest.mark.parametrize(
    "ref,phrase",
    [
        ("", "no model given"),
        ("https://huggingface.co/acme/tiny", "use the repo id 'acme/tiny'"),
        ("hf://acme/tiny", "is a URL"),
        ("file:///etc/passwd", "is a URL"),
        ("../not/here", "no model folder"),
        ("/definitely/not/here", "no model folder"),
        ("~/not-here-either", "no model folder"),
        ("a/b/c", "no model folder"),
        ("acme/..", "no model folder"),
        ("acme/bad name", "nor a valid Hub repo id"),
        ("acme--x/tiny", "nor a valid Hub repo id"),
        ("acme/tiny.git", "nor a valid Hub repo id"),
    ],
)
def test_bad_references_are_refused_without_network(ref, phrase):
    with pytest.raises(ModelError, match=phrase.replace(".", r"\.")):
        HybridCNNRNN.from_pretrained(ref)


def test_a_file_is_not_a_model_folder(tiny_model_dir):
    with pytest.raises(ModelError, match="is a file"):
        HybridCNNRNN.from_pretrained(tiny_model_dir / "config.json")


def _folder(tmp_path: Path, tiny_model_dir: Path, files: dict[str, bytes | None]) -> Path:
    """A copy of the tiny model folder with some files replaced (bytes) or removed (None)."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    for name, data in files.items():
        (folder / name).unlink(missing_ok=True)
        if data is not None:
            (folder / name).write_bytes(data)
    return folder


def _config(tiny_model_dir: Path, **changes) -> bytes:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    return json.dumps({**config, **changes}).encode()


def test_local_folder_with_pickled_weights_only_is_refused(tmp_path, tiny_model_dir):
    folder = _folder(tmp_path, tiny_model_dir, {"model.safetensors": None, "pytorch_model.bin": b"\x80\x04"})
    with pytest.raises(ModelError, match="found pytorch_model.bin: pickled checkpoints are never loaded"):
        HybridCNNRNN.from_pretrained(folder)


@pytest.mark.parametrize(
    "change,phrase",
    [
        ({"config.json": None}, "no config.json"),
        ({"config.json": b"\xff\xfe"}, "malformed"),
        ({"model.safetensors": b"not a safetensors file"}, "unreadable"),
    ],
)
def test_broken_local_folder_is_refused(tmp_path, tiny_model_dir, change, phrase):
    with pytest.raises(ModelError, match=phrase):
        HybridCNNRNN.from_pretrained(_folder(tmp_path, tiny_model_dir, change))


@pytest.mark.parametrize(
    "changes,phrase",
    [
        (dict(labels=["a", "b", "c", "d"]), "does not match config.json"),
        (dict(num_frames="many"), "bad value"),
        (dict(labels=[1, 2, 3]), "no 'labels' list"),
        (dict(rnn_type="lstm"), "does not match config.json"),
        (dict(trust_remote_code=True), "unknown keys: trust_remote_code"),
        (dict(backbone="hf-hub:evil/net"), "plain timm architecture"),
    ],
)
def test_config_that_does_not_fit_is_refused(tmp_path, tiny_model_dir, changes, phrase):
    folder = _folder(tmp_path, tiny_model_dir, {"config.json": _config(tiny_model_dir, **changes)})
    with pytest.raises(ModelError, match=phrase):
        HybridCNNRNN.from_pretrained(folder)


def test_backbone_pretrained_in_config_never_downloads(tmp_path, tiny_model_dir, tiny_digest):
    folder = _folder(tmp_path, tiny_model_dir, {"config.json": _config(tiny_model_dir, backbone_pretrained=True)})
    assert state_digest(HybridCNNRNN.from_pretrained(folder)) == tiny_digest  # weights come from model.safetensors only


def test_push_argument_errors_need_no_network(tmp_path, tiny_model_dir, capsys):
    with pytest.raises(ModelError, match="is not a folder"):
        hub.push_folder(tmp_path / "missing", "acme/x", HybridCNNRNN)
    for repo_id in ("just-a-name", "https://huggingface.co/acme/x", "a/b/c", "acme/bad name"):
        with pytest.raises(ModelError, match="not a Hub repo id of the form owner/name"):
            hub.push_folder(tiny_model_dir, repo_id, HybridCNNRNN)
    assert cli_main(["push", str(tmp_path / "missing"), "acme/x"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# --- model card ---------------------------------------------------------------------------------------
def test_model_card_has_every_section_training_passes(tiny_model_dir):
    model = HybridCNNRNN.from_pretrained(tiny_model_dir)
    details = {
        "title": "Kitchen actions",
        "datasets": ["acme/kitchen-clips"],
        "Training data": "120 clips from 12 people, 3 classes.",  # title-case keys are accepted too
        "protocol": "5-fold cross-validation grouped by person.",
        "metrics": {"accuracy": 0.9123, "macro_f1": 0.88},
        "speed": "40 frames/s on 2 CPU cores",
        "limits": ["daylight only", "one person in view"],
        "intended_use": "Demos and teaching.",
        "reproduce": "python -m hybrid train --data DIR",
        "repo_id": "acme/kitchen",
        "notes": "Trained in 3 minutes.",
    }
    card = model_card(model.config, details)
    text = str(card)
    assert card.data.library_name == "hybrid" and card.data.datasets == ["acme/kitchen-clips"]
    assert card.data.metrics == ["accuracy", "macro_f1"]
    order = ["# Kitchen actions", "## Model", "## Classes (3)", "## Training data", "## Evaluation protocol"]
    order += ["## Metrics", "## Speed", "## Limits", "## Intended use", "## How to reproduce", "## Notes", "## Use"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    for fact in ("120 clips", "| accuracy | 0.9123 |", "- daylight only", "grouped by person", "--model acme/kitchen"):
        assert fact in text
    assert "`alpha`, `beta`, `gamma`" in text and "4 frames" in text and "64x96" in text


def _downloads(fake_hub: FakeHub) -> list[str]:
    """Paths of the file contents the Hub and its CDN sent (GETs of files, not API calls)."""
    return [p for m, p in fake_hub.requests if m == "GET" and ("/resolve/" in p or p.startswith("/lfs/"))]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_default_is_the_named_bundled_model_not_the_first_folder(monkeypatch):
    """assets/models holds more than one model; the one used when none is named is model_dir.DEFAULT_MODEL."""
    monkeypatch.delenv("HYBRID_MODEL", raising=False)
    bundled = sorted(p.parent.name for p in (Path(hub.__file__).parents[1] / "assets" / "models").glob("*/config.json"))
    assert model_dir.DEFAULT_MODEL in bundled
    assert model_dir.default_model_dir().name == model_dir.DEFAULT_MODEL
