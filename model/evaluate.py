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
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from clipcourse import check_quizzes, data, demo  # noqa: E402 (after the path set-up, like train.py's imports)
from train import recall_at  # noqa: E402
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


def embed_images(model, processor, images):
    """Unit-length image embeddings, in batches with a progress bar (the demo's own helper)."""
    return F.normalize(demo.embed_images(model, processor, images), dim=-1)


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
    res = {k: round(v, 3) for k, v in recall_at(txts, imgs).items()}
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
# Read through clipcourse.data, as the lecture and the quizzes do: the manifest is verified and a
# missing or damaged course image is named.
def gallery_zero_shot(model, processor):
    entries = sorted((e for e in data.manifest() if e.file.startswith("gallery/")), key=lambda e: e.file)
    cats = data.categories()
    imgs = embed_images(model, processor, data.load_images(data.gallery_paths()))
    txts = embed_texts(model, processor, [GALLERY_TEMPLATE.format(c) for c in cats])
    pred = (imgs @ txts.t()).argmax(1)
    truth = torch.tensor([cats.index(e.category) for e in entries])
    per = {}
    for k, c in enumerate(cats):
        m = truth == k
        per[c] = dict(n=int(m.sum()), acc=round(float((pred[m] == k).float().mean()), 3))
    acc = float((pred == truth).float().mean())
    return dict(n=len(entries), categories=len(cats), accuracy=round(acc, 3), chance=round(1 / len(cats), 3),
                vs_chance=round(acc * len(cats), 1), per_category=per)


def cat_check(model, processor):
    img = embed_images(model, processor, data.load_images([data.cat_path()]))
    sims = (img @ embed_texts(model, processor, CAT_TEXTS).t())[0]
    return dict(closest=CAT_TEXTS[int(sims.argmax())], passed=CAT_TEXTS[int(sims.argmax())] == "A cat",
                scores={t: round(float(s), 3) for t, s in zip(CAT_TEXTS, sims)})


def sleeping_dog(model, processor):
    """The manifest's note names the one lying-down dog; "A dog is sleeping" should rank it first."""
    paths = data.dog_paths()
    notes = {e.file: e.note.lower() for e in data.manifest()}
    target = next(p.stem for p in paths if "lying" in notes[f"topk-image/{p.name}"])
    imgs = embed_images(model, processor, data.load_images(paths))
    sims = (embed_texts(model, processor, [SLEEP_TEXT]) @ imgs.t())[0]
    ranking = [paths[i].stem for i in sims.argsort(descending=True).tolist()]
    return dict(target=target, ranking=ranking, passed=ranking[0] == target)


def quizzes(model_dir):
    """Quizzes 2 and 7: does each reference answer (the solution cells in source/) reach its target?"""
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
    res["gallery"] = gallery_zero_shot(model, processor)
    res["cat"] = cat_check(model, processor)
    res["sleeping_dog"] = sleeping_dog(model, processor)
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
