"""Version 3's image teacher, fine-tuned on drawings (training only; `train.py --teacher finetuned`).

ImageNet's EfficientNet-Lite0 sees clip art as "comic book" or "jigsaw puzzle": with its features
frozen, a CLIP head on top reached only 0.42-0.48 validation R@5 (model card, v1). Here its last
stage is fine-tuned on the drawings and icons themselves, with CLIP's contrastive loss against
MiniLM sentence embeddings of the captions:

    blocks 0-10 (frozen, run once per picture, output cached: 112 x 8 x 8 at 128 px)
    -> blocks 11-15 + head conv (trained) -> mean pool -> linear 1280 -> 512   (image side)
    MiniLM 384-d (frozen) -> MLP 384 -> 1024 -> 512                               (text side)

Caching the frozen part makes a step about five times cheaper than end-to-end training, which is
what makes a fine-tuned teacher affordable on two CPU cores. A horizontal flip of the cached
feature map stands in for flipping the picture.
"""
import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from teachers import lite_input

SIZE = 128     # teacher input size (pixels)
SPLIT = 10     # blocks 0..SPLIT are frozen


@torch.no_grad()
def prefix_features(net, images, cache_path, batch=64, desc="teacher (frozen blocks)"):
    """float16 (N, 112, 8, 8): output of the frozen blocks for every picture; cached on disk,
    keyed by the pictures' bytes, so a rerun on the same inputs costs nothing."""
    key = hashlib.sha1()
    for s in range(0, len(images), 4096):
        key.update(np.ascontiguousarray(images[s:s + 4096]).tobytes())
    path = cache_path.with_name(f"{cache_path.stem}-{key.hexdigest()[:12]}.npy")
    if path.exists():
        return np.load(path, mmap_mode="r")
    net.eval()
    out = None
    for s in tqdm(range(0, len(images), batch), desc=desc, mininterval=5):
        h = net._swish(net._bn0(net._conv_stem(lite_input(images[s:s + batch], SIZE))))
        for block in net._blocks[:SPLIT + 1]:
            h = block(h)
        if out is None:
            out = np.lib.format.open_memmap(path.with_suffix(".part.npy"), mode="w+", dtype=np.float16,
                                            shape=(len(images),) + tuple(h.shape[1:]))
        out[s:s + len(h)] = h.numpy().astype(np.float16)
    out.flush()
    del out
    path.with_suffix(".part.npy").rename(path)
    return np.load(path, mmap_mode="r")


class DrawingTeacher(torch.nn.Module):
    def __init__(self, net, d_txt=384, dim=512):
        super().__init__()
        self.blocks = torch.nn.ModuleList(net._blocks[SPLIT + 1:])
        self.conv_head, self.bn1 = net._conv_head, net._bn1
        self.act = net._swish
        self.drop = net._global_params.drop_connect_rate
        self.img = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(1280, dim))
        self.txt = torch.nn.Sequential(torch.nn.Linear(d_txt, 1024), torch.nn.GELU(), torch.nn.Dropout(0.1),
                                       torch.nn.Linear(1024, dim))
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def embed_img(self, h):
        n = len(self.blocks)
        for k, block in enumerate(self.blocks):
            rate = self.drop * (SPLIT + 1 + k) / (SPLIT + 1 + n) if self.training else 0.0
            h = block(h, drop_connect_rate=rate)
        h = self.act(self.bn1(self.conv_head(h))).mean((2, 3))
        return F.normalize(self.img(h), dim=-1)

    def embed_txt(self, t):
        return F.normalize(self.txt(t), dim=-1)


def train(net, prefix, caption_lists, text_feat, val, epochs, seed, clip_loss, recall_at, log, batch=256):
    """prefix: (N, C, 8, 8) cached features of the training pictures; caption_lists[i]: indices into
    text_feat of picture i's captions (one drawn per step); val: (prefix, text indices) or None.
    Returns the trained DrawingTeacher (eval mode) and its per-epoch history."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DrawingTeacher(net, text_feat.shape[1])
    pretrained = [p for m in (model.blocks, model.conv_head, model.bn1) for p in m.parameters()]
    new = list(model.img.parameters()) + list(model.txt.parameters()) + [model.logit_scale]
    opt = torch.optim.AdamW([{"params": pretrained, "lr": 3e-4}, {"params": new, "lr": 1e-3}], weight_decay=0.05)
    n = len(prefix)
    steps = epochs * (n // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[3e-4, 1e-3], total_steps=steps, pct_start=0.08)
    txt_t = torch.from_numpy(text_feat)
    history = []
    bar = tqdm(total=steps, desc="drawing teacher", mininterval=5)
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(n)
        for s in range(n // batch):
            idx = np.sort(perm[s * batch:(s + 1) * batch])
            h = torch.from_numpy(np.asarray(prefix[idx], dtype=np.float32))
            flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
            h = torch.where(flip.view(-1, 1, 1, 1), h.flip(3), h)
            t_idx = [caption_lists[i][rng.integers(len(caption_lists[i]))] for i in idx]
            loss = clip_loss(model.embed_img(h), model.embed_txt(txt_t[t_idx]), model.logit_scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        row = dict(epoch=ep + 1, loss=round(loss.item(), 4))
        if val is not None:
            v_prefix, v_text = val
            model.eval()
            with torch.no_grad():
                r = recall_at(model.embed_txt(txt_t[v_text]), embed_prefix(model, v_prefix))
            row.update({k: round(v, 4) for k, v in r.items()})
        history.append(row)
        log("drawing teacher " + " ".join(f"{k} {v}" for k, v in row.items()))
    bar.close()
    return model.eval(), history


@torch.no_grad()
def embed_prefix(model, prefix, batch=512):
    model.eval()
    return torch.cat([model.embed_img(torch.from_numpy(np.asarray(prefix[s:s + batch], dtype=np.float32)))
                      for s in range(0, len(prefix), batch)])


@torch.no_grad()
def embed_pictures(net, model, images, batch=64):
    """Full teacher on uint8 pictures (no cache): for evaluation on a few hundred images."""
    out = []
    for s in range(0, len(images), batch):
        h = net._swish(net._bn0(net._conv_stem(lite_input(images[s:s + batch], SIZE))))
        for block in net._blocks[:SPLIT + 1]:
            h = block(h)
        out.append(model.embed_img(h))
    return torch.cat(out)
