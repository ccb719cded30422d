"""Grading a class end to end on a tiny numpy-only course: parallel = sequential, resuming after an
interruption, both folder layouts, and the guard on its own (without the quizzes' own checks).

The hostile cases on the real quizzes are in test_autograder_quizzes.py.
"""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course, Settings
from autograder.grade import grade_class
from autograder.samples import released
from nbgrader.api import Gradebook

import autograder_cases as cases

REPO = Path(__file__).resolve().parents[1]
try:
    from autograder.grade import check_sandbox

    check_sandbox()
    SANDBOX = True
except Exception:
    SANDBOX = False
# The guard on its own (the real quizzes also check for monkeypatching), and a few kinds of ending.
MACHINERY = ("solution", "blank", "partial", "invalid-json", "os-exit", "patch-allclose", "patch-print",
             "patch-transformer", "rebind-np", "custom-exception", "nbgrader-env", "stripped-metadata",
             "deleted-answer-and-test", "extra-grade-cells", "bad-timestamp", "edited-settings", "shadow-modules",
             "display-flood",
             "huge-error") + (("fill-disk",) if SANDBOX else ())
SETTINGS = dict(cell_timeout=8, notebook_timeout=120, memory_mb=1500, preload=("numpy",))
_BLANK = {}


def _class(root, names):
    course = Course(cases.tiny_course(root / "course"))
    solution = nbformat.read(course.source / cases.TINY / f"{cases.TINY}.ipynb", as_version=4)
    if "blank" not in _BLANK:
        _BLANK["blank"] = released(course, cases.TINY)[cases.TINY]
    blank = _BLANK["blank"]
    chosen = [c for c in cases.tiny_cases(course.root) if c.student in names]
    for case in chosen:
        cases.write_case(case, solution, blank, root / "submitted-here")
    return course, solution, chosen


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-parallel")
    course, solution, chosen = _class(root, MACHINERY)
    lines = []
    run = grade_class(root / "submitted-here", course.root, settings=Settings(jobs=2, sandbox=SANDBOX, **SETTINGS),
                      log=lines.append)
    return course, solution, chosen, run, lines, root


def _by_student(run):
    return {r["student"]: r for r in run.results}


def _outputs(course, student):
    nb = nbformat.read(course.autograded / student / cases.TINY / f"{cases.TINY}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_every_case_gets_its_exact_score_and_a_reason(parallel):
    course, solution, chosen, run, _, _ = parallel
    results = _by_student(run)
    assert sorted(results) == sorted(c.student for c in chosen)
    for case in chosen:
        result = results[case.student]
        score = sum(g["auto_score"] or 0 for g in result["grades"])
        assert (case.student, score) == (case.student, cases.expected_score(case, solution))
        assert (case.student, result["status"]) == (case.student, case.status)
        said = " ".join([result["reason"]] + result["notes"] + result["flags"]).lower()
        for text in case.says:
            assert text in said, (case.student, said)
        if case.output_has or case.output_lacks:
            text = _outputs(course, case.student)
            assert all(t in text for t in case.output_has) and not any(t in text for t in case.output_lacks), text


def test_every_output_path_is_capped(parallel):
    course, _, chosen, run, _, _ = parallel
    for student in ("display-flood", "huge-error", "solution"):
        notebook = course.autograded / student / cases.TINY / f"{cases.TINY}.ipynb"
        page = course.feedback / student / cases.TINY / f"{cases.TINY}.html"
        assert notebook.stat().st_size < 12_000_000 and page.stat().st_size < 12_000_000, student
    nb = nbformat.read(course.autograded / "huge-error" / cases.TINY / f"{cases.TINY}.ipynb", as_version=4)
    (error,) = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert error.ename == "ValueError" and "characters cut" in error.evalue


def test_gradebook_holds_one_row_per_student_with_the_csv_scores(parallel):
    course, _, chosen, run, _, _ = parallel
    csv_rows = list(csv.DictReader(run.outputs[cases.TINY]["csv"].read_text(encoding="utf-8").splitlines()))
    assert len(csv_rows) == len(chosen)
    csv_scores = {row["student_id"]: float(row["score"]) for row in csv_rows}
    assert all(row["decided_by"] == "quiz1=kernel quiz2=kernel quiz3=kernel" for row in csv_rows
               if row["status"] == "graded")  # arbitrary hidden asserts run in the kernel, and the CSV says so
    with Gradebook(course.db_url) as gb:
        submissions = gb.assignment_submissions(cases.TINY)
        assert sorted(s.student.id for s in submissions) == sorted(csv_scores)
        for submission in submissions:
            assert submission.score == csv_scores[submission.student.id]


# One case of each kind of ending and of each kind of note (the sequential run costs a new process per job).
SEQUENTIAL = ("solution", "blank", "invalid-json", "os-exit", "patch-allclose", "stripped-metadata",
              "bad-timestamp", "display-flood")


def test_sequential_run_gives_the_same_csv(parallel, tmp_path, monkeypatch):
    """One job at a time, each started as a new Python process rather than forked from the fork server (the
    way where there is none): the same grades, statuses, reasons, notes and flags as the parallel, forked run."""
    import shutil

    _, _, chosen, run, _, root = parallel
    for student in SEQUENTIAL:
        shutil.copytree(root / "submitted-here" / student, tmp_path / "submitted" / student)
    monkeypatch.setenv("AUTOGRADER_FORKSERVER", "0")
    course = Course(cases.tiny_course(tmp_path / "course"))
    sequential = grade_class(tmp_path / "submitted", course.root,
                             settings=Settings(jobs=1, sandbox=SANDBOX, **SETTINGS), log=lambda line: None)

    def rows(result):
        return list(csv.DictReader(result.outputs[cases.TINY]["csv"].read_text(encoding="utf-8").splitlines()))

    got = rows(sequential)
    assert [r["student_id"] for r in got] == sorted(SEQUENTIAL)
    assert got == [r for r in rows(run) if r["student_id"] in SEQUENTIAL]


def test_rerun_grades_only_what_is_missing(parallel):
    course, _, chosen, run, _, root = parallel
    before = run.outputs[cases.TINY]["csv"].read_text()
    (course.state_dir(cases.TINY) / "results" / "partial.json").unlink()
    lines = []
    again = grade_class(root / "submitted-here", course.root, settings=Settings(jobs=2, sandbox=SANDBOX, **SETTINGS),
                        log=lines.append)
    graded = [line for line in lines if line.startswith("[")]
    assert len(graded) == 1 and "tiny/partial" in graded[0]
    assert f"{len(chosen) - 1} submission(s) already graded" in "\n".join(lines)
    assert again.outputs[cases.TINY]["csv"].read_text() == before


def test_feedback_never_shows_hidden_tests(parallel):
    from autograder import feedback

    course, solution, chosen, run, _, _ = parallel
    secrets = feedback.secret_lines(c.source for c in solution.cells)
    pages = list((course.feedback).glob(f"*/{cases.TINY}/*.html"))
    assert len(pages) == sum(1 for c in chosen if c.status != "unreadable")
    for page in pages:
        assert feedback.find_leaks(page.read_text(), secrets) == [], page
    text = feedback.html_text((course.feedback / "solution" / cases.TINY / f"{cases.TINY}.html").read_text())
    assert "hidden tests of 'q1_test' (2 points): passed" in text
    failed = feedback.html_text((course.feedback / "partial" / cases.TINY / f"{cases.TINY}.html").read_text())
    assert "hidden tests of 'q3_test' (3 points): failed" in failed


def test_flat_lms_folder_keeps_every_name_apart(tmp_path):
    course = Course(cases.tiny_course(tmp_path / "course"))
    solution = nbformat.read(course.source / cases.TINY / f"{cases.TINY}.ipynb", as_version=4)
    blank = released(course, cases.TINY)[cases.TINY]
    lms = tmp_path / "downloads"
    lms.mkdir()
    long_name = "student " + "x" * 236  # with .ipynb, a 250-character file name
    work = {"김철수": solution, "이영희": blank, "kim chulsoo": blank, "kim_chulsoo": solution, long_name: solution}
    for name, nb in work.items():
        nbformat.write(nb, lms / f"{name}.ipynb")
    (lms / "park.ipynb").write_text("")
    run = grade_class(lms, course.root, settings=Settings(jobs=2, sandbox=SANDBOX, **SETTINGS), log=lambda line: None)
    rows = {r["name"]: r for r in run.results}
    assert sorted(rows) == sorted([*work, "park"])
    for name, nb in work.items():
        assert rows[name]["status"] == "graded", rows[name]
        assert sum(g["auto_score"] for g in rows[name]["grades"]) == (6 if nb is solution else 0), name
    assert len({r["student"] for r in run.results}) == len(rows)
    assert rows["park"]["status"] == "unreadable" and "empty" in rows["park"]["reason"]
    csv_rows = list(csv.reader(run.outputs[cases.TINY]["csv"].read_text(encoding="utf-8").splitlines()))
    assert sorted(row[0] for row in csv_rows[1:]) == sorted(rows)  # the CSV keeps the names exactly
    with Gradebook(course.db_url) as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(cases.TINY)) == sorted(r["student"] for r in run.results)
    kim = rows["김철수"]["student"]
    assert (course.submitted / kim / cases.TINY / f"{cases.TINY}.ipynb").exists()  # imported for nbgrader


def test_interrupted_run_resumes_without_losing_or_duplicating(tmp_path):
    course, _, chosen = _class(tmp_path, ("solution", "blank", "partial"))
    command = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "submitted-here"), "--course",
               str(course.root), "--jobs", "1", "--cell-timeout", "8"] + ([] if SANDBOX else ["--no-sandbox"])
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # Ctrl-C as in a terminal: a suite started in the background (`cmd &`) inherits SIGINT ignored, and Python
    # then never raises KeyboardInterrupt; give the grader the default disposition a terminal would.
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = course.state_dir(cases.TINY) / "results"
    deadline = time.monotonic() + 300
    while not (results.is_dir() and list(results.glob("*.json"))) and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 130 and "interrupted" in out, out
    done_before = len(list(results.glob("*.json")))
    assert 1 <= done_before < len(chosen)
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{done_before} submission(s) already graded" in second.stdout
    assert "--jobs 1: as given (the default here: " in second.stdout  # the run says how many ran at once
    assert len(list(results.glob("*.json"))) == len(chosen)
    with Gradebook(course.db_url) as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(cases.TINY)) == sorted(c.student for c in chosen)
    leftovers = [d for d in Path("/tmp").glob("ag-*/job.json") if str(course.root) in d.read_text()]
    assert leftovers == []  # the job killed by Ctrl-C left no folder behind


@pytest.mark.skipif(not SANDBOX, reason="the unboxed mode is what runs here anyway")
def test_unboxed_mode_grades_the_same(tmp_path):
    course, solution, chosen = _class(tmp_path, ("patch-allclose", "nbgrader-env"))
    run = grade_class(tmp_path / "submitted-here", course.root,
                      settings=Settings(jobs=2, sandbox=False, **SETTINGS), log=lambda line: None)
    for case in chosen:
        result = _by_student(run)[case.student]
        assert sum(g["auto_score"] for g in result["grades"]) == cases.expected_score(case, solution), case.student


def test_the_courses_own_delimiters_are_hidden_from_feedback(tmp_path):
    """A course that configures other delimiters in nbgrader (ClearHiddenTests, ClearSolutions) gets them honoured."""
    from autograder import feedback

    root = cases.tiny_course(tmp_path / "course")
    with open(root / "nbgrader_config.py", "a") as config:
        config.write('c.ClearHiddenTests.begin_test_delimeter = "SECRET CHECKS START"\n'
                     'c.ClearHiddenTests.end_test_delimeter = "SECRET CHECKS STOP"\n'
                     'c.ClearSolutions.begin_solution_delimeter = "## >>> ANSWER"\n'
                     'c.ClearSolutions.end_solution_delimeter = "## <<< ANSWER"\n')
    path = root / "source" / cases.TINY / f"{cases.TINY}.ipynb"
    text = path.read_text()
    for old, new in (("### BEGIN HIDDEN TESTS", "# SECRET CHECKS START"), ("### END HIDDEN TESTS", "# SECRET CHECKS STOP"),
                     ("### BEGIN SOLUTION", "## >>> ANSWER"), ("### END SOLUTION", "## <<< ANSWER")):
        text = text.replace(old, new)
    path.write_text(text)
    course = Course(root)
    solution = nbformat.read(path, as_version=4)
    blank = released(course, cases.TINY)[cases.TINY]
    assert "add(a, b)" in blank.cells[2].source and "return a + b" not in blank.cells[2].source
    for student, nb in (("solution", solution), ("partial", cases.mix(solution, blank, ("q1_answer", "q2_answer")))):
        (tmp_path / "in" / student / cases.TINY).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "in" / student / cases.TINY / f"{cases.TINY}.ipynb")
    run = grade_class(tmp_path / "in", course.root, settings=Settings(jobs=2, sandbox=SANDBOX, **SETTINGS),
                      log=lambda line: None)
    assert {r["student"]: sum(g["auto_score"] for g in r["grades"]) for r in run.results} == {"solution": 6, "partial": 3}
    for student, verdict in (("solution", "passed"), ("partial", "failed")):
        page = feedback.html_text((course.feedback / student / cases.TINY / f"{cases.TINY}.html").read_text())
        assert f"hidden tests of 'q3_test' (3 points): {verdict}" in page
        assert "add must work for negative numbers" not in page and "SECRET CHECKS" not in page
