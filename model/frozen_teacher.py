"""The image teacher (training only; `train.py`, the default `--teacher frozen`): a CLIP head on frozen
ImageNet features at 224 px.

    EfficientNet-Lite0 (frozen, run once per picture, pooled output cached: 1280-d at 224 px)
    -> dropout -> linear 1280 -> 512                                    (image side)
    MiniLM 384-d (frozen) -> MLP 384 -> 1024 -> 512                     (text side)

Measured on the validation split (R@5 over its unique clip-art captions, same head and schedule):
frozen features at 224 px 0.37-0.40, at 128 px 0.33-0.38; the version 3 teacher, whose last stage
was fine-tuned at 128 px on clip art and icons (drawing_teacher.py), 0.27-0.29; a frozen 128 px head
trained on clip art plus the icons, drawn uniformly, 0.25. Icons, which are 92 % of the pictures, pull
a small head toward icon names; so this head learns from the clip art's captions and the icons enter
later, as pictures the student distils (their teacher embeddings come from this head) and as captions.
A 96 px student distilled from it was worse on validation than version 3 (R@5 0.235 against 0.257); the
128 px student of the shipped model is better (model card, Targets).
"""
import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from teachers import lite_input

SIZE = 224


@torch.no_grad()
def pooled(net, uint8_batch):
    return net.extract_features(lite_input(uint8_batch, SIZE)).mean((2, 3))


@torch.no_grad()
def pooled_features(net, images, cache_path, batch=64, desc="teacher (frozen, 224 px)"):
    """float16 (N, 1280) pooled features of every picture; cached on disk, keyed by the pictures' bytes."""
    key = hashlib.sha1(str(SIZE).encode())
    for s in range(0, len(images), 4096):
        key.update(np.ascontiguousarray(images[s:s + 4096]).tobytes())
    path = cache_path.with_name(f"{cache_path.stem}-{key.hexdigest()[:12]}.npy")
    if path.exists():
        return np.load(path)
    net.eval()
    out = np.empty((len(images), 1280), np.float16)
    for s in tqdm(range(0, len(images), batch), desc=desc, mininterval=5):
        out[s:s + batch] = pooled(net, images[s:s + batch]).numpy()
    np.save(path.with_suffix(".part.npy"), out)
    path.with_suffix(".part.npy").rename(path)
    return out


class FrozenTeacher(torch.nn.Module):
    def __init__(self, d_img=1280, d_txt=384, dim=512):
        super().__init__()
        self.img = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(d_img, dim))
        self.txt = torch.nn.Sequential(torch.nn.Linear(d_txt, 1024), torch.nn.GELU(), torch.nn.Dropout(0.1),
                                       torch.nn.Linear(1024, dim))
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def embed_img(self, f):
        return F.normalize(self.img(f), dim=-1)

    def embed_txt(self, t):
        return F.normalize(self.txt(t), dim=-1)


def train(feats, caption_lists, text_feat, val, epochs, seed, clip_loss, recall_at, log, batch=256):
    """feats: (N, 1280) pooled features of the training pictures; caption_lists[i]: indices into
    text_feat of picture i's captions (one drawn per step); val: (features, text indices).
    The head is small and overfits the clip art within a few dozen epochs, so the weights of the
    epoch with the best validation R@5 are kept. Returns (FrozenTeacher in eval mode, history)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = FrozenTeacher(feats.shape[1], text_feat.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x, txt_t = torch.from_numpy(np.asarray(feats, np.float32)), torch.from_numpy(text_feat)
    v_x, v_text = torch.from_numpy(np.asarray(val[0], np.float32)), val[1]
    history, best = [], (-1.0, None, 0)
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(len(x))
        for s in range(len(x) // batch):
            idx = perm[s * batch:(s + 1) * batch]
            t_idx = [caption_lists[i][rng.integers(len(caption_lists[i]))] for i in idx]
            loss = clip_loss(model.embed_img(x[idx]), model.embed_txt(txt_t[t_idx]), model.logit_scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
        model.eval()
        with torch.no_grad():
            r = recall_at(model.embed_txt(txt_t[v_text]), model.embed_img(v_x))
        history.append(dict(epoch=ep + 1, loss=round(loss.item(), 4), **{k: round(v, 4) for k, v in r.items()}))
        if r["R@5"] > best[0]:
            best = (r["R@5"], {k: v.clone() for k, v in model.state_dict().items()}, ep + 1)
    model.load_state_dict(best[1])
    log(f"frozen-feature teacher: best validation R@5 {best[0]:.3f} at epoch {best[2]} of {epochs}")
    return model.eval(), dict(history=history, best_epoch=best[2])


@torch.no_grad()
def embed_features(model, feats, batch=4096):
    model.eval()
    return torch.cat([model.embed_img(torch.from_numpy(np.asarray(feats[s:s + batch], np.float32)))
                      for s in range(0, len(feats), batch)])


@torch.no_grad()
def embed_pictures(net, model, images, batch=64):
    """Whole teacher on uint8 pictures (no cache): for evaluation on a few hundred images."""
    net.eval()
    return torch.cat([model.embed_img(pooled(net, images[s:s + batch])) for s in range(0, len(images), batch)])
