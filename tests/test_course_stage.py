"""The course stage (issue 25): its captions, its probe of plain wordings, its loss, and the targets the shipped model
must meet on the course's own pictures — computed here from the committed checkpoint, not read from the card."""
import collections
import csv
import json
import sys

import pytest
import torch

from clipcourse import check_quizzes, data
from clipcourse.paths import OFFLINE_MODEL_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "model"))
import course_stage  # noqa: E402
import evaluate  # noqa: E402

CAPTIONS = list(csv.DictReader(open(REPO_ROOT / "data" / "captions.csv", encoding="utf-8")))
PROBE = json.loads(evaluate.PROBE.read_text(encoding="utf-8"))


def test_every_course_picture_has_six_or_more_captions_one_held_out():
    per = collections.defaultdict(list)
    for row in CAPTIONS:
        assert row["split"] in ("train", "heldout"), row
        assert row["caption"].strip() == row["caption"] and row["caption"], row
        per[row["file"]].append(row)
    files = {e.file for e in data.manifest()}
    assert set(per) == files, f"captions for files not in the manifest, or files without captions: {set(per) ^ files}"
    for file, rows in per.items():
        assert len(rows) >= 6, f"{file}: {len(rows)} captions, at least 6 wanted"
        assert sum(r["split"] == "heldout" for r in rows) == 1, f"{file}: exactly one held-out caption wanted"
        assert len({r["caption"] for r in rows}) == len(rows), f"{file}: a caption is written twice"
        kinds = {r["kind"] for r in rows}
        assert {"name", "detail", "style", "sentence"} <= kinds, f"{file}: kinds {kinds}"


def test_no_quiz_reference_answer_is_a_caption():
    answers = [check_quizzes.quiz2_query()] + list(check_quizzes.quiz7_texts())
    import numpy as np
    rng = np.random.default_rng(0)
    # "Cat." is "a cat": compared as the course stage may train on them, without final period and article
    norm = lambda text: course_stage.plain_wording(" ".join(text.lower().split()), rng, 1.0)
    captions = {norm(r["caption"]) for r in CAPTIONS}
    leaked = [k for k, a in enumerate(answers) if norm(a) in captions]
    assert not leaked, f"reference answers {leaked} (0: quiz 2, 1-5: quiz 7) appear verbatim in data/captions.csv"
    # nor is one a caption with one word left out, which the course stage also trains on (its one-word swaps need
    # the text teacher, which only `make train` installs: checked there, see the model card)
    shortened = {norm(w) for r in CAPTIONS if r["split"] == "train" for w in course_stage.leave_one_out(r["caption"])}
    leaked = [k for k, a in enumerate(answers) if norm(a) in shortened]
    assert not leaked, f"reference answers {leaked} are training captions of data/captions.csv with one word left out"


def test_the_probe_is_big_enough_and_aims_at_the_marked_pictures():
    dogs = PROBE["running_dogs"]
    assert len(dogs["wordings"]) >= 10 and dogs["k"] == 3
    assert sorted(dogs["targets"]) == sorted(f"topk-image/dog_{i}.png" for i in data.quiz2_targets())
    quiz7 = {e.file for e in data.manifest() if e.quiz == "quiz7"}
    assert {g["targets"][0] for g in PROBE["quiz7"]} == quiz7
    assert all(len(g["wordings"]) >= 5 and g["k"] == 1 for g in PROBE["quiz7"])


def test_no_training_step_reads_the_probe():
    for path in (REPO_ROOT / "model").glob("*.py"):
        if path.name != "evaluate.py":   # evaluation reads it; nothing that trains or selects a model does
            assert "plain_wordings" not in path.read_text(encoding="utf-8"), path


def test_shared_captions_are_not_negatives():
    """Two pictures captioned "a flag" must not be pushed apart: masking them leaves the loss of the distinct rows."""
    torch.manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    scale = torch.tensor(0.0)   # exp(0) = 1: logits are the cosines
    masked = course_stage.shared_caption_loss(img, txt, ["a flag", "a flag", "a cup"], scale)
    logits = img @ txt.t()
    logits[0, 1] = logits[1, 0] = float("-inf")
    target = torch.arange(3)
    expected = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.t(), target)) / 2
    assert torch.allclose(masked, expected)
    plain = course_stage.shared_caption_loss(img, txt, ["a flag", "a red flag", "a cup"], scale)
    assert not torch.allclose(masked, plain)


def test_plain_wording_drops_only_the_final_period_and_a_leading_article():
    import numpy as np
    rng = np.random.default_rng(0)
    assert course_stage.plain_wording("A dog is running.", rng, 1.0) == "dog is running"
    assert course_stage.plain_wording("an apple", rng, 1.0) == "apple"
    assert course_stage.plain_wording("anteater on a log", rng, 1.0) == "anteater on a log"   # "an" only as a word
    assert course_stage.plain_wording("A dog is running.", rng, 0.0) == "A dog is running."
    seen = {course_stage.plain_wording("The flag.", rng, 0.5) for _ in range(200)}
    assert seen == {"The flag.", "The flag", "flag.", "flag"}


def _toy_teacher(texts):
    """A stand-in text teacher: bags of words where 'puppy' and 'dog' are one word."""
    import numpy as np
    vocab = ["dog", "cat", "running", "lying", "red", "blue", "car", "a"]
    e = np.array([[t.rstrip(".").lower().replace("puppy", "dog").split().count(w) for w in vocab] for t in texts], float)
    return (e + 1e-3) / np.linalg.norm(e + 1e-3, axis=1, keepdims=True)


def test_wordings_leave_out_or_swap_one_word_and_never_repeat_a_caption():
    assert course_stage.leave_one_out("A dog running.") == ["dog running", "A running", "A dog"]
    assert course_stage.leave_one_out("a dog") == []
    assert course_stage.swaps("a dog running", {"dog": ["puppy"]}) == ["a puppy running"]
    nouns, vocab = {"dog", "box", "puppy", "running"}, {"dogs", "boxes", "puppies", "runnings"}
    assert course_stage.plurals("a dog running.", nouns, vocab) == ["dogs running"]
    assert course_stage.plurals("a box", nouns, vocab) == ["boxes"] and course_stage.plurals("a puppy", nouns, vocab) == ["puppies"]
    assert course_stage.plurals("the dog", nouns, vocab) == [] and course_stage.plurals("A dog runs.", nouns, vocab) == []
    assert course_stage.caption_nouns(["a dog", "a yellow lab", "a dog running fast", "A dog."]) == {"dog", "lab"}
    train_caps = [["a dog running", "a running dog"], ["a dog lying", "a lying dog"], ["a red car", "a blue car"]]
    texts, q = course_stage.paraphrase_targets(train_caps, ["A dog lying."], _toy_teacher, 0.05,
                                               vocabulary=["puppy", "dog", "cat", "dogs"], with_plurals=True)
    caps = {c.lower() for cs in train_caps for c in cs} | {"a dog lying"}
    assert texts and not caps & {t.lower() for t in texts}
    assert "a puppy running" in texts and "dog running" in texts and "dogs running" in texts
    assert q.shape == (len(texts), 3) and torch.allclose(q.sum(1), torch.ones(len(texts)))
    # the teacher decides where a wording points: a swap of an equivalent word keeps its picture ...
    assert q[texts.index("a puppy running")].argmax() == 0
    # ... and a wording without the deciding word spreads over the pictures it fits
    dog = q[texts.index("a dog")]
    assert abs(float(dog[0]) - 0.5) < 0.01 and abs(float(dog[1]) - 0.5) < 0.01
    assert float(q[texts.index("a car")][:2].sum()) < 0.01 and float(q[texts.index("a car")][2]) > 0.99


def test_every_training_caption_points_at_the_pictures_that_have_it():
    train_caps = [["a bird", "an owl."], ["a bird", "a swan"], ["a car", "an owl"]]
    texts, q = course_stage.caption_targets(train_caps)
    assert texts == ["a bird", "a car", "a swan", "an owl"]       # one row per caption, its final period dropped
    assert q.tolist() == [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]
    heldout = {c for cs in course_stage.read_captions().values() for c in cs["heldout"]}
    real = course_stage.caption_targets([cs["train"] for cs in course_stage.read_captions().values()])[0]
    assert not heldout & set(real) and not {h.rstrip(".") for h in heldout} & set(real)


def test_a_course_batch_holds_the_hard_negatives():
    import numpy as np
    entries = data.manifest()
    files, cats = [e.file for e in entries], [e.category for e in entries]
    rows = course_stage.batch_rows(files, cats, np.random.default_rng(0), size=48, whole=3)
    chosen = [files[i] for i in rows]
    assert len(rows) == 48 and len(set(rows.tolist())) == 48
    assert all(f"topk-image/dog_{i}.png" in chosen for i in range(9)) and "cat.jpg" in chosen
    per_cat = collections.Counter(cats[i] for i in rows if files[i].startswith("gallery/"))
    assert sum(n == 10 for n in per_cat.values()) >= 3, per_cat


# --------------------------------------------------------------------------- the shipped model's targets
#: The model card's figures (model/evaluate.py). A target the card reports as missed is a strict expected failure:
#: the day a model meets it, the test passes and the xfail must go.
CARD = json.loads((REPO_ROOT / "model" / "eval-results.json").read_text())
MISSED = "issue 25's target, missed by the shipped model (model card, Targets)"


@pytest.fixture(scope="module")
def enc():
    torch.set_num_threads(2)
    return evaluate.HFEncoder(str(OFFLINE_MODEL_DIR))


@pytest.mark.xfail(CARD["heldout_captions"]["top1"] < 0.80, reason=MISSED, strict=True)
def test_heldout_captions_find_their_picture(enc):
    res = evaluate.heldout_captions(enc)
    assert res["n"] == res["pictures"] == 210
    assert res["top1"] >= 0.80, res


@pytest.mark.xfail(CARD["gallery"]["accuracy"] < 0.90, reason=MISSED, strict=True)
def test_gallery_zero_shot_by_category(enc):
    res = evaluate.gallery_zero_shot(enc)
    assert res["accuracy"] >= 0.90, {c: v["acc"] for c, v in res["per_category"].items() if v["acc"] < 1}


def _heldout_sets():
    from corpus import PNG_ROOT, STAMP_ROOT
    if not (evaluate.EVAL_SETS.exists() and PNG_ROOT.is_dir() and STAMP_ROOT.is_dir()):
        pytest.skip("held-out sets need Debian's openclipart-png and tuxpaint-stamps-default (make train's packages)")
    return json.loads(evaluate.EVAL_SETS.read_text())


# no loss of generality: the course stage must keep what the general stage knew of drawings it never saw
@pytest.mark.xfail(CARD["heldout"]["R@5"] < 0.26, reason=MISSED, strict=True)
def test_heldout_clip_art_keeps_its_recall(enc):
    assert evaluate.heldout_retrieval(enc, _heldout_sets())["R@5"] >= 0.26


@pytest.mark.xfail(CARD["heldout_style"]["top1_vs_chance"] < 10, reason=MISSED, strict=True)
def test_tux_paint_stamps_stay_ten_times_chance(enc):
    assert evaluate.heldout_style(enc, _heldout_sets())["top1_vs_chance"] >= 10


def test_the_card_reports_what_the_shipped_model_does(enc):
    """The card's course figures come back from the committed checkpoint (so the xfails above follow the model)."""
    assert evaluate.heldout_captions(enc)["right"] == CARD["heldout_captions"]["right"]
    assert evaluate.plain_wordings(enc)["reached"] == CARD["plain_wordings"]["reached"]


def test_notebook_03_searches_find_their_category(enc):
    res = evaluate.example_searches(enc)
    assert res["right"] == res["n"] == 5, res["rows"]


@pytest.mark.xfail(not CARD["running_dogs"]["passed"], reason=MISSED, strict=True)
def test_running_dogs_are_the_top_3(enc):
    res = evaluate.running_dogs(enc)
    assert res["passed"], res


@pytest.mark.xfail(CARD["plain_wordings"]["share"] < 0.80, reason=MISSED, strict=True)
def test_most_plain_wordings_reach_their_targets(enc):
    rows = evaluate.probe_rows(enc, PROBE)
    missed = [w for _, w, ok in rows if not ok]
    assert len(rows) >= 35 and (len(rows) - len(missed)) / len(rows) >= 0.80, f"missed {len(missed)}: {missed}"


def test_the_text_teachers_cache_keeps_what_it_knew_and_leaves_no_part_file(tmp_path, monkeypatch):
    import teachers

    def tok(chunk, **_):             # a stand-in for MiniLM: a text's one token is (its length, 1)
        return dict(x=torch.tensor([[[float(len(t)), 1.0]] for t in chunk]), attention_mask=torch.ones(len(chunk), 1))

    def net(x, attention_mask):
        return type("Out", (), dict(last_hidden_state=x))

    calls = []
    monkeypatch.setattr(teachers, "CACHE", tmp_path)
    monkeypatch.setattr(teachers, "text_teacher", lambda: calls.append(1) or (tok, net))
    first = teachers.text_features(["a", "bb"])
    assert first.shape == (2, 2) and len(calls) == 1 and not (first[0] == first[1]).all()
    assert [p.name for p in tmp_path.iterdir()] == ["teacher-text.npz"]       # renamed into place, nothing left over
    again = teachers.text_features(["bb", "a"])                                # known texts: the teacher is not loaded
    assert len(calls) == 1 and (again == first[::-1]).all()
