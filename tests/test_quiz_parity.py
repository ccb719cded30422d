"""Visible tests and hidden checks agree, and a variable the notebook never defined gets a clear message.

1. Parity: for each quiz, answers of every type a student plausibly writes (a tensor, a numpy array, a list,
   a tuple, a bare string, a numpy str, a pathlib path, os.scandir's entries …), all with right values, are
   judged three ways: the released notebook's visible test cell, the hidden check called in the kernel (as
   `nbgrader autograde` runs it), and the hidden check as the class grader runs it (the value handed over as
   plain data by autograder/values.py and decoded by autograder/verdict.py). All three must say the same:
   a visible pass is never a hidden failure for a type, and a visible failure never gets the points.
2. Missing answers: a test reading a variable no cell defined (the answer cell deleted, the variable renamed,
   the cell stopped by raise NotImplementedError()) says, Korean first then English, which quiz and answer
   cell, that the answer variable was never defined and what to do; the score is still 0.
"""
import functools
import json
import os
import re
import types
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import quizcourse as qc
from autograder import execute, job, values, verdict
from clipcourse import grading, reference
from clipcourse.models import choose_model


# ---- helpers --------------------------------------------------------------------------------------------
def _test_cell(assignment, grade_id, folder="release"):
    return next(c for c in qc.read(qc.notebook_path(qc.ROOT / folder, assignment)).cells if qc.grade_id(c) == grade_id)


def visible(assignment, grade_id, **namespace):
    """(passed, message) of the released test cell ``grade_id`` run on ``namespace``."""
    try:
        exec(_test_cell(assignment, grade_id).source, {"os": os, "torch": torch, **namespace})
    except AssertionError as error:
        return False, str(error)
    return True, ""


def hidden(check, *args):
    """(passed, message) of a hidden check called on the notebook's own values (the kernel's way)."""
    try:
        check(*args)
    except AssertionError as error:
        return False, str(error)
    return True, ""


def _handed_over(value, decoder, variable=None):
    """``value`` as the class grader sees it: values.py's plain data (JSON), decoded by verdict.py; a function is
    called back through the notebook ``variable`` that holds it, as values.dump names it."""
    item = values.encode(value)
    if item["t"] == "function" and variable:
        item["name"] = variable
    return decoder.value(verdict.parse_reply(repr(json.dumps(item))))


def graded(check, *args, namespace=None, images=None):
    """(passed, message) of a hidden check as the class grader runs it; a function argument is called through
    values.call on ``namespace`` (the notebook's variables), as the grader asks the kernel."""
    def call_kernel(name, payload):
        saved = values._namespace
        values._namespace = lambda: namespace or {}
        try:
            return verdict.parse_reply(repr(values.call(name, payload)))
        finally:
            values._namespace = saved

    decoder = verdict.Decoder(images, call_kernel)
    owner = {id(v): k for k, v in (namespace or {}).items()}
    return hidden(check, *[_handed_over(a, decoder, owner.get(id(a))) for a in args])


def agree(expected, seen, *judged):
    """Every way of judging gave ``expected``; ``seen`` names the answer in the failure."""
    got = [passed for passed, _ in judged]
    assert got == [expected] * len(judged), (f"{seen}: visible, hidden in the kernel, hidden in the class "
                                             f"grader = {got}, expected all {expected}:\n"
                                             + "\n---\n".join(message for _, message in judged))


@pytest.fixture
def course_state():
    grading._STATE.clear()
    yield
    grading._STATE.clear()


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    before = os.environ.get("CLIP_COURSE_CACHE")
    os.environ["CLIP_COURSE_CACHE"] = str(tmp_path_factory.getbasetemp() / "clip-course-cache")
    yield reference.load_or_build(choose_model(verbose=False))
    if before is None:
        os.environ.pop("CLIP_COURSE_CACHE")
    else:
        os.environ["CLIP_COURSE_CACHE"] = before


def _arm(assignment, monkeypatch):
    grading._STATE.clear()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    grading.setup(assignment)
    assert grading._STATE["refs"] is not None and not grading._STATE["error"]


# ---- 1. parity of visible and hidden, quiz by quiz -----------------------------------------------------
def _matrix(rows):
    with warnings.catch_warnings():  # numpy discourages np.matrix, but a student may still meet it
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(rows)


def _quiz1_answers():
    v1, v2 = torch.tensor(reference.QUIZ1_VEC1, dtype=torch.float32), torch.tensor(reference.QUIZ1_VEC2)
    rows, matrix = F.cosine_similarity(v1, v2), F.cosine_similarity(v1.unsqueeze(1), v2, dim=2)
    three = [round(float(x), 3) for x in rows]
    return {
        # what the statement allows: torch tensors, numpy arrays, numbers written by hand
        "tensor": (rows, matrix, True),
        "float64 tensor": (rows.double(), matrix.double(), True),
        "tensor that requires grad": (rows.clone().requires_grad_(), matrix.clone().requires_grad_(), True),
        "numpy array": (rows.numpy(), matrix.numpy(), True),
        "list by hand": (three, [[round(float(x), 3) for x in row] for row in matrix], True),
        "tuple": (tuple(three), tuple(tuple(float(x) for x in row) for row in matrix), True),
        "list of numpy float32": (list(rows.numpy()), [list(row) for row in matrix.numpy()], True),
        "list of 0-dim tensors": (list(rows), [list(row) for row in matrix], True),
        "list of 0-dim arrays": ([np.array(x) for x in three], [[np.array(float(x)) for x in row] for row in matrix], True),
        "np.matrix": (None, _matrix(matrix.numpy()), True),
        # numbers as text, or something else: both refuse, with the same words
        "numbers in quotes": ([str(x) for x in three], [[str(round(float(x), 3)) for x in row] for row in matrix], False),
        "a dict": ({0: three[0], 1: three[1]}, {0: 1}, False),
        "a list of (1,) tensors": ([rows[:1], rows[1:]], [matrix[:1], matrix[1:]], False),
    }


@pytest.mark.parametrize("name", list(_quiz1_answers()))
def test_quiz1_visible_and_hidden_accept_the_same_types(name, course_state):
    grading.setup("quiz_cosine")
    rowwise, matrix, expected = _quiz1_answers()[name]
    for grade_id, check, var, value in (("quiz1a_test", grading.check_quiz1_rowwise, "cos_rowwise", rowwise),
                                        ("quiz1b_test", grading.check_quiz1_matrix, "cos_matrix", matrix)):
        if value is None:
            continue
        agree(expected, f"quiz 1 {var} as a {name}", visible("quiz_cosine", grade_id, **{var: value}),
              hidden(check, value), graded(check, value))


def test_quiz1_refuses_numbers_in_quotes_with_the_same_words(course_state):
    grading.setup("quiz_cosine")
    quoted = ["0.885", "0.895"]
    for _, message in (visible("quiz_cosine", "quiz1a_test", cos_rowwise=quoted),
                       hidden(grading.check_quiz1_rowwise, quoted), graded(grading.check_quiz1_rowwise, quoted)):
        flat = " ".join(message.split())
        assert "숫자를 넣으세요: 따옴표 없이 0.123처럼" in flat and "must hold numbers: write 0.123, without quotes" in flat


def _dog_setup(refs, query):
    """The dogs' Top-3 for ``query`` under the test model, as quiz 2's targets (any model reaches them)."""
    scores = reference.cosine(grading._embed_texts([query], "test"), refs.dogs)[0]
    top3 = [int(i) for i in np.argsort(-scores, kind="stable")[:3]]
    grading._STATE["targets"]["quiz2"] = [refs.dog_names[i] for i in top3]
    dogs = [str(reference.data.data_dir() / "topk-image" / n) for n in refs.dog_names]
    return {"top_3_indices": torch.tensor(top3), "image_filenames": dogs,
            "target_files": [refs.dog_names[i] for i in top3]}


@pytest.mark.parametrize("name,text,expected", [
    ("a list of one string", ["a dog running"], True),
    ("a tuple of one string", ("a dog running",), True),
    ("one bare string", "a dog running", True),
    ("a numpy string", [np.str_("a dog running")], True),
    ("two strings", ["a dog running", "fast"], False),
    ("a blank string", ["   "], False),
    ("a number", [3], False),
])
def test_quiz2_visible_and_hidden_accept_the_same_types(refs, monkeypatch, name, text, expected):
    _arm("quiz_topk", monkeypatch)
    try:
        namespace = _dog_setup(refs, "a dog running")
        agree(expected, f"quiz 2 text as {name}", visible("quiz_topk", "quiz2_test", text=text, **namespace),
              hidden(grading.check_quiz2, text), graded(grading.check_quiz2, text))
    finally:
        grading._STATE.clear()


QUIZ7_TEXTS = ["a red car", "a yellow bird", "a tree", "a guitar", "a cup of tea"]


@pytest.mark.parametrize("name,texts,expected", [
    ("a list", QUIZ7_TEXTS, True),
    ("a tuple", tuple(QUIZ7_TEXTS), True),
    ("numpy strings", [np.str_(t) for t in QUIZ7_TEXTS], True),
    ("one string", ", ".join(QUIZ7_TEXTS), False),
    ("four texts", QUIZ7_TEXTS[:4], False),
    ("a numpy array", np.array(QUIZ7_TEXTS), False),
])
def test_quiz7_visible_and_hidden_accept_the_same_types(refs, monkeypatch, name, texts, expected):
    _arm("quiz_guess", monkeypatch)
    try:
        top1 = [refs.gallery_names[int(i)] for i in
                np.argmax(reference.cosine(grading._embed_texts(QUIZ7_TEXTS, "t"), refs.gallery), axis=1)]
        grading._STATE["targets"]["quiz7"] = top1
        for number in (1, 5):
            agree(expected, f"quiz 7 texts as {name}",
                  visible("quiz_guess", f"quiz7_{number}_test", texts=texts, top1_files=top1, target_files=top1),
                  hidden(grading.check_quiz7, texts, number), graded(grading.check_quiz7, texts, number))
    finally:
        grading._STATE.clear()


@pytest.fixture(scope="module")
def gallery(refs):
    """The 200 pictures and their paths, in the references' order; the class grader's index of course pictures."""
    folder = reference.data.data_dir() / "gallery"
    paths = [str(folder / n) for n in refs.gallery_names]
    index = {((w, h), digest): path for w, h, digest, path in verdict.image_index([str(reference.data.data_dir())])}

    def known(size, digest):
        path = index.get((tuple(size), digest))
        return None if path is None else Image.open(path).convert("RGB")
    return paths, reference.data.load_images(paths), known


def _entries(paths):
    by_name = {e.name: e for e in os.scandir(os.path.dirname(paths[0]))}
    return [by_name[os.path.basename(p)] for p in paths]


@pytest.mark.parametrize("name,expected", [
    ("list of str", True), ("tuple of str", True), ("list of pathlib paths", True), ("numpy strs", True),
    ("os.scandir entries", True), ("tuple of images", True), ("numpy array of str", False), ("bytes", False),
    ("bare file names", False),  # the task asks for paths (issue 30)
])
def test_quiz3_visible_and_hidden_accept_the_same_types(refs, gallery, monkeypatch, name, expected):
    paths, images, known = gallery
    filenames = {"list of str": paths, "tuple of str": tuple(paths), "tuple of images": paths,
                 "list of pathlib paths": [Path(p) for p in paths], "numpy strs": list(np.array(paths)),
                 "os.scandir entries": _entries(paths), "numpy array of str": np.array(paths),
                 "bytes": [p.encode() for p in paths], "bare file names": [os.path.basename(p) for p in paths]}[name]
    pictures = tuple(images) if name == "tuple of images" else images
    _arm("quiz_search", monkeypatch)
    try:
        agree(expected, f"quiz 3 with {name}",
              visible("quiz_search", "quiz3_test", images=pictures, image_filenames=filenames, Image=Image),
              hidden(grading.check_quiz3, pictures, filenames),
              graded(grading.check_quiz3, pictures, filenames, images=known))
    finally:
        grading._STATE.clear()


@pytest.mark.parametrize("name,expected", [
    ("tensor", True), ("tensor that requires grad", True), ("float16 tensor", True), ("bfloat16 tensor", None),
    ("numpy array", False), ("list of lists", False), ("list of tensors", False),
])
def test_quiz4_and_5_visible_and_hidden_accept_the_same_types(refs, gallery, monkeypatch, name, expected):
    """The statement asks for the tensor model.get_*_features returns: a numpy array or a list is refused by
    the visible test and the hidden check alike, with the same words. (bfloat16 holds too few digits for
    the hidden check's tolerance: only its type is compared here.)"""
    paths = gallery[0]
    cases = []
    for ref, grade_id, check, var in ((refs.gallery, "quiz4_test", grading.check_quiz4, "image_embeddings"),
                                      (refs.quiz5, "quiz5_test", grading.check_quiz5, "text_embedding")):
        right = torch.tensor(ref)
        value = {"tensor": right, "tensor that requires grad": right.clone().requires_grad_(),
                 "float16 tensor": right.half(), "bfloat16 tensor": right.bfloat16(), "numpy array": right.numpy(),
                 "list of lists": right.tolist(), "list of tensors": list(right)}[name]
        cases.append((grade_id, check, var, value))
    _arm("quiz_search", monkeypatch)
    try:
        for grade_id, check, var, value in cases:
            args = (value, paths) if grade_id == "quiz4_test" else (value,)
            judged = [visible("quiz_search", grade_id, **{var: value, "image_filenames": paths, "text": ["a cup of coffee"]}),
                      hidden(check, *args), graded(check, *args)]
            if expected is None:  # the type is taken alike; the value may miss the tolerance
                assert all("torch.Tensor" not in message for _, message in judged), judged
                continue
            agree(expected, f"quiz {grade_id[4]} {var} as a {name}", *judged)
            if not expected:  # the same words from all three
                assert all("must be the torch.Tensor returned by model.get_" in " ".join(m.split()) and
                           ".numpy()는 빼세요" in " ".join(m.split()) for _, m in judged), judged
    finally:
        grading._STATE.clear()


def test_quiz5_text_given_as_a_string_or_tuple_is_the_same_text(refs, monkeypatch):
    """Grading reads text_embedding only: the given text written as a bare string (or deleted) fails nothing."""
    right = torch.tensor(refs.quiz5)
    _arm("quiz_search", monkeypatch)
    try:
        for text in ("a cup of coffee", ("a cup of coffee",), ["a cup of coffee"]):
            agree(True, f"quiz 5 with text = {text!r}", visible("quiz_search", "quiz5_test", text=text, text_embedding=right),
                  hidden(grading.check_quiz5, right), graded(grading.check_quiz5, right))
        assert visible("quiz_search", "quiz5_test", text_embedding=right)[0]
        assert not visible("quiz_search", "quiz5_test", text=["a cup of tea"], text_embedding=right)[0]
    finally:
        grading._STATE.clear()


def _right(text_embedding, image_embeddings, image_filenames):
    return image_filenames[F.cosine_similarity(text_embedding, image_embeddings).argmax().item()]


def _numpy_name(text_embedding, image_embeddings, image_filenames):
    return np.array(image_filenames)[F.cosine_similarity(text_embedding, image_embeddings).argmax().item()]


def _as_path(text_embedding, image_embeddings, image_filenames):
    return Path(_right(text_embedding, image_embeddings, image_filenames))


def _base_name(text_embedding, image_embeddings, image_filenames):
    return os.path.basename(_right(text_embedding, image_embeddings, image_filenames))


def _numpy_index_name(text_embedding, image_embeddings, image_filenames):
    return os.path.basename(str(np.array(image_filenames)[F.cosine_similarity(text_embedding, image_embeddings).argmax().item()]))


class _Callable:
    def __call__(self, text_embedding, image_embeddings, image_filenames):
        return _right(text_embedding, image_embeddings, image_filenames)


@pytest.mark.parametrize("name,function,expected", [
    ("a path of image_filenames", _right, True), ("a numpy str", _numpy_name, True), ("a pathlib path", _as_path, True),
    ("the file name", _base_name, True), ("a str from a numpy array", _numpy_index_name, True),
    # honest answers in any callable form are graded alike (issue 32)
    ("a functools.partial", functools.partial(_right), True), ("a callable object", _Callable(), True),
])
def test_quiz6_visible_and_hidden_accept_the_same_types(refs, monkeypatch, name, function, expected):
    _arm("quiz_search", monkeypatch)
    try:
        agree(expected, f"quiz 6 top1_filename returning {name}",
              visible("quiz_search", "quiz6_test", top1_filename=function, gallery_dir="/g"),
              hidden(grading.check_quiz6, function),
              graded(grading.check_quiz6, function, namespace={"top1_filename": function}))
    finally:
        grading._STATE.clear()


def test_the_class_grader_hands_over_the_notebooks_types():
    """A tensor stays a tensor and an array an array (quizzes 4 and 5 tell them apart); a numpy str, an
    os.scandir entry and a bfloat16 tensor come over as what they stand for."""
    decoder = verdict.Decoder()
    assert type(_handed_over(torch.ones(2, 3), decoder)) is torch.Tensor
    assert type(_handed_over(np.ones((2, 3)), decoder)) is np.ndarray
    assert type(_handed_over(torch.tensor(3), decoder)) is torch.Tensor
    assert _handed_over(np.str_("a.png"), decoder) == "a.png"
    assert type(_handed_over(np.str_("a.png"), decoder)) is str
    entry = next(os.scandir(reference.data.data_dir()))
    assert _handed_over(entry, decoder) == Path(entry.path)
    assert torch.equal(_handed_over(torch.ones(2, dtype=torch.bfloat16), decoder), torch.ones(2, dtype=torch.float64))
    assert type(_handed_over(_matrix([[1.0, 2.0]]), decoder)) is np.ndarray


# ---- 2. a variable the notebook never defined ----------------------------------------------------------
def _lines_ok(message):
    lines = message.splitlines()
    hangul = [bool(re.search("[가-힣]", line)) for line in lines]
    assert hangul[0] and not hangul[-1] and hangul == sorted(hangul, reverse=True), f"Korean first, then English:\n{message}"
    assert all(len(line) <= grading.MESSAGE_WIDTH for line in lines), message


def _trusted(assignment):
    return verdict.Trusted(nbformat.read(qc.notebook_path(qc.ROOT / "source", assignment), as_version=4))


def test_class_grader_says_which_answer_variable_was_never_defined(course_state):
    trusted = _trusted("quiz_cosine")
    trusted.start()
    passed, reason = trusted.decide("quiz1b_test", {"cos_matrix": {"t": "missing"}}, None)
    assert not passed
    _lines_ok(reason)
    flat = " ".join(reason.split())
    assert flat.startswith("[퀴즈 1-b] 답 변수 cos_matrix이(가) 정의되지 않아") and "'quiz1b_answer'" in flat
    assert "변수 이름 cos_matrix은(는) 주어진 그대로 두고, 답 셀을 실행해" in flat
    assert "[quiz 1-b] The answer variable cos_matrix was never defined (quiz 1-b's answer cell 'quiz1b_answer')" in flat
    assert "Keep the name cos_matrix as given and run the answer cell" in flat and "This test scores 0" in flat
    assert "is not defined:" not in flat and "(NameError)" not in flat
    assert trusted.missing("quiz1b_test", {"cos_matrix": {"t": "missing"}}) == ["cos_matrix"]


def test_class_grader_names_the_earlier_quizs_answer_cell(course_state):
    """Quiz 4 reads quiz 3's image_filenames too: both missing variables, each with its own answer cell."""
    trusted = _trusted("quiz_search")
    trusted.start()
    raw = {"image_embeddings": {"t": "missing"}, "image_filenames": {"t": "missing"}}
    passed, reason = trusted.decide("quiz4_test", raw, None)
    flat = " ".join(reason.split())
    assert not passed and flat.startswith("[퀴즈 4] 답 변수 image_embeddings, image_filenames이(가)")
    assert "퀴즈 3의 답 셀 'quiz3_answer', 퀴즈 4의 답 셀 'quiz4_answer'" in flat
    assert "The answer variables image_embeddings and image_filenames were never defined" in flat
    assert "Keep the names image_embeddings and image_filenames as given" in flat
    _lines_ok(reason)


def test_a_test_run_in_the_kernel_that_hits_a_name_error_says_the_same():
    """Hidden tests run in the kernel (any code but the course's checks): nbgrader's NameError becomes the
    same message, the error stays (0 points) and the test is listed for the class's CSV."""
    cell = nbformat.v4.new_code_cell("assert v.shape == (3,)")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "q3_test", "points": 3}
    cell.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'v' is not defined",
                                           traceback=["NameError: name 'v' is not defined"])]
    state = types.SimpleNamespace(_answers={"v": "q3_answer"}, _events={"verdicts": {"q3_test": {"how": "kernel"}}})
    execute.SafeExecute._explain_name_errors(state, cell)
    error = cell.outputs[0]
    assert error.ename == "NameError" and "[q3_test] 답 변수 v이(가) 정의되지 않아" in error.evalue
    assert "The answer variable v was never defined (answer cell 'q3_answer')" in " ".join(error.evalue.split())
    assert error.evalue.endswith("(name 'v' is not defined)")
    assert state._events["verdicts"]["q3_test"]["missing"] == [{"name": "v", "cell": "q3_answer"}]


def test_the_csv_notes_each_answer_variable_never_defined_once():
    notes = job._missing_notes({
        "quiz7_1_test": {"how": "grader", "missing": [{"name": "texts", "cell": "quiz7_answer"}]},
        "quiz7_2_test": {"how": "grader", "missing": [{"name": "texts", "cell": "quiz7_answer"}]},
        "quiz7_3_test": {"how": "grader", "passed": True}})
    assert notes == ["quiz7_1_test, quiz7_2_test: 답 변수 texts이(가) 정의되지 않았습니다 / the answer variable texts "
                     "was never defined (answer cell 'quiz7_answer'; deleted, renamed, or its cell stopped before it): "
                     "0 points"]


@pytest.mark.parametrize("assignment,grade_id,variables", [
    ("quiz_cosine", "quiz1a_test", {"cos_rowwise"}), ("quiz_topk", "quiz2_test", {"text"}),
    ("quiz_search", "quiz3_test", {"images", "image_filenames"}), ("quiz_search", "quiz4_test", {"image_embeddings", "image_filenames"}),
    ("quiz_search", "quiz5_test", {"text_embedding"}), ("quiz_search", "quiz6_test", {"top1_filename"}),
    ("quiz_guess", "quiz7_3_test", {"texts"}),
])
def test_every_visible_test_guards_what_its_hidden_check_reads(assignment, grade_id, variables):
    """Run before its answer is defined, a visible test says which answer variable is missing and to keep
    its name as given, never a bare NameError; and each variable the hidden check reads is guarded."""
    source = _test_cell(assignment, grade_id, "source").source
    read = set(re.findall(r"grading\.check_\w+\(([^)]*)\)", source)[0].replace(" ", "").split(",")) - {"1", "2", "3", "4", "5"}
    assert read <= variables
    for name in sorted(variables):
        others = {v: None for v in variables if v != name}
        given = {"image_filenames": [f"/g/p{i}.png" for i in range(200)], "images": [], "gallery_dir": "/g"}
        namespace = {k: given.get(k, v) for k, v in others.items()}
        passed, message = visible(assignment, grade_id, **namespace, **({"gallery_dir": "/g"} if "quiz6" in grade_id else {}))
        flat = " ".join(message.split())
        assert not passed and f"{name} is not defined yet" in flat and f"keeping the name {name} as given" in flat, flat
        assert "아직 정의되지 않았습니다" in flat and "주어진 그대로 두세요" in flat
