"""The course stage: teach the general model the course's own 210 pictures from captions written for them.

The general stage (train.py) never sees the course pictures. This stage fine-tunes both towers on them, with the
captions in data/captions.csv, while it replays the general stage's loss on its corpus in every step, so what the
model knows of other drawings is kept (issue 25; evidence: two spikes without replay lost 0.04-0.06 held-out R@5).

A step is one course batch and one general batch:
- course batch: the nine dogs and the cat always, the ten pictures of a few whole categories, and random others, each
  three times, with three different training captions (each sometimes without its final period or leading article, as
  a student types it) and three augmented views; CLIP's InfoNCE where two rows of the same
  picture, or two pictures that share a caption ("a flag"), are not each other's negatives. The hard negatives (the dogs together, a category together) make pose and detail
  words matter.
- wordings no caption has (``--w-para``): training captions with one word left out or swapped for a word the text
  teacher finds close, each aimed by the teacher (MiniLM) at the pictures whose captions it is closest to
  (paraphrase_targets), and (``--para-plurals``) the "a ..." captions asked for in the plural. The small text tower
  learns which words matter, which do not and which mean the same.
- the training captions against all 210 pictures (``--w-full``): the in-batch loss compares a caption with the 48 or
  so pictures of its batch; this compares it with every course picture at once (a caption shared by several pictures,
  "a bird", is spread over them).
- general batch: train.general_loss on clip art and icons, with the teacher's targets, plus a pull towards what the
  general model itself made of the same pictures and texts (as in "learning without forgetting"): replay alone let the
  general validation R@5 fall from 0.276 to 0.239 in the first 150 steps of the first run.

The model is chosen on data only this stage may look at: the held-out captions (one per picture, never trained on)
and the general validation split. Never on the quiz answers, the lecture's example sentences or the probe of plain
wordings in tests/data/.
"""
import copy
import csv
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from clipcourse import data
from clipcourse.models import features

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CAPTIONS = ROOT / "data" / "captions.csv"


def read_captions(path=CAPTIONS):
    """{file: {"train": [caption, ...], "heldout": [caption]}} from data/captions.csv."""
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["file"], {"train": [], "heldout": []})[row["split"]].append(row["caption"])
    return out


def course_pictures(size, captions):
    """The course pictures (manifest-verified) as uint8 (N, size, size, 3), cropped as CLIPImageProcessor does,
    with their files and categories, in manifest order."""
    from corpus import clip_crop
    entries = [e for e in data.manifest() if e.file in captions]
    missing = sorted({e.file for e in data.manifest()} - set(captions))
    if missing:
        raise SystemExit(f"{CAPTIONS}: no captions for {', '.join(missing[:5])}; every manifest file needs them")
    px = np.stack([clip_crop(im, size) for im in data.load_images([e.path for e in entries])])
    return px, [e.file for e in entries], [e.category for e in entries]


def load(size):
    """(pixels, files, categories, captions) of the course pictures, as train_course takes them."""
    captions = read_captions()
    return (*course_pictures(size, captions), captions)


ARTICLES = ("a ", "an ", "the ")


def plain_wording(caption, rng, p):
    """The caption as a student might type it, with probability ``p`` for each change: without its final period, without
    its leading article. The text tower then ties a picture to its words, not to one caption's punctuation."""
    if caption.endswith(".") and rng.random() < p:
        caption = caption[:-1]
    lead = next((a for a in ARTICLES if caption.lower().startswith(a)), None)
    if lead and rng.random() < p:
        caption = caption[len(lead):]
    return caption


def leave_one_out(caption):
    """The caption with one word left out, each way (from three words on): wordings a student might type instead."""
    words = caption.rstrip(".").split()
    return [" ".join(words[:k] + words[k + 1:]) for k in range(len(words))] if len(words) >= 3 else []


SMALL_WORDS = {"and", "with", "the", "its", "his", "her", "their", "from", "for", "into", "onto", "has", "have", "is",
               "are", "was", "one", "two", "that", "this", "who", "which", "over", "under", "out", "off", "some"}


def word_neighbours(caption_words, vocabulary, embed, k=4, floor=0.6):
    """{word: up to ``k`` other vocabulary words whose text-teacher embedding is at least ``floor`` close}."""
    words = sorted({w for w in caption_words if w.isalpha() and len(w) > 2 and w not in SMALL_WORDS})
    if not words or not vocabulary:
        return {}
    sims = embed(words) @ embed(vocabulary).T
    out = {}
    for w, row in zip(words, sims):
        near = [vocabulary[i] for i in np.argsort(-row)[:k + 1] if row[i] >= floor and vocabulary[i] != w]
        if near:
            out[w] = near[:k]
    return out


def swaps(caption, neighbours):
    """The caption with one word replaced by one of its neighbours, each way."""
    words = caption.rstrip(".").split()
    return [" ".join(words[:k] + [n] + words[k + 1:])
            for k, w in enumerate(words) for n in neighbours.get(w.lower(), [])]


def plural(word):
    """The regular English plural of a noun: dog -> dogs, box -> boxes, puppy -> puppies."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"


def plurals(caption, nouns, vocabulary):
    """The caption asked for in the plural: its leading "a"/"an" dropped and the first of ``nouns`` in it made plural,
    where the plural is a word of ``vocabulary`` ("a dog running" -> "dogs running"). Sentences (capitalised) are
    left as they are."""
    words = caption.rstrip(".").split()
    if len(words) < 2 or words[0] not in ("a", "an"):
        return []
    rest = words[1:]
    k = next((k for k, w in enumerate(rest) if w in nouns), None)   # the first noun: "dogs with its heads" never
    if k is None or plural(rest[k]) not in vocabulary:
        return []
    return [" ".join(rest[:k] + [plural(rest[k])] + rest[k + 1:])]


def caption_nouns(captions):
    """The nouns of the plain names: the last word of every short "a ..." caption ("a yellow lab" -> "lab")."""
    return {c.split()[-1] for c in captions if c.split()[0] in ("a", "an") and len(c.split()) <= 3}


def paraphrase_targets(train_caps, heldout, embed, temp, vocabulary=(), limit=60000, seed=0, with_plurals=False):
    """Wordings no caption has, each with where a sentence encoder says it points: (texts, q), q (texts, pictures).

    The texts are the training captions with one word left out, and with one word swapped for a word the text
    teacher (MiniLM) finds close in ``vocabulary`` ("running" -> "runs", "car" -> "vehicle", but also "yellow" ->
    "red"), and with ``with_plurals`` also asked for in the plural (plurals), minus every caption (held-out ones
    included, so the selection stays honest); at most ``limit`` of them.
    A text's share of picture j grows with how close the teacher finds it to j's training captions:
    q[i, j] ~ sum over j's captions c of exp(cos(text_i, c) / temp). The small text tower then learns the teacher's
    sense of which words matter, which do not and which mean the same, for these pictures (MiniLM's nearest-caption
    search alone found 0.80 of the held-out captions when version 7 found 0.671)."""
    def key(t):
        return t.rstrip(".").lower()
    caps = [(j, c) for j, cs in enumerate(train_caps) for c in cs]
    taken = {key(c) for _, c in caps} | {key(c) for c in heldout}
    nbrs = word_neighbours({w.lower() for _, c in caps for w in c.rstrip(".").split()}, list(vocabulary), embed)
    vocab, nouns = set(vocabulary), caption_nouns([c for _, c in caps])
    texts = sorted({p for _, c in caps for p in leave_one_out(c) + swaps(c, nbrs)
                    + (plurals(c, nouns, vocab) if with_plurals else []) if key(p) not in taken})
    if len(texts) > limit:
        texts = sorted(np.random.default_rng(seed).choice(texts, size=limit, replace=False).tolist())
    cap_emb, labels = embed([c for _, c in caps]), np.array([j for j, _ in caps])
    q = np.zeros((len(texts), len(train_caps)), np.float32)
    for i in range(0, len(texts), 4096):    # in slices: all texts by all captions at once is gigabytes
        sims = embed(texts[i:i + 4096]) @ cap_emb.T
        w = np.exp((sims - sims.max(1, keepdims=True)) / temp)
        part = np.zeros((len(train_caps), len(w)))
        np.add.at(part, labels, w.T)
        q[i:i + 4096] = (part / part.sum(0, keepdims=True)).T
    return texts, torch.from_numpy(q)


def caption_targets(train_caps):
    """Every distinct training caption (without its final period) with the pictures it belongs to: (texts, q), q (texts,
    pictures), each row spread evenly over the pictures that have the caption ("a bird": the ten birds)."""
    texts = sorted({c.rstrip(".") for cs in train_caps for c in cs})
    pos = {t: i for i, t in enumerate(texts)}
    q = np.zeros((len(texts), len(train_caps)), np.float32)
    for j, cs in enumerate(train_caps):
        for c in cs:
            q[pos[c.rstrip(".")], j] = 1
    return texts, torch.from_numpy(q / q.sum(1, keepdims=True))


def batch_rows(files, categories, rng, size=48, whole=3):
    """Rows of one course batch: the dogs and the cat, ``whole`` random gallery categories entire, random others."""
    always = [i for i, f in enumerate(files) if not f.startswith("gallery/")]
    cats = sorted({c for f, c in zip(files, categories) if f.startswith("gallery/")})
    chosen = set(rng.choice(cats, size=min(whole, len(cats)), replace=False).tolist()) if cats else set()
    rows = always + [i for i, c in enumerate(categories) if c in chosen and files[i].startswith("gallery/")]
    rest = np.setdiff1d(np.arange(len(files)), rows)
    extra = max(0, size - len(rows))
    rows += rng.choice(rest, size=min(extra, len(rest)), replace=False).tolist()
    return np.array(sorted(rows))


def shared_caption_loss(img, txt, texts, logit_scale, pictures=None):
    """CLIP's symmetric InfoNCE, except that two rows with the same caption text (or of the same picture, when
    ``pictures`` names each row's picture) are not each other's negatives."""
    logits = logit_scale.exp().clamp(max=100) * img @ txt.t()
    keys = list(zip(texts)) if pictures is None else list(zip(texts, pictures))
    same = torch.tensor([[a[0] == b[0] or (pictures is not None and a[1] == b[1]) for b in keys] for a in keys])
    logits = logits.masked_fill(same & ~torch.eye(len(texts), dtype=torch.bool), float("-inf"))
    target = torch.arange(len(texts))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def shares_loss(model, tok, texts, pictures, q):
    """KL divergence of the student's shares of ``pictures`` (embedded, no gradient) for ``texts`` from the targets
    ``q``: only the text tower learns from it."""
    import train
    ids, mask = train.tokenize(tok, texts)
    t = F.normalize(features(model.get_text_features(input_ids=ids, attention_mask=mask)), dim=-1)
    logp = F.log_softmax(model.logit_scale.exp().clamp(max=100) * t @ pictures.t(), dim=-1)
    return F.kl_div(logp, q, reduction="batchmean")


@torch.no_grad()
def heldout_top1(model, tok, px, files, captions):
    """Share of held-out captions whose Top-1 among all the course pictures is their own picture."""
    import train
    model.eval()
    img = train.embed_student_images(model, px)
    pairs = [(i, c) for i, f in enumerate(files) for c in captions[f]["heldout"]]
    txt = train.embed_student_texts(model, tok, [c for _, c in pairs])
    top1 = (txt @ img.t()).argmax(1)
    return float((top1 == torch.tensor([i for i, _ in pairs])).float().mean())


@torch.no_grad()
def general_val(model, tok, data):
    import train
    model.eval()
    vpx, vtexts = data["val"]
    return train.recall_at(train.embed_student_texts(model, tok, vtexts), train.embed_student_images(model, vpx))["R@5"]


def train_course(model, data, course, args, log):
    """Fine-tune ``model`` (the general stage's) on ``course`` = (pixels, files, categories, captions) with replay.
    Returns (the selected model, history). Selection rule, fixed before any run: among the checkpoints taken every
    ``args.course_eval_every`` steps whose general validation R@5 is at least the start's minus 0.01, the one with
    the highest held-out caption Top-1 (the earlier on a tie), the final model mixed with the general one by the shares
    ``args.course_mix`` judged last; the general model itself if none qualifies."""
    import train
    px, files, cats, captions = course
    tok = data["tokenizer"]
    train.add_target_tensors(data)
    train_caps = [captions[f]["train"] for f in files]
    rng = np.random.default_rng(args.seed + 1000)
    gen = torch.Generator().manual_seed(args.seed + 1000)
    opt = train.adamw(list(model.named_parameters()), args.course_lr)
    steps, warm = args.course_steps, max(1, args.course_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    pool = data.get("pool", np.arange(len(data["pixels"])))
    if args.w_para > 0:
        para_texts, para_q = paraphrase_targets(train_caps, [c for f in files for c in captions[f]["heldout"]],
                                                data["text_teacher"], args.para_temp,
                                                data.get("vocabulary", ()), seed=args.seed,
                                                with_plurals=args.para_plurals)
        log(f"course stage: {len(para_texts)} one-word-out, one-word-swapped and plural wordings, with the text "
            "teacher's targets")
    if args.w_full > 0:
        cap_texts, cap_q = caption_targets(train_caps)
    against_all = args.w_para > 0 or args.w_full > 0     # a loss that compares texts with all the course pictures
    if against_all:
        course_x = train.to_pixels(px)   # the pictures as they are, converted once: embedded afresh every step

    def checkpoint(step):
        h = dict(step=step, heldout_top1=round(heldout_top1(model, tok, px, files, captions), 4),
                 val_R5=round(general_val(model, tok, data), 4))
        model.train()
        log(f"course step {step}: held-out captions top-1 {h['heldout_top1']:.3f}, general val R@5 {h['val_R5']:.3f}")
        return h

    history = [checkpoint(0)]
    floor = history[0]["val_R5"] - 0.01
    best, best_state = history[0], copy.deepcopy(model.state_dict())
    general = copy.deepcopy(model).eval()     # what the general model made of the replayed pictures, kept
    bar = tqdm(total=steps, desc="course", mininterval=2, disable=args.quiet)
    model.train()
    for step in range(1, steps + 1):
        pics = batch_rows(files, cats, rng, args.course_batch)
        rows = np.repeat(pics, args.course_captions)
        texts = [plain_wording(c, rng, args.course_vary) for i in pics for c in rng.choice(
            train_caps[i], size=args.course_captions, replace=len(train_caps[i]) < args.course_captions)]
        ids, mask = train.tokenize(tok, texts)
        x = train.augment(train.to_pixels(px[rows]), gen)
        img = F.normalize(features(model.get_image_features(pixel_values=x)), dim=-1)
        txt = F.normalize(features(model.get_text_features(input_ids=ids, attention_mask=mask)), dim=-1)
        l_course = shared_caption_loss(img, txt, texts, model.logit_scale, rows.tolist())
        g_idx = np.sort(pool[rng.integers(len(pool), size=args.replay_batch)])
        l_general, parts, _ = train.general_loss(model, data, g_idx, rng, gen, args)
        (gx, gids, gmask), (gimg, gtxt) = parts["inputs"], parts["embeddings"]
        with torch.no_grad():
            kimg = F.normalize(features(general.get_image_features(pixel_values=gx)), dim=-1)
            ktxt = F.normalize(features(general.get_text_features(input_ids=gids, attention_mask=gmask)), dim=-1)
        l_keep = (1 - (gimg * kimg).sum(-1)).mean() + (1 - (gtxt * ktxt).sum(-1)).mean()
        loss = args.w_course * l_course + l_general + args.w_keep * l_keep
        if against_all:
            with torch.no_grad():
                cimg = F.normalize(features(model.get_image_features(pixel_values=course_x)), dim=-1)
        if args.w_para > 0:
            a = rng.choice(len(para_texts), size=min(args.para_batch, len(para_texts)), replace=False)
            loss = loss + args.w_para * shares_loss(model, tok, [para_texts[k] for k in a], cimg, para_q[a])
        if args.w_full > 0:
            # the in-batch loss sees about 48 pictures; this sees all 210 for the same captions
            b = rng.choice(len(cap_texts), size=min(args.para_batch, len(cap_texts)), replace=False)
            loss = loss + args.w_full * shares_loss(
                model, tok, [plain_wording(cap_texts[k], rng, args.course_vary) for k in b], cimg, cap_q[b])
        train.optimise(model, opt, sched, loss)
        bar.update(1)
        bar.set_postfix(course=f"{l_course.item():.3f}", general=f"{l_general.item():.3f}", keep=f"{l_keep.item():.4f}")
        if step % args.course_eval_every == 0 or step == steps:
            h = checkpoint(step)
            history.append(h)
            if h["val_R5"] >= floor and h["heldout_top1"] > best["heldout_top1"]:
                best, best_state = h, copy.deepcopy(model.state_dict())
    bar.close()
    # weight-space ensembles of the general and the final model (as in WiSE-FT): a share of the course stage's
    # change often keeps most of what it taught and loses less of the general stage; judged by the same rule
    final, start = copy.deepcopy(model.state_dict()), general.state_dict()
    for mix in args.course_mix:
        model.load_state_dict({k: start[k] + mix * (v - start[k]) if v.is_floating_point() else v for k, v in final.items()})
        h = dict(checkpoint(steps), mix=mix)
        history.append(h)
        if h["val_R5"] >= floor and h["heldout_top1"] > best["heldout_top1"]:
            best, best_state = h, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)   # step 0, the general model, when no checkpoint kept its validation figure
    log(f"course stage: kept step {best['step']}{' x' + str(best['mix']) if 'mix' in best else ''} (held-out captions "
        f"{best['heldout_top1']:.3f}, val R@5 {best['val_R5']:.3f}; start {history[0]['val_R5']:.3f})")
    model.eval()
    return model, dict(history=history, kept=best)
