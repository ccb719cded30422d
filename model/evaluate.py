"""Evaluate a CLIP checkpoint (default: the committed model/course-clip) and print the model card's figures.

    .venv/bin/python model/evaluate.py                       # report (markdown) + model/eval-results.json
    .venv/bin/python model/evaluate.py --write-card          # also refresh the figures in the model card
    .venv/bin/python model/evaluate.py --model DIR_OR_HUB_ID # any CLIP, e.g. openai/clip-vit-base-patch32
                                                             # (its figures go to --json FILE, if given)

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
from clipcourse.models import features  # noqa: E402
from train import recall_at  # noqa: E402
EVAL_SETS = HERE / "eval-sets.json"
RESULTS = HERE / "eval-results.json"
CARD = HERE / "course-clip" / "README.md"


def prompt(name):
    """The zero-shot prompt for a category or stamp name: "a {name}" (or "an ...")."""
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


RUN_TEXT = "A dog is running"
# notebook 03's five example searches and the gallery category each should find
SEARCHES = [("an airplane", "airplane"), ("a bird", "bird"), ("a house", "house"), ("a flower", "flower"),
            ("a cup of coffee", "cup")]
TEACHER_RESULTS = HERE / "teacher-results.json"
CAT_TEXTS = ["A dog", "A cat", "A nuclear submarine"]
PROBE = ROOT / "tests" / "data" / "plain_wordings.json"
SLEEP_TEXT = "A dog is sleeping"


class HFEncoder:
    """A Hugging Face CLIP checkpoint, used exactly as the lecture does (CLIPProcessor + CLIPModel)."""

    def __init__(self, model_dir):
        from transformers import CLIPModel, CLIPProcessor
        self.model = CLIPModel.from_pretrained(model_dir).eval()
        self.processor = CLIPProcessor.from_pretrained(model_dir, backend="pil")   # as the lecture loads it, no warning

    def embed_images(self, images):
        """Unit-length image embeddings, in batches with a progress bar (the demo's own helper)."""
        return F.normalize(demo.embed_images(self.model, self.processor, images), dim=-1)

    @torch.no_grad()
    def embed_texts(self, texts, batch=256):
        out = []
        for i in range(0, len(texts), batch):
            inputs = self.processor(text=texts[i:i + batch], return_tensors="pt", padding=True)
            out.append(F.normalize(features(self.model.get_text_features(**inputs)), dim=-1))
        return torch.cat(out)


def open_rgb(path):
    from corpus import load_rgb
    return load_rgb(path)[0]


# --------------------------------------------------------------------------- held-out sets
def heldout_retrieval(enc, sets):
    from corpus import PNG_ROOT
    rows = sets["heldout"]
    imgs = enc.embed_images([open_rgb(PNG_ROOT / r["rel"]) for r in rows])
    txts = enc.embed_texts([r["caption"] for r in rows])
    res = {k: round(v, 3) for k, v in recall_at(txts, imgs).items()}
    res["n"] = len(rows)
    res["chance R@5"] = round(5 / len(rows), 4)
    return res


def heldout_style(enc, sets):
    from corpus import STAMP_ROOT
    rows = sets["stamps"]
    labels = sorted({r["name"] for r in rows})
    imgs = enc.embed_images([open_rgb(STAMP_ROOT / r["rel"]) for r in rows])
    txts = enc.embed_texts([prompt(l) for l in labels])
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
def gallery_zero_shot(enc):
    entries = sorted((e for e in data.manifest() if e.file.startswith("gallery/")), key=lambda e: e.file)
    cats = data.categories()
    imgs = enc.embed_images(data.load_images(data.gallery_paths()))
    txts = enc.embed_texts([prompt(c) for c in cats])
    pred = (imgs @ txts.t()).argmax(1)
    truth = torch.tensor([cats.index(e.category) for e in entries])
    per = {}
    for k, c in enumerate(cats):
        m = truth == k
        per[c] = dict(n=int(m.sum()), acc=round(float((pred[m] == k).float().mean()), 3))
    acc = float((pred == truth).float().mean())
    return dict(n=len(entries), categories=len(cats), accuracy=round(acc, 3), chance=round(1 / len(cats), 3),
                vs_chance=round(acc * len(cats), 1), per_category=per)


def cat_check(enc):
    img = enc.embed_images(data.load_images([data.cat_path()]))
    sims = (img @ enc.embed_texts(CAT_TEXTS).t())[0]
    return dict(closest=CAT_TEXTS[int(sims.argmax())], passed=CAT_TEXTS[int(sims.argmax())] == "A cat",
                scores={t: round(float(s), 3) for t, s in zip(CAT_TEXTS, sims)})


def sleeping_dog(enc):
    """The manifest's note names the one lying-down dog; "A dog is sleeping" should rank it first."""
    paths = data.dog_paths()
    notes = {e.file: e.note.lower() for e in data.manifest()}
    target = next(p.stem for p in paths if "lying" in notes[f"topk-image/{p.name}"])
    imgs = enc.embed_images(data.load_images(paths))
    sims = (enc.embed_texts([SLEEP_TEXT]) @ imgs.t())[0]
    ranking = [paths[i].stem for i in sims.argsort(descending=True).tolist()]
    return dict(target=target, ranking=ranking, passed=ranking[0] == target)


def running_dogs(enc):
    """ "A dog is running" should put the three running dogs (manifest mark quiz2) in its Top-3."""
    paths = data.dog_paths()
    targets = {f"dog_{i}" for i in data.quiz2_targets()}
    sims = (enc.embed_texts([RUN_TEXT]) @ enc.embed_images(data.load_images(paths)).t())[0]
    ranking = [paths[i].stem for i in sims.argsort(descending=True).tolist()]
    return dict(targets=sorted(targets), ranking=ranking, in_top3=len(targets & set(ranking[:3])),
                passed=set(ranking[:3]) == targets)


def example_searches(enc):
    """Notebook 03's five example searches: is the Top-1 gallery picture of the named category?"""
    entries = sorted((e for e in data.manifest() if e.file.startswith("gallery/")), key=lambda e: e.file)
    imgs = enc.embed_images(data.load_images(data.gallery_paths()))
    top1 = (enc.embed_texts([q for q, _ in SEARCHES]) @ imgs.t()).argmax(1).tolist()
    rows = [dict(query=q, want=c, got=entries[i].category, ok=entries[i].category == c)
            for (q, c), i in zip(SEARCHES, top1)]
    return dict(right=sum(r["ok"] for r in rows), n=len(rows), rows=rows)


def quiz7_by_caption(enc):
    """Is each quiz-7 picture the Top-1 for its own manifest caption? (No quiz answer is printed.)"""
    entries = sorted((e for e in data.manifest() if e.file.startswith("gallery/")), key=lambda e: e.file)
    imgs = enc.embed_images(data.load_images(data.gallery_paths()))
    marked = [k for k, e in enumerate(entries) if e.quiz == "quiz7"]
    top1 = (enc.embed_texts([entries[k].caption for k in marked]) @ imgs.t()).argmax(1).tolist()
    return dict(reached=sum(t == k for t, k in zip(top1, marked)), n=len(marked))


def heldout_captions(enc):
    """The course stage's held-out captions (data/captions.csv, one per course picture, never trained on): the share
    whose Top-1 among all the course pictures is their own picture."""
    from course_stage import read_captions
    captions, entries = read_captions(), data.manifest()
    imgs = enc.embed_images(data.load_images([e.path for e in entries]))
    pairs = [(i, c) for i, e in enumerate(entries) for c in captions.get(e.file, {}).get("heldout", [])]
    top1 = (enc.embed_texts([c for _, c in pairs]) @ imgs.t()).argmax(1)
    right = int((top1 == torch.tensor([i for i, _ in pairs])).sum())
    return dict(n=len(pairs), pictures=len(entries), right=right, top1=round(right / max(1, len(pairs)), 3))


def probe_rows(enc, probe=None):
    """[(group, wording, reached)] for the probe of plain wordings (tests/data/plain_wordings.json): a wording reaches
    its target(s) when they are exactly its Top-k among the nine dogs or the 200 gallery pictures."""
    probe = probe or json.loads(PROBE.read_text(encoding="utf-8"))
    pools = {"dogs": data.dog_paths(), "gallery": data.gallery_paths()}
    embedded = {k: enc.embed_images(data.load_images(v)) for k, v in pools.items()}
    out = []
    for name, group in [("running dogs", probe["running_dogs"])] + [("quiz 7", g) for g in probe["quiz7"]]:
        files = [f"{p.parent.name}/{p.name}" for p in pools[group["within"]]]
        sims = enc.embed_texts(group["wordings"]) @ embedded[group["within"]].t()
        for wording, row in zip(group["wordings"], sims):
            top = {files[i] for i in row.topk(group["k"]).indices.tolist()}
            out.append((name, wording, top == set(group["targets"])))
    return out


def plain_wordings(enc):
    """Counts only: the wordings that find quiz 7's pictures are answers, and never leave tests/data/."""
    rows = probe_rows(enc)
    count = lambda g: dict(reached=sum(r for n, _, r in rows if n == g), n=sum(n == g for n, _, _ in rows))
    reached = sum(r for *_, r in rows)
    return dict(reached=reached, n=len(rows), share=round(reached / len(rows), 3),
                running_dogs=count("running dogs"), quiz7=count("quiz 7"))


def quizzes(model_dir):
    """Quizzes 2 and 7: does each reference answer (the solution cells in source/) reach its target?
    Only the target and yes/no are kept: the answers themselves never leave source/."""
    return [dict(quiz=q, target=t, reached=bool(ok))
            for q, t, x, ok, m, d in check_quizzes.check(str(model_dir))[0]]


# --------------------------------------------------------------------------- report
def evaluate_encoder(enc):
    """Every figure that needs only an encoder (the student checkpoint, or the training-time teacher)."""
    res = {}
    sets = json.loads(EVAL_SETS.read_text()) if EVAL_SETS.exists() else None
    from corpus import PNG_ROOT, STAMP_ROOT
    if sets and not (PNG_ROOT.is_dir() and STAMP_ROOT.is_dir()):
        print(f"held-out sets skipped: {PNG_ROOT} or {STAMP_ROOT} is missing "
              "(apt-get install openclipart-png tuxpaint-stamps-default)", file=sys.stderr)
    elif sets:
        res["heldout"] = heldout_retrieval(enc, sets)
        res["heldout_style"] = heldout_style(enc, sets)
    res["gallery"] = gallery_zero_shot(enc)
    res["cat"] = cat_check(enc)
    res["sleeping_dog"] = sleeping_dog(enc)
    res["running_dogs"] = running_dogs(enc)
    res["searches"] = example_searches(enc)
    res["quiz7_captions"] = quiz7_by_caption(enc)
    res["heldout_captions"] = heldout_captions(enc)
    res["plain_wordings"] = plain_wordings(enc)
    return res


def evaluate(model_dir):
    torch.set_num_threads(2)
    enc = HFEncoder(model_dir)
    local = Path(model_dir).resolve()
    res = dict(model=str(local.relative_to(ROOT)) if local.exists() and local.is_relative_to(ROOT) else str(model_dir))
    res.update(evaluate_encoder(enc))
    res["quizzes"] = quizzes(model_dir)
    if TEACHER_RESULTS.exists():   # written by train.py, where the teacher still exists
        res["teacher"] = json.loads(TEACHER_RESULTS.read_text())
    return res


def rows(res):
    """{check: result text} for one encoder's figures."""
    out = {}
    if "heldout" in res:
        h = res["heldout"]
        out[f"held-out clip art, text→image ({h['n']} images)"] = (
            f"R@1 {h['R@1']:.3f} · R@5 {h['R@5']:.3f} · R@10 {h['R@10']:.3f} (chance R@5 {h['chance R@5']:.3f})")
        s = res["heldout_style"]
        out[f"held-out style: Tux Paint stamps, zero-shot name among {s['labels']} ({s['n']} stamps)"] = (
            f"top-1 {s['top1']:.3f} = {s['top1_vs_chance']}× chance · top-5 {s['top5']:.3f}")
    g = res["gallery"]
    out[f"gallery zero-shot, \"a/an {{category}}\" ({g['n']} images, {g['categories']} categories)"] = (
        f"{g['accuracy']:.3f} = {g['vs_chance']}× chance ({g['chance']:.3f})")
    verdict = lambda check: "pass" if check["passed"] else "FAIL"
    c, s, r = res["cat"], res["sleeping_dog"], res["running_dogs"]
    out["cat.jpg closest to (A dog / A cat / A nuclear submarine)"] = (
        f"\"{c['closest']}\" ({verdict(c)}; " + ", ".join(f"{k} {v:.3f}" for k, v in c["scores"].items()) + ")")
    out[f"\"{SLEEP_TEXT}\" ranks the lying dog ({s['target']}) first"] = f"{verdict(s)}; order {' '.join(s['ranking'])}"
    out[f"\"{RUN_TEXT}\" puts the running dogs ({' '.join(r['targets'])}) in the Top-3"] = (
        f"{verdict(r)}: {r['in_top3']} of 3; order {' '.join(r['ranking'])}")
    e = res["searches"]
    out["notebook 03's example searches, Top-1 of the named category"] = (
        f"{e['right']} of {e['n']} (" + ", ".join(f"{x['query']} → {x['got']}" for x in e["rows"]) + ")")
    q = res["quiz7_captions"]
    out["quiz 7 pictures that are Top-1 for their own manifest caption"] = f"{q['reached']} of {q['n']}"
    if "heldout_captions" in res:
        h = res["heldout_captions"]
        out[f"held-out captions (one per course picture, never trained on): Top-1 among the {h['pictures']} pictures"] = (
            f"{h['top1']:.3f} ({h['right']} of {h['n']})")
        p = res["plain_wordings"]
        out["probe of plain wordings (tests/data/plain_wordings.json) that reach their targets"] = (
            f"{p['share']:.3f} ({p['reached']} of {p['n']}: running dogs {p['running_dogs']['reached']} of "
            f"{p['running_dogs']['n']}, quiz 7's pictures {p['quiz7']['reached']} of {p['quiz7']['n']})")
    return out


def markdown(res):
    student = rows(res)
    teacher = rows(res["teacher"]) if "teacher" in res else {}
    L = ["| check | course CLIP (this model) | its teacher (training only) |", "| --- | --- | --- |"]
    L += [f"| {k} | {v} | {teacher.get(k, '—')} |" for k, v in student.items()]
    for q in res.get("quizzes", []):
        L.append(f"| {q['quiz']}: the reference answer reaches {q['target']} | {'yes' if q['reached'] else 'no'} | — |")
    L += ["", "Gallery zero-shot per category (course CLIP):", "", "| category | images | accuracy |", "| --- | --- | --- |"]
    L += [f"| {c} | {v['n']} | {v['acc']:.2f} |" for c, v in res["gallery"]["per_category"].items()]
    return "\n".join(L)


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
    ap.add_argument("--probe", action="store_true",
                    help="print the probe of plain wordings wording by wording (for an instructor; never written to a file)")
    ap.add_argument("--json", type=Path, default=None,
                    help="write the figures here (default: model/eval-results.json for the committed model only, so "
                         "evaluating a trial checkpoint never overwrites the committed model's figures)")
    a = ap.parse_args(argv)
    if a.probe:
        torch.set_num_threads(2)
        for group, wording, reached in probe_rows(HFEncoder(a.model)):
            print(f"{'ok  ' if reached else 'MISS'} {group:<13} {wording}")
        return None
    res = evaluate(a.model)
    md = markdown(res)
    print(md)
    out = a.json or (RESULTS if Path(a.model).resolve() == (HERE / "course-clip").resolve() else None)
    if out:
        out.write_text(json.dumps(res, indent=1))
    if a.write_card:
        if "heldout" not in res:
            raise SystemExit("not writing the model card: some figures could not be computed (see above)")
        write_card(md)
    return res


if __name__ == "__main__":
    main()
