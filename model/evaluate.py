"""Evaluate a CLIP checkpoint (default: the committed model/course-clip) and print the model card's figures.

    .venv/bin/python model/evaluate.py                       # report (markdown) + model/eval-results.json
    .venv/bin/python model/evaluate.py --write-card          # also refresh the figures in the model card
    .venv/bin/python model/evaluate.py --model DIR_OR_HUB_ID # any CLIP, e.g. openai/clip-vit-base-patch32

Everything goes through ``CLIPProcessor`` / ``CLIPModel.from_pretrained`` exactly as the lecture does.
Needs the Debian packages named in model/eval-sets.json for the held-out sets (openclipart-png,
tuxpaint-stamps-default); the course checks need only data/.

Reported: text->image R@1/5/10 on the held-out clip-art split; zero-shot naming of the held-out
style (Tux Paint stamps) vs chance; zero-shot category accuracy on the 200 gallery images (per
category, vs chance); the cat check; the sleeping-dog check; whether the reference answers of quizzes 2 and 7 (the
solution cells in source/) reach their targets.
"""
import argparse
import csv
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
EVAL_SETS = HERE / "eval-sets.json"
RESULTS = HERE / "eval-results.json"
CARD = HERE / "course-clip" / "README.md"
GALLERY_TEMPLATE = "a picture of a {}"
CAT_TEXTS = ["A dog", "A cat", "A nuclear submarine"]
SLEEP_TEXT = "A dog is sleeping"


def load(model_dir):
    from transformers import CLIPModel, CLIPProcessor
    model = CLIPModel.from_pretrained(model_dir).eval()
    return model, CLIPProcessor.from_pretrained(model_dir)


@torch.no_grad()
def embed_images(model, processor, images, batch=64):
    out = []
    for i in range(0, len(images), batch):
        inputs = processor(images=images[i:i + batch], return_tensors="pt")
        out.append(F.normalize(model.get_image_features(**inputs), dim=-1))
    return torch.cat(out)


@torch.no_grad()
def embed_texts(model, processor, texts, batch=256):
    out = []
    for i in range(0, len(texts), batch):
        inputs = processor(text=texts[i:i + batch], return_tensors="pt", padding=True)
        out.append(F.normalize(model.get_text_features(**inputs), dim=-1))
    return torch.cat(out)


def open_rgb(path):
    from corpus import load_rgb
    return load_rgb(path)[0]


# --------------------------------------------------------------------------- held-out sets
def heldout_retrieval(model, processor, sets):
    from corpus import PNG_ROOT
    rows = sets["heldout"]
    imgs = embed_images(model, processor, [open_rgb(PNG_ROOT / r["rel"]) for r in rows])
    txts = embed_texts(model, processor, [r["caption"] for r in rows])
    sims = txts @ imgs.t()
    rank = (sims > sims.diag().unsqueeze(1)).sum(1)
    res = {f"R@{k}": round(float((rank < k).float().mean()), 3) for k in (1, 5, 10)}
    res["n"] = len(rows)
    res["chance R@5"] = round(5 / len(rows), 4)
    return res


def heldout_style(model, processor, sets):
    from corpus import STAMP_ROOT
    rows = sets["stamps"]
    labels = sorted({r["name"] for r in rows})
    imgs = embed_images(model, processor, [open_rgb(STAMP_ROOT / r["rel"]) for r in rows])
    txts = embed_texts(model, processor, [GALLERY_TEMPLATE.format(l) for l in labels])
    sims = imgs @ txts.t()
    truth = torch.tensor([labels.index(r["name"]) for r in rows])
    top5 = sims.topk(5, dim=1).indices
    top1 = float((top5[:, 0] == truth).float().mean())
    res = dict(n=len(rows), labels=len(labels), top1=round(top1, 3),
               top5=round(float((top5 == truth[:, None]).any(1).float().mean()), 3),
               chance=round(1 / len(labels), 4))
    res["top1_vs_chance"] = round(top1 * len(labels), 1)
    return res


# --------------------------------------------------------------------------- course images
def manifest_rows():
    path = ROOT / "data" / "manifest.csv"
    if not path.exists():
        return None
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def gallery_zero_shot(model, processor, rows):
    gal = [r for r in rows if r["file"].startswith("gallery/")]
    cats = sorted({r["category"] for r in gal})
    imgs = embed_images(model, processor, [open_rgb(ROOT / "data" / r["file"]) for r in gal])
    txts = embed_texts(model, processor, [GALLERY_TEMPLATE.format(c.replace("_", " ")) for c in cats])
    pred = (imgs @ txts.t()).argmax(1)
    truth = torch.tensor([cats.index(r["category"]) for r in gal])
    per = {}
    for k, c in enumerate(cats):
        m = truth == k
        per[c] = dict(n=int(m.sum()), acc=round(float((pred[m] == k).float().mean()), 3))
    acc = float((pred == truth).float().mean())
    return dict(n=len(gal), categories=len(cats), accuracy=round(acc, 3), chance=round(1 / len(cats), 3),
                vs_chance=round(acc * len(cats), 1), per_category=per)


def dogs(rows):
    d = sorted((r for r in rows if r["file"].startswith("topk-image/")), key=lambda r: r["file"])
    return d


def cat_check(model, processor):
    img = embed_images(model, processor, [open_rgb(ROOT / "data" / "cat.jpg")])
    sims = (img @ embed_texts(model, processor, CAT_TEXTS).t())[0]
    return dict(closest=CAT_TEXTS[int(sims.argmax())], passed=CAT_TEXTS[int(sims.argmax())] == "A cat",
                scores={t: round(float(s), 3) for t, s in zip(CAT_TEXTS, sims)})


def sleeping_dog(model, processor, dog_rows):
    target = next((r["file"] for r in dog_rows if any(w in (r.get("note", "") + r.get("caption", "")).lower()
                                                       for w in ("lying", "sleep", "asleep"))), "topk-image/dog_1.png")
    imgs = embed_images(model, processor, [open_rgb(ROOT / "data" / r["file"]) for r in dog_rows])
    sims = (embed_texts(model, processor, [SLEEP_TEXT]) @ imgs.t())[0]
    order = sims.argsort(descending=True).tolist()
    ranking = [Path(dog_rows[i]["file"]).stem for i in order]
    return dict(target=Path(target).stem, ranking=ranking, passed=ranking[0] == Path(target).stem)


def quizzes(model_dir):
    """Quizzes 2 and 7: does each reference answer (the solution cells in source/) reach its target?"""
    sys.path.insert(0, str(ROOT))
    from clipcourse import check_quizzes
    return [dict(quiz=q, target=t, text=x, reached=bool(ok), margin=round(float(m), 4), detail=d)
            for q, t, x, ok, m, d in check_quizzes.check(str(model_dir))[0]]


# --------------------------------------------------------------------------- report
def evaluate(model_dir):
    model, processor = load(model_dir)
    torch.set_num_threads(2)
    local = Path(model_dir).resolve()
    res = dict(model=str(local.relative_to(ROOT)) if local.exists() and local.is_relative_to(ROOT) else str(model_dir))
    sets = json.loads(EVAL_SETS.read_text()) if EVAL_SETS.exists() else None
    from corpus import PNG_ROOT, STAMP_ROOT
    if sets and not (PNG_ROOT.is_dir() and STAMP_ROOT.is_dir()):
        print(f"held-out sets skipped: {PNG_ROOT} or {STAMP_ROOT} is missing "
              "(apt-get install openclipart-png tuxpaint-stamps-default)", file=sys.stderr)
    elif sets:
        res["heldout"] = heldout_retrieval(model, processor, sets)
        res["heldout_style"] = heldout_style(model, processor, sets)
    rows = manifest_rows()
    if rows:
        d = dogs(rows)
        res["gallery"] = gallery_zero_shot(model, processor, rows)
        res["cat"] = cat_check(model, processor)
        res["sleeping_dog"] = sleeping_dog(model, processor, d)
        res["quizzes"] = quizzes(model_dir)
    return res


def markdown(res):
    L = []
    if "heldout" in res:
        h = res["heldout"]
        L.append(f"| held-out clip art, text→image ({h['n']} images) | R@1 {h['R@1']:.3f} · R@5 {h['R@5']:.3f} · "
                 f"R@10 {h['R@10']:.3f} (chance R@5 {h['chance R@5']:.3f}) |")
        s = res["heldout_style"]
        L.append(f"| held-out style: Tux Paint stamps, zero-shot name among {s['labels']} ({s['n']} stamps) | "
                 f"top-1 {s['top1']:.3f} = {s['top1_vs_chance']}× chance ({s['chance']:.4f}) · top-5 {s['top5']:.3f} |")
    if "gallery" in res:
        g = res["gallery"]
        L.append(f"| gallery zero-shot, \"{GALLERY_TEMPLATE.format('{category}')}\" ({g['n']} images, {g['categories']} categories) | "
                 f"{g['accuracy']:.3f} = {g['vs_chance']}× chance ({g['chance']:.3f}) |")
        c = res["cat"]
        L.append(f"| cat.jpg closest to | \"{c['closest']}\" ({'pass' if c['passed'] else 'FAIL'}; "
                 + ", ".join(f"{k} {v:.3f}" for k, v in c["scores"].items()) + ") |")
        s = res["sleeping_dog"]
        L.append(f"| \"{SLEEP_TEXT}\" ranks first | {s['ranking'][0]} (target {s['target']}: {'pass' if s['passed'] else 'FAIL'}; "
                 f"order {' '.join(s['ranking'])}) |")
        for q in res["quizzes"]:
            L.append(f"| {q['quiz']}: \"{q['text']}\" → {q['target']} | {'reached' if q['reached'] else 'NOT reached'} "
                     f"(margin {q['margin']:+.3f}; {q['detail']}) |")
    out = ["| check | result |", "| --- | --- |"] + L
    if "gallery" in res:
        out += ["", "Gallery zero-shot per category:", "", "| category | images | accuracy |", "| --- | --- | --- |"]
        out += [f"| {c} | {v['n']} | {v['acc']:.2f} |" for c, v in res["gallery"]["per_category"].items()]
    return "\n".join(out)


def write_card(md, card=CARD):
    text = card.read_text(encoding="utf-8")
    start, end = "<!-- eval:start -->", "<!-- eval:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"{card}: markers {start} / {end} not found; add them where the figures go.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    card.write_text(f"{head}{start}\n{md}\n{end}{tail}", encoding="utf-8")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(HERE / "course-clip"))
    ap.add_argument("--write-card", action="store_true", help="refresh the figures block in the model card")
    ap.add_argument("--json", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    res = evaluate(a.model)
    md = markdown(res)
    print(md)
    a.json.write_text(json.dumps(res, indent=1))
    if a.write_card:
        if "heldout" not in res or "gallery" not in res:
            raise SystemExit("not writing the model card: some figures could not be computed (see above)")
        write_card(md)
    return res


if __name__ == "__main__":
    main()
