"""Reference answers for the quizzes' hidden tests: the texts the quizzes give, and what the tests compare with.

Nothing here is a number copied from a model's output. The hidden tests compute the references at
grading time with the same model as the student's run (``choose_model()``), and keep them in a cache
keyed by the model files, the course images and the quiz texts, so a class computes them once:

    python -m clipcourse.reference build          # fill the cache for CLIP_MODEL (or the picker's model)
    python -m clipcourse.reference where          # print the cache file for that model

The cache folder is ``$CLIP_COURSE_CACHE`` (default ``~/.cache/clipcourse``). A class autograder fills
it once before grading and then gives it to the student kernels READ-ONLY: a kernel that may write
there could leave a poisoned file for the next student. ``embed-texts`` (texts as JSON on stdin,
embeddings as JSON on stdout) is how the hidden tests embed a student's query in a fresh interpreter
that the student's code cannot have monkeypatched.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data
from .models import features

# ---- what the quizzes give: change it here, nowhere else ---------------------------------------
#: Quiz 1's vectors (given in the statement; the answer is computed from them, not stored).
QUIZ1_VEC1 = [[1, 2, 3, 4], [5, 6, 7, 8]]
QUIZ1_VEC2 = [[0.1, 0.01, 2, 5], [1, 5, 10, 5]]

#: The query quiz_search gives the student for quizzes 5 and 6 (the notebook shows it literally).
QUIZ5_TEXT = "a cup of coffee"

# Quiz 2's query and quiz 7's texts are answers, so they live only in the solution cells of source/
# (instructor side, never in this installed package); clipcourse/check_quizzes.py reads them there.

FORMAT = 1          # bump when the cache file layout changes
BATCH = 50          # images per forward pass while building (memory stays flat)


class ReferenceError(RuntimeError):
    """The references cannot be computed (missing data, quiz 7 pictures not marked in the manifest …)."""


#: Longer text (spaces collapsed, as CLIP's tokenizer does) cannot fit in CLIP's 77 tokens: a token
#: covers at most 32 characters of the vocabulary and each space ends a word. Refused before
#: tokenizing (a 9 MB quiz 2 query once kept the tokenizer busy for 520 s at 1 GB), as is any text over
#: 100 times that, spaces included.
MAX_TEXT_CHARS = 3000


class TextTooLong(ReferenceError):
    """A text the model cannot read whole. The quizzes' own cells (``processor(text=…, padding=True)``
    without truncation) fail on it too, so the grader fails it as well, never truncates it."""

    def __init__(self, index, limit, tokens=None, chars=None):
        self.index, self.limit, self.tokens, self.chars = index, limit, tokens, chars
        size = f"{tokens} tokens" if tokens is not None else f"{chars} characters"
        super().__init__(f"text {index + 1} is {size} long, more than the {limit} tokens the model reads")


def check_text_length(texts, limit=77):
    """Raise TextTooLong for the first text too long to tokenize at all (see MAX_TEXT_CHARS)."""
    for index, text in enumerate(texts):
        if len(text) > 100 * MAX_TEXT_CHARS or len(" ".join(text.split())) > MAX_TEXT_CHARS:
            raise TextTooLong(index, limit, chars=len(text))


# ---- the quizzes' targets -------------------------------------------------------------------------
def quiz2_target_names() -> list[str]:
    """File names of quiz 2's target dogs (the manifest's quiz2 rows)."""
    dogs = data.dog_paths()
    return [dogs[i].name for i in data.quiz2_targets()]


def quiz7_files() -> list[str]:
    """Quiz 7's pictures as manifest names ("gallery/x.png"): the manifest's quiz7 rows, in gallery order."""
    gallery = data.gallery_paths()
    files = [f"gallery/{gallery[i].name}" for i in data.quiz7_targets()]
    if len(files) != 5:
        raise ReferenceError(f"quiz 7 needs five gallery pictures marked quiz7 in data/manifest.csv, found {files}; "
                             "mark them in data/build_course_images.py (QUIZ7) and rebuild the manifest.")
    return files


def quiz1_answers():
    """(row-wise (2,), all-pairs (2, 2)) cosine similarities of the quiz 1 vectors, in plain Python."""
    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))
    rowwise = [cos(a, b) for a, b in zip(QUIZ1_VEC1, QUIZ1_VEC2)]
    matrix = [[cos(a, b) for b in QUIZ1_VEC2] for a in QUIZ1_VEC1]
    return np.array(rowwise), np.array(matrix)


# ---- which model, which data ----------------------------------------------------------------------
_MODEL_FILES = ("config.json", "preprocessor_config.json", "tokenizer_config.json", "tokenizer.json",
                "vocab.json", "merges.txt", "special_tokens_map.json", "model.safetensors", "pytorch_model.bin")
_digests: dict = {}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_digest(name: str) -> str:
    """A digest of the model's files (a local folder) or of its hub id: a retrained model gets new references."""
    path = Path(name)
    if not path.is_dir():
        return hashlib.sha256(f"hub:{name}".encode()).hexdigest()
    files = [path / f for f in _MODEL_FILES if (path / f).is_file()]
    key = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if key not in _digests:
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.name}:{_sha256_file(f)}\n".encode())
        _digests[key] = h.hexdigest()
    return _digests[key]


_HUB_SNAPSHOT = re.compile(r"/models--([^/]+?)--([^/]+)/snapshots/[^/]+$")


def model_label(name: str) -> str:
    """The model as the quiz notebooks print it (``model: <label>``), the same on every machine:
    a hub id as it is; a local folder as its hub id (a Hugging Face cache snapshot) or folder name,
    followed by ``sha256:`` and the start of :func:`model_digest` (which changes when it is retrained).
    The class autograder compares these lines (autograder/report.py)."""
    path = Path(name)
    if not path.is_dir():
        return name
    hub = _HUB_SNAPSHOT.search(path.resolve().as_posix())
    shown = f"{hub.group(1)}/{hub.group(2)}" if hub else path.resolve().name
    return f"{shown} sha256:{model_digest(name)[:16]}"


def data_digest() -> str:
    """A digest of the images the references use (bytes, not names), the quiz texts and the cache format."""
    h = hashlib.sha256(f"format {FORMAT}\n{QUIZ5_TEXT}\n".encode())
    for path in data.dog_paths() + data.gallery_paths():
        h.update(f"{path.parent.name}/{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("CLIP_COURSE_CACHE") or Path.home() / ".cache" / "clipcourse").expanduser()


def cache_file(name: str) -> Path:
    key = hashlib.sha256(f"{model_digest(name)}\n{data_digest()}".encode()).hexdigest()[:32]
    return cache_dir() / f"references-{key}.npz"


# ---- the references -------------------------------------------------------------------------------
@dataclass
class References:
    """Everything the hidden tests compare with, for one model and one copy of the data."""
    model: str
    gallery_names: list      # the 200 gallery file names (sorted), rows of `gallery`
    gallery: np.ndarray      # (200, 512) float32 image embeddings
    dog_names: list          # dog_0.png … dog_8.png, rows of `dogs`
    dogs: np.ndarray         # (9, 512) float32
    quiz5: np.ndarray        # (1, 512) float32 text embedding of QUIZ5_TEXT

    def quiz6_scores(self) -> np.ndarray:
        """Cosine similarity of the quiz 5 text with each gallery image (float64)."""
        return cosine(self.quiz5, self.gallery)[0]

    def quiz6_top1(self) -> str:
        return self.gallery_names[int(np.argmax(self.quiz6_scores()))]


def cosine(a, b) -> np.ndarray:
    """(N, M) cosine similarities of the rows of a and b, in float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def _load_model(name: str):
    """A fresh model and processor (never the process-wide cache: nothing else may hold these objects)."""
    from transformers import CLIPModel

    from .models import load_processor

    return CLIPModel.from_pretrained(name).eval(), load_processor(name)


def _embed_images(model, processor, paths) -> np.ndarray:
    import torch
    from PIL import Image

    chunks = []
    with torch.no_grad():
        for start in range(0, len(paths), BATCH):
            images = []
            for p in paths[start:start + BATCH]:
                with Image.open(p) as im:  # as a student opens them (the processor converts to RGB)
                    im.load()
                    images.append(im.copy())
            inputs = processor(images=images, return_tensors="pt", padding=True)
            chunks.append(features(model.get_image_features(**inputs)).float().numpy())
    return np.concatenate(chunks)


def _embed_texts(model, processor, texts) -> np.ndarray:
    """Embeddings as the quiz cells compute them (no truncation); TextTooLong where those cells would fail."""
    import torch

    limit = model.config.text_config.max_position_embeddings
    check_text_length(texts, limit)
    with torch.no_grad():
        inputs = processor(text=list(texts), return_tensors="pt", padding=True)
        lengths = inputs["attention_mask"].sum(dim=1).tolist()
        for index, tokens in enumerate(lengths):
            if tokens > limit:
                raise TextTooLong(index, limit, tokens=int(tokens))
        return features(model.get_text_features(**inputs)).float().numpy()


def embed_texts(name: str, texts) -> np.ndarray:
    """(len(texts), 512) text embeddings with model ``name``, loaded afresh."""
    return _embed_texts(*_load_model(name), texts)


def compute(name: str) -> References:
    """Embed the dogs, the gallery and the quiz 5 text with model ``name`` (a few seconds to a minute on a CPU)."""
    dogs, gallery = data.dog_paths(), data.gallery_paths()
    model, processor = _load_model(name)
    return References(model=name, gallery_names=[p.name for p in gallery],
                      gallery=_embed_images(model, processor, gallery),
                      dog_names=[p.name for p in dogs], dogs=_embed_images(model, processor, dogs),
                      quiz5=_embed_texts(model, processor, [QUIZ5_TEXT]))


def _read(path: Path, name: str) -> References | None:
    """The cached references, or None when the file is absent, unreadable or does not fit today's data."""
    try:
        with np.load(path, allow_pickle=False) as z:
            refs = References(model=name, gallery_names=[str(s) for s in z["gallery_names"]],
                              gallery=z["gallery"].astype(np.float32), dog_names=[str(s) for s in z["dog_names"]],
                              dogs=z["dogs"].astype(np.float32), quiz5=z["quiz5"].astype(np.float32))
    except (OSError, KeyError, ValueError):
        return None
    expected = ([p.name for p in data.gallery_paths()], [p.name for p in data.dog_paths()])
    shapes_ok = (refs.gallery.shape[0] == len(expected[0]) and refs.dogs.shape[0] == len(expected[1])
                 and refs.quiz5.shape[0] == 1 and refs.gallery.shape[1] == refs.dogs.shape[1] == refs.quiz5.shape[1])
    if (refs.gallery_names, refs.dog_names) != expected or not shapes_ok:
        return None
    return refs


def _write(path: Path, refs: References) -> bool:
    """Write atomically (parallel graders may race); False when the folder is read-only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, gallery_names=np.array(refs.gallery_names), gallery=refs.gallery,
                     dog_names=np.array(refs.dog_names), dogs=refs.dogs, quiz5=refs.quiz5,
                     model=np.array(refs.model))
        os.chmod(tmp, 0o644)  # readable by the graders' kernels, which may run as another user
        os.replace(tmp, path)
        return True
    except OSError:
        return False


def load_or_build(name: str, write: bool = True) -> References:
    """The references for model ``name``: from the cache when it has them, else computed (and cached)."""
    path = cache_file(name)
    refs = _read(path, name)
    if refs is None:
        refs = compute(name)
        if write:
            _write(path, refs)
    return refs


# ---- command line ---------------------------------------------------------------------------------
def _model_arg(value):
    from .models import choose_model

    return value or choose_model(verbose=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Reference answers of the quizzes' hidden tests.")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, text in (("build", "compute the references into the cache (once per model and data)"),
                          ("where", "print the cache file for the model"),
                          ("embed-texts", "embed a JSON list of texts read from stdin; JSON on stdout")):
        p = sub.add_parser(command, help=text)
        p.add_argument("--model", help="model id or folder (default: CLIP_MODEL, else the course's picker)")
    args = parser.parse_args(argv)
    # the grader's helper process: transformers 5.x draws a "Loading weights" bar on stderr for every load
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        name = _model_arg(args.model)
        if args.command == "where":
            print(cache_file(name))
        elif args.command == "build":
            path = cache_file(name)
            refs = load_or_build(name)
            state = "ready" if path.is_file() else "computed, but the cache folder is not writable"
            print(f"references for {name}: {path} ({state}); quiz 6 Top-1 for {QUIZ5_TEXT!r}: {refs.quiz6_top1()}")
        else:
            texts = json.loads(sys.stdin.read())
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ReferenceError("embed-texts reads a JSON list of strings on stdin")
            try:
                emb = embed_texts(name, texts) if texts else np.zeros((0, 0), np.float32)
                reply = {"embeddings": emb.tolist()}
            except TextTooLong as error:  # an answer, not a failure of the grader: the check says why
                reply = {"too_long": {"index": error.index, "limit": error.limit, "tokens": error.tokens,
                                      "chars": error.chars}}
            json.dump({"model_digest": model_digest(name), **reply}, sys.stdout)
    except (ReferenceError, data.CourseDataError) as error:
        sys.exit(f"clipcourse.reference: {error}")


if __name__ == "__main__":
    main()
