"""The class grader's model flag: a submission answered under another CLIP model than the grading one is
marked in the grades CSV and the summary. Notebooks are written by hand here (no kernel runs); the
line they print is the one the quizzes' setup cell prints (checked against clipcourse at the end)."""
import contextlib
import csv
import io
from pathlib import Path

import nbformat
import pytest

from autograder import modelcheck

COURSE = "course-clip sha256:0123456789abcdef"
RETRAINED = "course-clip sha256:fedcba9876543210"
REAL_CACHED = "openai/clip-vit-base-patch32 sha256:aaaabbbbccccdddd"
REAL_ID = "openai/clip-vit-base-patch32"


def notebook(path, *printed):
    """A notebook whose first code cell printed ``printed`` (a setup cell), then an answer cell."""
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell('grading.setup("quiz_topk")')
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text="".join(printed))]
    answer = nbformat.v4.new_code_cell("text = ['a dog']")
    answer.outputs = [nbformat.v4.new_output("stream", name="stdout", text="model: fake printed later\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("model: not an output"), setup, answer]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def class_of(tmp_path, answered):
    """submitted/ and autograded/ for students answering under the models in ``answered``; graded under COURSE."""
    results = []
    for student, label in answered.items():
        printed = [f"model: {label}\n"] if label is not None else ["nothing\n"]
        notebook(tmp_path / "submitted" / student / "quiz_topk" / "quiz_topk.ipynb", *printed)
        notebook(tmp_path / "autograded" / student / "quiz_topk" / "quiz_topk.ipynb", f"model: {COURSE}\n")
        results.append({"student": student, "assignment": "quiz_topk"})
    return modelcheck.annotate(results, tmp_path / "submitted", tmp_path / "autograded")


def test_the_setup_cells_model_line_is_read(tmp_path):
    nb = notebook(tmp_path / "a.ipynb", "CLIP model: /x/course-clip  (the course's offline CLIP)\n", f"model: {COURSE}\n")
    assert modelcheck.printed_model(nb) == COURSE
    assert modelcheck.printed_model(notebook(tmp_path / "b.ipynb", "no line here\n")) == ""
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert modelcheck.printed_model(tmp_path / "broken.ipynb") == ""
    assert modelcheck.printed_model(tmp_path / "missing.ipynb") == ""


@pytest.mark.parametrize("a, b, same", [
    (COURSE, COURSE, True),
    (COURSE, RETRAINED, False),            # the course model retrained: same folder name, other weights
    (REAL_ID, REAL_CACHED, True),          # downloaded at home vs the grader's cached snapshot
    (REAL_CACHED, COURSE, False),
    (REAL_ID, COURSE, False),
    ("my clip sha256:0123456789abcdef", COURSE, True),  # a copy under another folder name: same files
])
def test_same_model(a, b, same):
    assert modelcheck.same_model(a, b) is same and modelcheck.same_model(b, a) is same


def test_a_submission_answered_under_another_model_is_flagged(tmp_path):
    results = class_of(tmp_path, {"ann": COURSE, "ben": REAL_CACHED, "cem": RETRAINED, "dan": None, "eve": "none"})
    by = {r["student"]: r["model"] for r in results}
    assert by["ann"] == {"answered": COURSE, "graded": COURSE, "differs": False}
    assert by["ben"]["differs"] is True and by["ben"]["answered"] == REAL_CACHED
    assert by["cem"]["differs"] is True
    assert by["dan"] == {"answered": "", "graded": COURSE, "differs": None}, \
        "no line in the setup cell (a line printed by student code does not count): unknown, not flagged"
    assert by["eve"]["differs"] is None, "a quiz without a model is never flagged"
    assert [modelcheck.csv_values(r) for r in results] == [
        [COURSE, "no"], [REAL_CACHED, "yes"], [RETRAINED, "yes"], ["", ""], ["none", ""]]
    lines = modelcheck.summary_lines(results)
    assert lines[0].startswith("MODEL MISMATCH: 2 of 5 submissions") and COURSE in lines[0]
    assert lines[1:3] == [f"  ben: answered with {REAL_CACHED}", f"  cem: answered with {RETRAINED}"]
    assert "CLIP_MODEL=" in lines[-1]
    assert modelcheck.summary_lines(class_of(tmp_path / "fine", {"ann": COURSE})) == []


def test_the_grades_csv_and_summary_carry_the_flag(tmp_path):
    from autograder import report

    results = class_of(tmp_path, {"ann": COURSE, "ben": REAL_ID})
    for r in results:
        r.update(status="graded", reason="", notes=[], flags=[], cells={"quiz2_test": "passed"},
                 grades=[{"notebook": "quiz_topk", "grade_id": "quiz2_test", "auto_score": 3, "max_score": 3,
                          "needs_manual_grade": False}])
    pattern = r"(?i)q(?:uiz)?[_\- ]?0*(\d+)"
    rows = list(csv.DictReader(io.StringIO(report.csv_text(results, pattern, {}))))
    assert [(r["student"], r["answered_model"], r["model_differs"]) for r in rows] == [
        ("ann", COURSE, "no"), ("ben", REAL_ID, "yes")]
    table = report.summary_table(results, pattern)
    assert "MODEL MISMATCH: 1 of 2 submissions" in table and f"ben: answered with {REAL_ID}" in table


def test_the_quiz_setup_cell_prints_the_line_the_grader_reads(tmp_path, monkeypatch):
    """clipcourse's setup line, parsed by the grader: the course model's label names it and its files."""
    from clipcourse import grading, reference
    from clipcourse.models import choose_model

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    grading._STATE.clear()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            grading.setup("quiz_topk")
        grading._STATE.clear()
        with contextlib.redirect_stdout(out):
            grading.setup("quiz_cosine")
    finally:
        grading._STATE.clear()
    printed = [line for line in out.getvalue().splitlines() if line.startswith("model: ")]
    name = choose_model(verbose=False)
    assert printed == [f"model: {reference.model_label(name)}", "model: none"]
    nb = notebook(tmp_path / "n.ipynb", out.getvalue())
    label = modelcheck.printed_model(nb)
    assert label.startswith(f"{Path(name).name} sha256:") and modelcheck.same_model(label, reference.model_label(name))
    copy = tmp_path / "copy-of-the-model"
    copy.mkdir()
    for f in Path(name).iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert modelcheck.same_model(label, reference.model_label(str(copy))), "the same files under another folder"
