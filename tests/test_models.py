"""The one place that picks the CLIP model (DESIGN.md §3): CLIP_MODEL, the real model, the offline one."""
import http.server
import shutil
import socket
import threading

import huggingface_hub.constants
import pytest
import torch
from transformers import CLIPModel, CLIPProcessor

from clipcourse import models
from clipcourse.paths import OFFLINE_MODEL_DIR


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("CLIP_MODEL", raising=False)
    return cache


def test_clip_model_folder_is_used_as_given(monkeypatch):
    monkeypatch.setenv("CLIP_MODEL", str(OFFLINE_MODEL_DIR))
    assert models.choose_model(verbose=False) == str(OFFLINE_MODEL_DIR)


def test_clip_model_hub_id_is_passed_through(monkeypatch):
    monkeypatch.setenv("CLIP_MODEL", "openai/clip-vit-large-patch14")
    assert models.choose_model(verbose=False) == "openai/clip-vit-large-patch14"


@pytest.mark.parametrize("bad", ["/no/such/folder", "./missing-model", "not a model id!"])
def test_clip_model_that_is_neither_folder_nor_id_is_a_clear_error(monkeypatch, bad):
    monkeypatch.setenv("CLIP_MODEL", bad)
    with pytest.raises(models.ModelNotFoundError, match="CLIP_MODEL"):
        models.choose_model(verbose=False)


def test_clip_model_folder_without_config_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CLIP_MODEL", str(tmp_path))
    with pytest.raises(models.ModelNotFoundError, match="config.json"):
        models.choose_model(verbose=False)


def test_offline_fallback_says_so_in_one_line_and_loads(empty_hf_cache, capsys):
    name = models.choose_model()
    assert name == str(OFFLINE_MODEL_DIR)
    notice = capsys.readouterr().out
    assert notice.count("\n") == 1 and "offline" in notice and "CLIP_MODEL" in notice
    # issue 30: one short line, without this machine's folders
    assert notice.startswith("CLIP model: course-clip (") and len(notice) <= 80 and str(OFFLINE_MODEL_DIR) not in notice
    model = CLIPModel.from_pretrained(name)
    assert model.config.projection_dim == 512


def test_fallback_and_clip_model_reach_the_same_from_pretrained_path(empty_hf_cache, monkeypatch):
    fallback = models.choose_model(verbose=False)
    monkeypatch.setenv("CLIP_MODEL", str(OFFLINE_MODEL_DIR))
    explicit = models.choose_model(verbose=False)
    assert fallback == explicit
    processor = CLIPProcessor.from_pretrained(fallback)
    inputs = processor(text=["A cat"], return_tensors="pt", padding=True)
    with torch.no_grad():
        a = models.features(CLIPModel.from_pretrained(fallback).get_text_features(**inputs))
        b = models.features(CLIPModel.from_pretrained(explicit).get_text_features(**inputs))
    assert torch.equal(a, b)


def test_real_model_in_the_local_cache_is_preferred_and_loads_without_network(empty_hf_cache, capsys):
    # Lay out a Hugging Face cache entry as huggingface_hub writes it (a copy of our offline checkpoint
    # stands in for the real weights, which cannot be downloaded here).
    repo = empty_hf_cache / "models--openai--clip-vit-base-patch32"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(OFFLINE_MODEL_DIR, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    name = models.choose_model()
    assert name == str(snapshot)
    notice = capsys.readouterr().out
    assert notice == f"CLIP model: {models.REAL_MODEL} (from the local Hugging Face cache)\n"
    assert CLIPModel.from_pretrained(name).config.projection_dim == 512


def test_incomplete_cache_is_not_used(empty_hf_cache):
    repo = empty_hf_cache / "models--openai--clip-vit-base-patch32"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    shutil.copy(OFFLINE_MODEL_DIR / "config.json", snapshot)  # no weights, no tokenizer
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    assert models.cached_real_model() is None
    assert models.choose_model(verbose=False) == str(OFFLINE_MODEL_DIR)


def test_reachable_hub_means_the_real_model_id(empty_hf_cache, monkeypatch):
    monkeypatch.setattr(models, "_hub_reachable", lambda: True)
    assert models.choose_model(verbose=False) == models.REAL_MODEL


def test_offline_mode_never_probes_the_hub(empty_hf_cache, monkeypatch):
    def probe(*args, **kwargs):
        raise AssertionError("the hub was probed although HF_HUB_OFFLINE=1")

    monkeypatch.setattr(models.urllib.request, "urlopen", probe)
    assert models._hub_reachable() is False


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def online_mode(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


def test_hub_probe_sees_an_answering_endpoint(online_mode, monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert models._hub_reachable() is True
    finally:
        server.shutdown()


def test_hub_probe_gives_up_quickly_on_a_silent_endpoint(online_mode, monkeypatch):
    # A listener that accepts but never answers stands for a network that swallows packets.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    monkeypatch.setattr(models, "HUB_TIMEOUT_S", 0.3)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    try:
        assert models._hub_reachable() is False
    finally:
        silent.close()


def test_hub_probe_is_false_when_nothing_listens(online_mode, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert models._hub_reachable() is False


def test_tests_cannot_reach_the_internet():
    with pytest.raises(OSError, match="must not use the network"):
        socket.create_connection(("18.244.202.60", 443), timeout=1)  # an address, so no DNS is needed
