"""Search your own pictures with CLIP: small pure functions that notebook 05 shows and a project can copy.

    found = encode_folder("my_photos/", model, processor, model_id, cache="my_photos.npz")
    scores, rows = search(embed_texts(model, processor, ["a red car"]), found.embeddings, k=5)

Everything after the model call is plain numpy on L2-normalised rows, so the cosine similarity is a
matrix product. Rankings are stable: of two equal scores the lower index ranks first (as
``np.argsort(-scores, kind="stable")``), so results never depend on the sort's mood.
"""
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
CACHE_FORMAT = 1


# ---- embeddings -------------------------------------------------------------------------------------
def features(out):
    """The embedding tensor of get_image_features/get_text_features: transformers 5 returns an output object."""
    return getattr(out, "pooler_output", out)


def normalize(x):
    """Rows divided by their length (float32 numpy); a zero row stays zero instead of becoming nan."""
    x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def embed_images(model, processor, images):
    """(len(images), D) normalised embeddings of PIL images, in one model call."""
    import torch

    with torch.no_grad():
        inputs = processor(images=list(images), return_tensors="pt", padding=True)
        return normalize(features(model.get_image_features(**inputs)))


def embed_texts(model, processor, texts):
    """(len(texts), D) normalised embeddings of texts, in one model call."""
    import torch

    with torch.no_grad():
        inputs = processor(text=list(texts), return_tensors="pt", padding=True)
        return normalize(features(model.get_text_features(**inputs)))


def ensemble(model, processor, names, templates):
    """(len(names), D): each name written with every template ("a drawing of a {}"), embedded,
    averaged, then normalised again -- the prompt ensemble of the CLIP paper."""
    texts = [template.format(name) for name in names for template in templates]
    rows = embed_texts(model, processor, texts).reshape(len(names), len(templates), -1)
    return normalize(rows.mean(axis=1))


# ---- a folder, encoded once ---------------------------------------------------------------------------
@dataclass
class Encoded:
    paths: list                 # the pictures that were read, in sorted order
    embeddings: np.ndarray      # (len(paths), D) float32, normalised
    encoded: int = 0            # pictures the model saw this time
    reused: int = 0             # pictures taken from the cache
    skipped: list = field(default_factory=list)   # (path, why) for files that are not readable pictures
    seconds: float = 0.0        # time spent encoding (reading the cache not included)


def image_files(folder):
    """The picture files under ``folder`` (sub-folders too), sorted, by suffix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: give the path of a folder of pictures")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _stamp(path):
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _read_cache(cache, model_id):
    """{path: (size, mtime_ns, embedding)} from a cache file made with ``model_id``; {} otherwise."""
    try:
        with np.load(cache, allow_pickle=False) as saved:
            if int(saved["format"]) != CACHE_FORMAT or str(saved["model"]) != model_id:
                return {}
            return {p: (int(s), int(m), e) for p, s, m, e in
                    zip(saved["paths"].tolist(), saved["sizes"], saved["mtimes"], saved["embeddings"])}
    except (OSError, KeyError, ValueError):  # no cache yet, or one this code cannot read: start afresh
        return {}


def _write_cache(cache, model_id, rows):
    cache = Path(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    paths = sorted(rows)
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, format=CACHE_FORMAT, model=model_id, paths=np.array(paths, dtype=str),
             sizes=np.array([rows[p][0] for p in paths], dtype=np.int64),
             mtimes=np.array([rows[p][1] for p in paths], dtype=np.int64),
             embeddings=np.stack([rows[p][2] for p in paths]) if paths else np.zeros((0, 0), np.float32))
    os.replace(tmp, cache)  # a run stopped half-way never leaves a broken cache


def _open_rgb(path):
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        return im.convert("RGB")


def encode_folder(folder, model, processor, model_id, cache=None, batch_size=32, progress=True):
    """Embed every picture of ``folder`` in batches; with ``cache`` (an .npz path) only new or changed files.

    A file is reused when its path, size and modification time match the cache and the cache was made
    with ``model_id``. Files that are not readable pictures are skipped and named in ``skipped``.
    """
    from tqdm.auto import tqdm

    files = image_files(folder)
    known = _read_cache(cache, model_id) if cache else {}
    rows, todo, skipped = {}, [], []
    for path in files:
        key, stamp = str(path.resolve()), _stamp(path)
        if key in known and known[key][:2] == stamp:
            rows[key] = known[key]
        else:
            todo.append((key, stamp))
    reused = len(rows)
    start = time.perf_counter()
    for first in tqdm(range(0, len(todo), batch_size), desc="encoding", disable=not progress or not todo):
        batch, images = [], []
        for key, stamp in todo[first:first + batch_size]:
            try:
                images.append(_open_rgb(key))
                batch.append((key, stamp))
            except Exception as error:  # a broken or mislabelled file: say which, go on with the rest
                skipped.append((key, f"{type(error).__name__}: {error}"))
        if images:
            for (key, stamp), row in zip(batch, embed_images(model, processor, images)):
                rows[key] = (*stamp, row)
    seconds = time.perf_counter() - start
    if cache and (todo or set(known) != set(rows)):
        _write_cache(cache, model_id, rows)
    paths = [p for p in files if str(p.resolve()) in rows]
    matrix = np.stack([rows[str(p.resolve())][2] for p in paths]) if paths else np.zeros((0, 0), np.float32)
    return Encoded(paths, matrix.astype(np.float32), len(todo) - len(skipped), reused, skipped, seconds)


# ---- search and its measures ------------------------------------------------------------------------
def ranking(scores, k=None):
    """Indices of ``scores`` (1-D) from best to worst, the first ``k`` only; ties: lower index first."""
    scores = np.asarray(scores, dtype=np.float64)
    k = len(scores) if k is None else max(0, min(int(k), len(scores)))
    if 0 < k < len(scores):  # only the candidates at or above the k-th best score get sorted
        kth = np.partition(-scores, k - 1)[k - 1]
        candidates = np.flatnonzero(-scores <= kth)
        return candidates[np.argsort(-scores[candidates], kind="stable")][:k]
    return np.argsort(-scores, kind="stable")[:k]


def search(queries, gallery, k=5, exclude=None):
    """Top-``k`` rows of ``gallery`` for each query row, by cosine similarity: (scores, indices), each (Q, k).

    Any direction: text->image (text queries, image gallery), image->image, image->text, text->text.
    ``exclude``: one gallery index per query that must not be returned (the query picture itself), or None.
    """
    queries, gallery = normalize(np.atleast_2d(queries)), normalize(gallery)
    similarities = queries @ gallery.T
    if exclude is not None:
        similarities[np.arange(len(queries)), np.atleast_1d(exclude)] = -np.inf
    k = min(k, gallery.shape[0] - (exclude is not None))
    indices = np.stack([ranking(row, k) for row in similarities])
    return np.take_along_axis(similarities, indices, axis=1), indices


def _first_relevant_ranks(scores, relevant):
    """For each query, the 1-based ranks (stable ranking) at which its relevant items come."""
    scores, relevant = np.atleast_2d(np.asarray(scores, dtype=np.float64)), np.atleast_2d(np.asarray(relevant, bool))
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must have the same shape")
    if not relevant.any(axis=1).all():
        raise ValueError("every query needs at least one relevant item")
    return [np.flatnonzero(r[ranking(s)]) + 1 for s, r in zip(scores, relevant)]


def recall_at_k(scores, relevant, k):
    """Mean over queries of the share of their relevant items found in the Top-``k``.

    scores (Q, N) similarities; relevant (Q, N) booleans. ``k`` larger than N means the whole gallery.
    With one relevant item per query this is the CLIP paper's R@K (was it in the Top-K or not).
    """
    return float(np.mean([np.sum(ranks <= k) / len(ranks) for ranks in _first_relevant_ranks(scores, relevant)]))


def mean_reciprocal_rank(scores, relevant):
    """Mean over queries of 1 / (rank of the first relevant item): 1.0 when it is always first."""
    return float(np.mean([1.0 / ranks[0] for ranks in _first_relevant_ranks(scores, relevant)]))


def best_or_none(scores, threshold):
    """Index of the best score, or None ("no good match") when even the best is below ``threshold``."""
    order = ranking(scores, 1)
    return int(order[0]) if len(order) and float(np.asarray(scores)[order[0]]) >= threshold else None


def threshold_between(real_best, nonsense_best):
    """The threshold that best separates the best scores of real queries from those of nonsense queries:
    of the midpoints between neighbouring scores, the one with the highest share of real queries accepted
    plus nonsense rejected (balanced accuracy); of equal ones, the highest (rejecting nonsense wins)."""
    real, nonsense = np.asarray(real_best, float), np.asarray(nonsense_best, float)
    values = np.unique(np.concatenate([real, nonsense]))
    candidates = np.concatenate([[values[0] - 1e-6], (values[1:] + values[:-1]) / 2, [values[-1] + 1e-6]])
    quality = [np.mean(real >= t) + np.mean(nonsense < t) for t in candidates]
    return float(candidates[len(quality) - 1 - int(np.argmax(quality[::-1]))])
