"""The one place that decides which CLIP model runs (DESIGN.md §3).

1. ``CLIP_MODEL`` if set: a Hugging Face model id or a local directory.
2. Otherwise ``openai/clip-vit-base-patch32``, as in the lecture, when it can be loaded: from the
   local Hugging Face cache, or from the hub if it answers within a few seconds (an offline lab
   must never hang here).
3. Otherwise the course's own offline CLIP in ``model/course-clip``, with a one-line notice.

Every answer is something ``CLIPModel.from_pretrained`` / ``CLIPProcessor.from_pretrained`` take,
so the notebooks keep the lecture's code: ``CLIPModel.from_pretrained(choose_model())``.
"""
import functools
import os
import re
import urllib.request
from pathlib import Path

from .paths import OFFLINE_MODEL_DIR

REAL_MODEL = "openai/clip-vit-base-patch32"
HUB_TIMEOUT_S = 3
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
# What from_pretrained needs of a cached copy: config, tokenizer, image processor and weights.
_NEEDED = ("config.json", "preprocessor_config.json", "tokenizer_config.json", "vocab.json", "merges.txt")
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


class ModelNotFoundError(FileNotFoundError):
    pass


def choose_model(verbose: bool = True) -> str:
    """Return the model id or folder to pass to ``from_pretrained``, and say which one in one short line
    (a name the learner recognises, never this machine's folders, which both editions print alike)."""
    name, why = _choose()
    if verbose:
        print(f"CLIP model: {_shown(name)} ({why})")
    return name


def _shown(name: str) -> str:
    """The model as the notice names it: the course CLIP and a cached copy of the real one by name; a model
    CLIP_MODEL names as it was set there."""
    if name == str(OFFLINE_MODEL_DIR):
        return OFFLINE_MODEL_DIR.name
    if name == cached_real_model():
        return REAL_MODEL
    return os.environ.get("CLIP_MODEL", "").strip() or name


def _choose():
    wanted = os.environ.get("CLIP_MODEL", "").strip()
    if wanted:
        return _from_env(wanted), "set by CLIP_MODEL"
    cached = cached_real_model()
    if cached:
        return cached, "from the local Hugging Face cache"
    if _hub_reachable():
        return REAL_MODEL, "downloaded on first use"
    return str(OFFLINE_MODEL_DIR), "offline; for the real CLIP set CLIP_MODEL, see README"


def _from_env(wanted: str) -> str:
    path = Path(wanted).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"CLIP_MODEL={wanted!r} is a folder without config.json: point it at a saved CLIP model "
                "(the folder written by save_pretrained, or a Hugging Face snapshot folder)."
            )
        return str(path.resolve())
    if _HUB_ID.fullmatch(wanted):
        return wanted  # e.g. "openai/clip-vit-base-patch32"
    raise ModelNotFoundError(
        f"CLIP_MODEL={wanted!r} is neither a model folder nor a Hugging Face id. Set it to a folder written "
        f"by save_pretrained or an id such as {REAL_MODEL!r}, or unset it to let the course choose."
    )


def cached_real_model():
    """The local snapshot folder of the real model when the cache holds everything needed, else None.

    Returning the folder (not the id) keeps from_pretrained from asking the hub for updates, which
    can take long timeouts on a network that drops packets.
    """
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    found = {f: try_to_load_from_cache(REAL_MODEL, f) for f in _NEEDED + _WEIGHTS}
    paths = {f: p for f, p in found.items() if isinstance(p, str)}
    if not all(f in paths for f in _NEEDED) or not any(f in paths for f in _WEIGHTS):
        return None
    return str(Path(paths["config.json"]).parent)


def _hub_reachable() -> bool:
    if _offline_mode():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(f"{endpoint}/api/models/{REAL_MODEL}", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=HUB_TIMEOUT_S) as reply:
            return reply.status < 400
    except Exception:  # no network, DNS failure, proxy refusal, timeout: all mean "not reachable"
        return False


def _offline_mode() -> bool:
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def features(out):
    """The ``(N, 512)`` embedding tensor from ``get_image_features`` / ``get_text_features`` on either major.

    transformers 4.x returns the tensor itself; 5.x returns a ``BaseModelOutputWithPooling`` that holds it in
    ``.pooler_output``. The lecture and quiz cells write the same line out:
    ``getattr(features, "pooler_output", features)``.
    """
    return getattr(out, "pooler_output", out)


def load_clip(name: str = None):
    """``(model, processor, name)`` for chores (demo, reference answers); notebooks load explicitly."""
    name = name or choose_model()
    return (*_load(name), name)


def load_processor(name: str):
    """A fresh CLIP processor, loaded the way every notebook cell loads it (``backend="pil"``).

    The course's Python code loads processors only here; the lecture and quiz cells write the same
    call out, ``CLIPProcessor.from_pretrained(model_name, backend="pil")``, and tests hold them to it.
    ``backend="pil"`` says out loud what happens anyway without torchvision (the PIL-based processor).
    It is transformers 5.x's name: there ``use_fast=False`` prints a deprecation warning on every load.
    transformers 4.57 ignores ``backend`` and prints its "Using a slow image processor" warning instead
    (the same PIL processor; README, tested versions).
    """
    from transformers import CLIPProcessor

    return CLIPProcessor.from_pretrained(name, backend="pil")


@functools.lru_cache(maxsize=2)
def _load(name: str):
    from transformers import CLIPModel

    return CLIPModel.from_pretrained(name).eval(), load_processor(name)
