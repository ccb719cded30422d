"""Permissively licensed icon sets from the npm registry (Iconify JSON), rendered as clip-art-like PNGs.

Each set is pinned below with the licence its own ``info`` block must declare; a set whose licence
changed is refused. Left out, by rule (issue 10): every emoji set, every category named like Emoji,
Faces, Emotions, Smileys, Brand or Logo, face-expression names, and brand sets. Captions are the icon
names with style words removed ("dog-sitting-outline" -> "dog sitting"), kept only when every word is
an English word.

Rendering (resvg-py): the icon's ``currentColor`` becomes a colour drawn per icon (mostly black, as
most clip-art outlines are), placed on white with a random margin, so icons look more like the course's
drawings. Results are cached in model/cache/icons-<size>.npz; the npm tarballs in model/cache/npm/.
"""
import hashlib
import json
import random
import re
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from captions import english_words, singular

CACHE = Path(__file__).resolve().parent / "cache"
NPM = CACHE / "npm"

# set -> (pinned version, licence its info block must declare, credit line for the model card)
SETS = {
    "pinhead": ("1.2.28", "CC0-1.0", "Pinhead Icons by Quincy Morgan"),
    "game-icons": ("1.2.4", "CC-BY-3.0", "Game Icons by Lorc, Delapouite and contributors (game-icons.net)"),
    "healthicons": ("1.2.13", "MIT", "Health Icons by Resolve to Save Lives"),
    "flat-color-icons": ("1.2.3", "MIT", "Flat Color Icons by Icons8"),
    "fluent-color": ("1.2.21", "MIT", "Fluent UI System Color Icons by Microsoft"),
    "icon-park": ("1.2.4", "Apache-2.0", "IconPark by ByteDance"),
    "mdi": ("1.2.3", "Apache-2.0", "Material Design Icons by Pictogrammers"),
    "carbon": ("1.2.29", "Apache-2.0", "Carbon icons by IBM"),
    "ph": ("1.2.2", "MIT", "Phosphor Icons"),
    "tabler": ("1.2.41", "MIT", "Tabler Icons"),
    "lucide": ("1.2.137", "ISC", "Lucide"),
    "fa6-solid": ("1.2.4", "CC-BY-4.0", "Font Awesome Free 6 (solid) by Fonticons"),
}
ALLOWED = {"CC0-1.0", "MIT", "ISC", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "CC-BY-3.0", "CC-BY-4.0"}
NEEDS_CREDIT = {"CC-BY-3.0", "CC-BY-4.0"}
EXCLUDED_CATEGORY = re.compile(r"emoji|face|emotion|smile|smiley|brand|logo", re.I)
FACE_WORDS = {"face", "emoji", "smile", "smiley", "smiling", "grin", "grinning", "laugh", "laughing", "wink",
              "frown", "sad", "happy", "angry", "cry", "crying", "tear", "tears", "kiss", "blush", "mood",
              "emotion", "emoticon", "expression", "confused", "neutral", "surprised", "shocked", "tongue",
              "sick", "dizzy", "meh", "upset", "logo", "brand"}
# style and variant words in icon names that say nothing about what is drawn
STYLE_WORDS = {"outline", "outlined", "filled", "fill", "solid", "bold", "thin", "light", "duotone",
               "twotone", "regular", "rounded", "round", "sharp", "line", "alt", "variant", "small", "sm",
               "lg", "xl", "xs", "md", "simple", "flat", "color", "colour", "mini", "micro", "sign", "icon",
               "box", "square", "circle", "off", "slash", "plus", "minus", "add", "remove", "check", "x"}
INK_COLOURS = [(0, 0, 0)] * 6 + [(40, 40, 40), (90, 60, 30), (30, 60, 140), (150, 30, 30), (30, 110, 50),
                                  (200, 120, 0), (110, 50, 140)]


def fetch(name, version):
    """The set's package folder, fetched once with ``npm pack`` into the cache."""
    folder = NPM / f"{name}-{version}"
    if not (folder / "icons.json").exists():
        NPM.mkdir(parents=True, exist_ok=True)
        spec = f"@iconify-json/{name}@{version}"
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=NPM, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"npm pack {spec} failed: {out.stderr.strip()[-300:]}")
        tgz = NPM / out.stdout.strip().splitlines()[-1]
        folder.mkdir(exist_ok=True)
        with tarfile.open(tgz) as t:
            for m in t.getmembers():   # only the three JSON files we read, never paths outside
                base = m.name.rsplit("/", 1)[-1]
                if m.isfile() and base in ("icons.json", "info.json", "metadata.json"):
                    (folder / base).write_bytes(t.extractfile(m).read())
        tgz.unlink()
    return folder


def licence_of(folder, name, expected):
    info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
    spdx = info.get("license", {}).get("spdx", "")
    if spdx != expected or spdx not in ALLOWED:
        raise SystemExit(f"@iconify-json/{name}: licence {spdx!r}, expected {expected!r}: not used")
    return spdx


def caption_of(icon_name, lower_words):
    """'dog-sitting-outline' -> 'dog sitting'; None when a word is not English or says nothing."""
    words = [w for w in re.split(r"[-_\s]+", icon_name.lower()) if w]
    if any(w in FACE_WORDS for w in words):
        return None
    words = [w for w in words if w not in STYLE_WORDS and not re.fullmatch(r"\d+[a-z]?|[a-z]\d+", w)]
    if not words or not all(w in lower_words for w in words) or not any(len(w) >= 3 for w in words):
        return None
    return " ".join(singular(w) if len(words) == 1 else w for w in words)


def icon_list():
    """[(key, caption, svg markup, set name)] for every usable icon of every pinned set."""
    lower, _ = english_words()
    out = []
    for name, (version, expected, _) in SETS.items():
        folder = fetch(name, version)
        licence_of(folder, name, expected)
        data = json.loads((folder / "icons.json").read_text(encoding="utf-8"))
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        banned = {i for cat, names in meta.get("categories", {}).items() if EXCLUDED_CATEGORY.search(cat) for i in names}
        w0, h0 = data.get("width", 16), data.get("height", 16)
        for icon, spec in sorted(data["icons"].items()):
            if icon in banned or spec.get("hidden"):
                continue
            cap = caption_of(icon, lower)
            if cap is None:
                continue
            w, h = spec.get("width", w0), spec.get("height", h0)
            svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{spec.get("left", 0)} {spec.get("top", 0)} {w} {h}">'
                   f'{spec["body"]}</svg>')
            out.append((f"{name}/{icon}", cap, svg, name))
    return out


def render(svg, size, rng):
    """uint8 (size, size, 3): the icon in a drawn ink colour on white, with a random margin."""
    import resvg_py
    ink = "rgb(%d,%d,%d)" % rng.choice(INK_COLOURS)
    inner = max(8, int(size * rng.uniform(0.7, 0.92)))
    png = resvg_py.svg_to_bytes(svg_string=svg.replace("currentColor", ink), width=inner, height=inner)
    icon = Image.open(BytesIO(bytes(png))).convert("RGBA")
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    x = rng.randint(0, size - icon.width)
    y = rng.randint(0, size - icon.height)
    canvas.alpha_composite(icon, (x, y))
    return np.asarray(canvas.convert("RGB"))


def ink_mask(rgb, n=32):
    """Binary n x n silhouette of the drawing: cropped to its ink, padded square (aspect kept)."""
    g = np.asarray(Image.fromarray(rgb).convert("L"))
    ys, xs = np.nonzero(g < 200)
    if len(ys) == 0:
        return np.zeros((n, n), bool)
    crop = g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    side = max(crop.shape)
    sq = np.full((side, side), 255, np.uint8)
    y0, x0 = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    sq[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
    return np.asarray(Image.fromarray(sq).resize((n, n), Image.Resampling.BOX)) < 200


def near_copies(icon_px, course_px, min_iou=0.85):
    """Indices of icons whose silhouette matches a course image's (IoU of ink masks >= min_iou).

    dHash compares brightness gradients and calls a triangle and a hat the same; silhouettes of a
    real copy overlap almost entirely, while different simple shapes rarely pass 0.85."""
    course = np.stack([ink_mask(c) for c in course_px]).reshape(len(course_px), -1)
    hits = []
    for i, px in enumerate(icon_px):
        m = ink_mask(px).reshape(1, -1)
        inter = (course & m).sum(1)
        union = (course | m).sum(1)
        if (inter / np.maximum(union, 1)).max() >= min_iou:
            hits.append(i)
    return hits


def build(size, log=print):
    """Render every usable icon at ``size`` px. Returns (meta: list of dicts key/caption/set,
    uint8 (N, size, size, 3)); icons that fail to render are dropped with a message. Cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    items = icon_list()
    here = Path(__file__).resolve().parent
    fp = hashlib.sha1(json.dumps([sorted(SETS.items()), size, [k for k, *_ in items],
                                  hashlib.sha1((here / "icons.py").read_bytes()).hexdigest()]).encode()).hexdigest()[:12]
    path = CACHE / f"icons-{size}-{fp}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        keep = set(z["keys"].tolist())
        return [dict(key=k, caption=c, set=s) for k, c, _, s in items if k in keep], z["px"]
    from tqdm import tqdm
    px, meta, failed = [], [], []
    for key, cap, svg, name in tqdm(items, desc="render icons", mininterval=5):
        try:
            px.append(render(svg, size, random.Random(key)))   # colour and placement fixed per icon
            meta.append(dict(key=key, caption=cap, set=name))
        except (ValueError, OSError) as e:
            failed.append(f"icon {key} not rendered ({e}): left out")
    for line in failed[:20]:
        log(line)
    px = np.stack(px)
    np.savez(path, keys=np.array([m["key"] for m in meta]), px=px)
    log(f"icons: {len(meta)} rendered from {len(SETS)} sets ({len(failed)} failed)")
    return meta, px
