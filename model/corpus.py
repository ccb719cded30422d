"""Build the training corpus of the course CLIP from Debian packages, and its honest evaluation sets.

* Training and held-out images: ``openclipart-png`` (public domain) with captions cleaned from the
  file names and the SVG metadata of ``openclipart-svg`` (see captions.py).
* Held-out style (zero-shot only, never trained on): ``tuxpaint-stamps-default`` (GPL-2; used for
  evaluation only, so nothing of it is in the shipped weights).
* Excluded everywhere: every course image (the origins in data/manifest.csv, and the files in data/
  themselves), every pixel-identical copy and every near-copy of one (see ``groups``).

Hazards handled: PNGs over Pillow's decompression-bomb limit are skipped with a message, transparency
is composited on white, unreadable files are skipped with a message (a batch never dies on one file).

The result is cached in model/cache/corpus-<size>.npz (+ .json); rebuilding takes a few minutes.
"""
import csv
import hashlib
import html
import json
import re
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from captions import author_token_set, clean_name, singular, words_of

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "model" / "cache"
PNG_ROOT = Path("/usr/share/openclipart/png")
SVG_ROOT = Path("/usr/share/openclipart/svg")
STAMP_ROOT = Path("/usr/share/tuxpaint/stamps")
DATA = ROOT / "data"
TEACHER_SIZE = 224
MAX_PIXELS = 89_478_485   # Pillow's default decompression-bomb limit, fixed here
MAX_SIDE = 256            # course images are normalised to longest side <= 256 px; so are ours
PER_FOLDER_CAP = 150      # 1,378 generated stars and 600 toolbar icons would otherwise dominate
NEAR_BITS = 5             # dHash Hamming distance that counts as a near-copy inside the corpus
COURSE_NEAR_BITS = 6      # course image vs its origin measures 0-2 bits; different drawings ~30
GROUP_CAP = 4             # at most this many variants of one drawing (54 playing cards of one deck...)
HELDOUT_MIN, VAL_SIZE = 600, 300
WORK = re.compile(r"<cc:Work\b.*?</cc:Work>", re.S)


def svg_meta(svg_path):
    """Title, description, keywords and creator from an openclipart SVG's RDF block."""
    try:
        text = svg_path.read_text(encoding="utf-8", errors="replace")[:300_000]
    except OSError:
        return dict(creator="", title="", desc="", keywords=[])
    m = WORK.search(text)
    work = m.group(0) if m else ""
    unesc = lambda x: html.unescape(x.group(1)).strip() if x else ""
    creator = unesc(re.search(r"<dc:creator>.*?<dc:title>(.*?)</dc:title>", work, re.S))
    own = re.sub(r"<dc:(creator|rights|publisher)>.*?</dc:\1>", "", work, flags=re.S)
    return dict(creator=creator,
                title=unesc(re.search(r"<dc:title>(.*?)</dc:title>", own, re.S)),
                desc=unesc(re.search(r"<dc:description>(.*?)</dc:description>", own, re.S)),
                keywords=[html.unescape(k).strip() for k in re.findall(r"<rdf:li>(.*?)</rdf:li>", own, re.S) if k.strip()])


class DecompressionBomb(Exception):
    pass


def load_rgb(path):
    """RGB on white, longest side <= MAX_SIDE; raises on bombs and broken files.

    The pixel limit is checked here, not left to Pillow's global MAX_IMAGE_PIXELS, which other code
    in the same process may change: the corpus must not depend on what was imported before."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise DecompressionBomb(f"{im.width}x{im.height} pixels > {MAX_PIXELS}")
            im.load()
            if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
                rgba = im.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                rgb = Image.alpha_composite(white, rgba).convert("RGB")
            else:
                rgb = im.convert("RGB")
    exact = hashlib.sha1(rgb.tobytes() + repr(rgb.size).encode()).hexdigest()
    if max(rgb.size) > MAX_SIDE:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    return rgb, exact


def clip_crop(rgb, size):
    """What CLIPImageProcessor does: shortest edge -> size (bicubic), then centre crop size x size."""
    w, h = rgb.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    im = rgb.resize((nw, nh), Image.BICUBIC)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)


def dhash(rgb):
    """64-bit difference hash of the grey drawing cropped to its ink (robust to resizing, recolouring
    and to where the drawing sits on its white page)."""
    grey = rgb.convert("L")
    box = Image.eval(grey, lambda v: 255 if v < 250 else 0).getbbox()
    if box:
        grey = grey.crop(box)
    g = np.asarray(grey.resize((9, 8), Image.BILINEAR), dtype=np.int16)
    bits = (g[:, 1:] > g[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def _decode(args):
    path, size = args
    try:
        rgb, exact = load_rgb(path)
        return dict(ok=True, exact=exact, dhash=dhash(rgb), student=clip_crop(rgb, size),
                    teacher=clip_crop(rgb, TEACHER_SIZE))
    except (DecompressionBomb, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        return dict(ok=False, why=f"decompression bomb ({e.__class__.__name__})")
    except Exception as e:  # noqa: BLE001 - one bad file never stops the batch
        return dict(ok=False, why=f"{e.__class__.__name__}: {e}")


def decode_all(paths, size, workers=2, desc="decode"):
    from tqdm import tqdm
    with Pool(workers) as pool:
        return list(tqdm(pool.imap(_decode, [(p, size) for p in paths], chunksize=16),
                         total=len(paths), desc=desc, mininterval=5))


def hamming_pairs(hashes_a, hashes_b, max_bits):
    """Index pairs (i, j) with Hamming(a_i, b_j) <= max_bits."""
    a = np.asarray(hashes_a, dtype=np.uint64)
    b = np.asarray(hashes_b, dtype=np.uint64)
    out = []
    for i0 in range(0, len(a), 512):
        d = np.bitwise_count(a[i0:i0 + 512, None] ^ b[None, :])
        ii, jj = np.nonzero(d <= max_bits)
        out.extend(zip((ii + i0).tolist(), jj.tolist()))
    return out


def variant_key(rel):
    """Same-stem rule: dog_05_drawn_with_strai_01 and _02 are one drawing recoloured or resized."""
    stem = re.sub(r"([_-]?[0-9]+[a-z]?|_[a-z])+$", "", rel[:-4])
    return stem


class UnionFind:
    def __init__(self, n):
        self.p = list(range(n))

    def find(self, i):
        while self.p[i] != i:
            self.p[i] = self.p[self.p[i]]
            i = self.p[i]
        return i

    def union(self, i, j):
        self.p[self.find(i)] = self.find(j)


def course_images():
    """(origins inside the openclipart package, course image files) to exclude from training."""
    manifest = DATA / "manifest.csv"
    files = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")) if DATA.exists() else []
    if not manifest.exists():   # training without the exclusion list could learn the course images
        raise SystemExit(f"{manifest} is missing: the corpus must know the course images to leave them out")
    with manifest.open(newline="", encoding="utf-8") as f:
        origins = [r["origin"].strip() for r in csv.DictReader(f) if r.get("origin", "").strip()]
    return origins, files, "data/manifest.csv"


def captions_for(name, title, keywords, folder):
    """Training texts for one drawing (the first is the one evaluated)."""
    art = "an" if name[:1] in "aeiou" else "a"
    texts = [name, f"a picture of {art} {name}", f"a drawing of {art} {name}", f"{art} {name}"]
    if title and title != name:
        texts.append(title)
    if keywords:
        texts.append(", ".join([name] + [k for k in keywords[:3] if k not in name.split()]))
    leaf = [singular(w) for w in words_of(folder.split("/")[-1].replace("_", " "))] if folder else []
    if leaf and leaf[-1] not in name.split():
        texts.append(f"{name}, {' '.join(leaf)}")
    return list(dict.fromkeys(texts))


def stamp_name(path):
    """Object name of a Tux Paint stamp from its file name (frog-1.png -> frog); letters have none."""
    if "alphabets" in path.parts:
        return ""
    stem = re.sub(r"([_-]?[0-9]+)+$", "", path.stem)
    return " ".join(w for w in words_of(stem.replace("-", " ").replace("_", " ")) if w not in ("mirror", "cartoon"))


def build(size, workers=2, log=print):
    """Build (or load from cache) the corpus for student image size ``size``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    meta_path, arr_path, tea_path = paths(size)
    origins, course_files, origin_source = course_images()
    here = Path(__file__).resolve().parent
    fingerprint = hashlib.sha1(json.dumps(
        [size, origins, [(str(p), p.stat().st_size) for p in course_files]]
        + [hashlib.sha1((here / f).read_bytes()).hexdigest() for f in ("corpus.py", "captions.py")]).encode()).hexdigest()
    if meta_path.exists() and arr_path.exists() and tea_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == fingerprint:
            return meta, load_arrays(size)

    # ---- openclipart: metadata and captions
    pngs = sorted(PNG_ROOT.rglob("*.png"))
    rels = [p.relative_to(PNG_ROOT).as_posix() for p in pngs]
    metas = [svg_meta(SVG_ROOT / (r[:-4] + ".svg")) for r in rels]
    authors = author_token_set({m["creator"] for m in metas if m["creator"]})
    decoded = decode_all(pngs, size, workers, "openclipart")
    skipped = [(r, d["why"]) for r, d in zip(rels, decoded) if not d["ok"]]
    for r, why in skipped:
        log(f"skipped {r}: {why}")

    items = []
    for r, m, d in zip(rels, metas, decoded):
        if not d["ok"]:
            continue
        folder = r.rsplit("/", 1)[0] if "/" in r else ""
        name, title, kw = clean_name(Path(r).stem, m["creator"], m["title"], folder, authors, m["keywords"])
        items.append(dict(rel=r, folder=folder, name=name, title=title, keywords=kw, **d))

    # ---- groups of copies: pixel-identical, near-identical (dHash), same stem (recoloured variants)
    n = len(items)
    uf = UnionFind(n)
    first = {}
    for i, it in enumerate(items):
        key = ("x", it["exact"])
        if key in first:
            uf.union(i, first[key])
        first.setdefault(key, i)
        key = ("v", variant_key(it["rel"]))
        if key in first:
            uf.union(i, first[key])
        first.setdefault(key, i)
    hashes = [it["dhash"] for it in items]
    # near-copies under other names (dHash) are not merged transitively (chains would join unrelated
    # simple drawings); instead no held-out image may have one in training (see the split below).
    informative = [8 <= bin(h).count("1") <= 56 for h in hashes]
    near = {}
    for i, j in hamming_pairs(hashes, hashes, NEAR_BITS):
        if i != j and informative[i] and informative[j]:
            near.setdefault(i, set()).add(j)

    # ---- course images and everything grouped with them are excluded
    by_rel = {it["rel"]: i for i, it in enumerate(items)}
    excluded_roots = {uf.find(by_rel[o]) for o in origins if o in by_rel}
    course_hashes, course_exact = [], set()
    for p in course_files:
        try:
            rgb, exact = load_rgb(p)
            course_hashes.append(dhash(rgb))
            course_exact.add(exact)
        except Exception as e:  # noqa: BLE001
            log(f"course image {p} unreadable ({e}); its origin rule still applies")
    for i, it in enumerate(items):
        if it["exact"] in course_exact:
            excluded_roots.add(uf.find(i))
    for _, j in hamming_pairs(course_hashes, hashes, COURSE_NEAR_BITS):
        if informative[j]:
            excluded_roots.add(uf.find(j))
    excluded = [it["rel"] for i, it in enumerate(items) if uf.find(i) in excluded_roots]

    # ---- keep one file per pixel-identical set, drop uncaptioned files, cap huge folders
    seen_exact, kept = set(), []
    for i, it in enumerate(items):
        if uf.find(i) in excluded_roots or not it["name"] or it["exact"] in seen_exact:
            continue
        seen_exact.add(it["exact"])
        kept.append(i)
    rank = lambda i: hashlib.sha1(items[i]["rel"].encode()).hexdigest()
    per_folder = {}
    for i in sorted(kept, key=rank):
        per_folder.setdefault(items[i]["folder"], []).append(i)
    kept = sorted(i for v in per_folder.values() for i in v[:PER_FOLDER_CAP])
    per_group = {}
    for i in sorted(kept, key=rank):
        per_group.setdefault(uf.find(i), []).append(i)
    kept = sorted(i for v in per_group.values() for i in v[:GROUP_CAP])

    # ---- splits by group, so no near-copy crosses a split
    groups = {}
    for i in kept:
        groups.setdefault(uf.find(i), []).append(i)
    order = sorted(groups, key=lambda g: hashlib.sha1(("split" + items[groups[g][0]]["rel"]).encode()).hexdigest())

    def assign(n_heldout, n_val):
        split, n_h, n_v = {}, 0, 0
        for g in order:
            if n_h < n_heldout:
                s, n_h = "heldout", n_h + len(groups[g])
            elif n_v < n_val:
                s, n_v = "val", n_v + len(groups[g])
            else:
                s = "train"
            for i in groups[g]:
                split[i] = s
        moved = 0
        for i in kept:  # a held-out image with a near-copy in training is no test: train on it instead
            if split[i] != "train" and any(split.get(j) == "train" for j in near.get(i, ())):
                split[i], moved = "train", moved + 1
        return split, moved

    want_h, want_v = HELDOUT_MIN, VAL_SIZE
    while True:  # ask for more until enough are left after the near-copy rule
        split, moved = assign(want_h, want_v)
        got_h = sum(v == "heldout" for v in split.values())
        got_v = sum(v == "val" for v in split.values())
        if got_h >= HELDOUT_MIN and got_v >= VAL_SIZE:
            break
        want_h += max(0, HELDOUT_MIN - got_h) + 10
        want_v += max(0, VAL_SIZE - got_v) + 10

    records = []
    for i in kept:
        it = items[i]
        records.append(dict(rel=it["rel"], split=split[i], group=int(uf.find(i)), name=it["name"],
                            texts=captions_for(it["name"], it["title"], it["keywords"], it["folder"])))
    student = np.stack([items[i]["student"] for i in kept])
    teacher = np.stack([items[i]["teacher"] for i in kept])

    # ---- held-out style: Tux Paint stamps that are not copies of any openclipart drawing
    stamp_paths = sorted(STAMP_ROOT.rglob("*.png"))
    sdec = decode_all(stamp_paths, size, workers, "tuxpaint")
    stamps = []
    for p, d in zip(stamp_paths, sdec):
        name = stamp_name(p)
        if d["ok"] and name:
            stamps.append(dict(rel=p.relative_to(STAMP_ROOT).as_posix(), name=name, **d))
    overlap = {j for j, _ in hamming_pairs([s["dhash"] for s in stamps], hashes, NEAR_BITS)}
    stamps = [s for j, s in enumerate(stamps) if j not in overlap]

    meta = dict(fingerprint=fingerprint, size=size, origin_source=origin_source,
                n_png=len(pngs), skipped=skipped, excluded=excluded, records=records,
                stamps=[dict(rel=s["rel"], name=s["name"]) for s in stamps], stamps_dropped_as_copies=len(overlap), moved_to_train=moved,
                counts={k: sum(r["split"] == k for r in records) for k in ("train", "val", "heldout")})
    np.savez(arr_path, student=student, stamp_student=np.stack([s["student"] for s in stamps]))
    np.save(tea_path, np.concatenate([teacher, np.stack([s["teacher"] for s in stamps])]))
    meta_path.write_text(json.dumps(meta, indent=0))
    return meta, load_arrays(size)


def paths(size):
    return CACHE / f"corpus-{size}.json", CACHE / f"corpus-{size}.npz", CACHE / f"teacher-crops-{size}.npy"


def load_arrays(size):
    """student (N,S,S,3), stamp_student, teacher_crops (N+stamps, 224, 224, 3; memory-mapped) uint8."""
    _, arr_path, tea_path = paths(size)
    arrays = np.load(arr_path)
    out = {k: arrays[k] for k in arrays.files}
    out["teacher_crops"] = np.load(tea_path, mmap_mode="r")
    return out


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="build the course-CLIP corpus and report its size")
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    meta, arr = build(a.size)
    print(json.dumps({k: meta[k] for k in ("n_png", "counts", "origin_source", "stamps_dropped_as_copies", "moved_to_train")}, indent=1))
    print("skipped:", len(meta["skipped"]), "excluded (course images and copies):", len(meta["excluded"]),
          "stamps:", len(meta["stamps"]), "labels:", len({s["name"] for s in meta["stamps"]}))
