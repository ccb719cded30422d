"""Augmented views of the clip-art drawings, each with the frozen teacher's features of that same view.

Why: the student sees each of the ~2,750 training drawings sixty times, and it learns them by heart
(mean distance 1 - cos to the teacher's embedding: 0.39 on the training drawings, 0.60 on validation;
model card, Targets). Random crops help only if the target moves with the crop, so the teacher looks
at exactly the view the student gets ("consistent" distillation). The teacher is run once per view,
offline, and the result is cached: training itself stays as cheap as before.
"""
import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

import frozen_teacher as ft

VERSION = "1"   # part of the cache key: change it when the views change


def random_views(crops, seed, batch_start=0):
    """uint8 (B, S, S, 3) -> uint8 (B, S, S, 3): a random flip, zoom (0.7-1.15), shift and small turn of each,
    white outside the picture. Deterministic in (seed, batch_start)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + batch_start)
    x = torch.from_numpy(np.array(crops, copy=True)).permute(0, 3, 1, 2).float() / 255
    b = len(x)
    scale = 0.7 + 0.45 * torch.rand(b, generator=gen)               # < 1 zooms in
    angle = (torch.rand(b, generator=gen) - 0.5) * math.radians(24)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    shift = (torch.rand(b, 2, generator=gen) - 0.5) * 0.24
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = scale * torch.cos(angle) * flip
    theta[:, 0, 1] = -scale * torch.sin(angle)
    theta[:, 1, 0] = scale * torch.sin(angle) * flip
    theta[:, 1, 1] = scale * torch.cos(angle)
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    y = F.grid_sample(x - 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 1
    return (y * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def build(net, crops, n_views, seed, student_size, cache_dir, batch=64):
    """For each teacher-size crop (N, 224, 224, 3), n_views random views.
    Returns (student pixels uint8 (N * n_views, s, s, 3), teacher features float16 (N * n_views, 1280));
    row i * n_views + v is view v of drawing i. Cached in cache_dir, keyed by the crops' bytes and the settings."""
    from train import resize_uint8
    key = hashlib.sha1(f"{VERSION} {n_views} {seed} {student_size} {ft.SIZE}".encode())
    for s in range(0, len(crops), 1024):
        key.update(np.ascontiguousarray(crops[s:s + 1024]).tobytes())
    path = cache_dir / f"views-{key.hexdigest()[:12]}.npz"
    if path.exists():
        z = np.load(path)
        return z["pixels"], z["features"]
    net.eval()
    rows = np.repeat(np.arange(len(crops)), n_views)
    pixels = np.empty((len(rows), student_size, student_size, 3), np.uint8)
    feats = np.empty((len(rows), 1280), np.float16)
    for s in tqdm(range(0, len(rows), batch), desc=f"teacher on {n_views} views of each drawing", mininterval=5):
        v = random_views(crops[rows[s:s + batch]], seed, s)
        feats[s:s + batch] = ft.pooled(net, v).numpy()
        pixels[s:s + batch] = resize_uint8(v, student_size)
    part = path.with_suffix(".part.npz")
    np.savez(part, pixels=pixels, features=feats)
    part.rename(path)
    return pixels, feats
