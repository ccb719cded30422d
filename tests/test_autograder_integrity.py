"""The class's records stay whole: one row and one id per student however often a folder is graded, one
run at a time per course, and a run killed half-way (or two started at once) loses or doubles nothing.

On the tiny numpy-only course of autograder_cases (no model), as test_autograder_class.py.
"""
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import collect
from autograder.course import Course, Settings
from autograder.grade import grade_class
from autograder.samples import released
from nbgrader.api import Gradebook

import autograder_cases as cases
from test_autograder_class import REPO, SANDBOX, SETTINGS, _class


def _course(root, config=""):
    course_root = cases.tiny_course(root / "course")
    with open(course_root / "nbgrader_config.py", "a") as f:
        f.write(config)
    course = Course(course_root)
    solution = nbformat.read(course.source / cases.TINY / f"{cases.TINY}.ipynb", as_version=4)
    blank = released(course, cases.TINY)[cases.TINY]
    return course, solution, blank


def _csv_rows(run):
    return list(csv.DictReader(run.outputs[cases.TINY]["csv"].read_text(encoding="utf-8").splitlines()))


def test_the_courses_own_submitted_folder_graded_three_times_keeps_one_row_per_student(tmp_path):
    # with a course_id of its own, as nbgrader allows
    course, solution, blank = _course(tmp_path, '\nc.CourseDirectory.course_id = "tiny-course"\n')
    for name, nb in (("김철수", solution), ("bob", blank)):
        folder = course.submitted / name / cases.TINY
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{cases.TINY}.ipynb")
    ids = []
    for time_graded in range(3):
        if time_graded == 1:  # nbgrader's own generate_assignment (its SaveCells) adds default_course; we never do
            connection = sqlite3.connect(course.db_path)
            connection.execute("DELETE FROM course WHERE id = 'default_course'")
            connection.commit()
            connection.close()
        lines = []
        run = grade_class(course.submitted, course.root, settings=Settings(jobs=1, sandbox=SANDBOX, **SETTINGS),
                          log=lines.append)
        rows = _csv_rows(run)
        assert sorted(r["student"] for r in rows) == ["bob", "김철수"], "\n".join(lines)
        ids.append({r["student"]: r["student_id"] for r in rows})
        assert float({r["student"]: r for r in rows}["김철수"]["score"]) == 6
    assert ids[0] == ids[1] == ids[2]
    assert ids[0]["bob"] == "bob"
    with Gradebook(course.db_url, course_id="tiny-course") as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(cases.TINY)) == sorted(ids[0].values())
    connection = sqlite3.connect(course.db_path)
    assert connection.execute("SELECT id FROM course").fetchall() == [("tiny-course",)]  # no spurious default_course
    connection.close()
    assert f"{ids[0]['김철수']}: the grader's copy of 김철수/" in "\n".join(lines)
    # the student's own folder removed: the grader's copy is still 김철수 (same id, kept grade), not a new student
    shutil.rmtree(course.submitted / "김철수")
    forged = course.submitted / "student-0123456789" / cases.TINY  # a mark that does not match the folder's id
    forged.mkdir(parents=True)
    nbformat.write(blank, forged / f"{cases.TINY}.ipynb")
    (forged.parent / collect.COPY_MARK).write_text("bob")
    run = grade_class(course.submitted, course.root, settings=Settings(jobs=1, sandbox=SANDBOX, **SETTINGS),
                      log=lambda line: None)
    rows = {r["student"]: r for r in _csv_rows(run)}
    assert sorted(rows) == ["bob", "student-0123456789", "김철수"]
    assert rows["김철수"]["student_id"] == ids[0]["김철수"] and float(rows["김철수"]["score"]) == 6


# ---- a run killed half-way, and two runs at once ---------------------------------------------------------
FAULT_CASES = ("solution", "blank", "partial")


def _command(course, submissions):
    return [sys.executable, "-m", "autograder", "grade", str(submissions), "--course", str(course.root), "--jobs", "1",
            "--cell-timeout", "8", "--memory-mb", "1500"] + ([] if SANDBOX else ["--no-sandbox"])


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO))


def _state(course):
    """(CSV rows by student without the timing-free columns that differ by run, gradebook scores by student)."""
    rows = list(csv.DictReader((course.out / f"{cases.TINY}.csv").read_text(encoding="utf-8").splitlines()))
    names = [r["student"] for r in rows]
    assert len(names) == len(set(names)), names  # no row doubled
    connection = sqlite3.connect(course.db_path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        connection.close()
    with Gradebook(course.db_url, course_id="default_course") as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions(cases.TINY)}
    return {r["student"]: (r["status"], r["score"], r["quiz1"], r["quiz2"], r["quiz3"]) for r in rows}, scores


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory):
    """Two runs started at once on one course: one grades, the other refuses at once and changes nothing."""
    root = tmp_path_factory.mktemp("two-at-once")
    course, solution, chosen = _class(root, FAULT_CASES)
    runs = [subprocess.Popen(_command(course, root / "submitted-here"), cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [run.communicate(timeout=600)[0] for run in runs]
    return course, solution, chosen, runs, outs


def test_two_runs_at_once_one_grades_the_other_refuses(concurrent):
    course, solution, chosen, runs, outs = concurrent
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 2], outs
    refused = outs[[run.returncode for run in runs].index(2)]
    assert "another grading run is working on" in refused and "process " in refused, refused
    rows, scores = _state(course)
    assert sorted(rows) == sorted(c.student for c in chosen)
    for case in chosen:
        assert float(rows[case.student][1]) == cases.expected_score(case, solution), case.student
        assert scores[case.student] == cases.expected_score(case, solution)


def test_a_run_killed_half_way_then_rerun_equals_an_uninterrupted_run(concurrent, tmp_path):
    uninterrupted = _state(concurrent[0])
    course, _, chosen = _class(tmp_path, FAULT_CASES)
    command = _command(course, tmp_path / "submitted-here")
    first = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = course.state_dir(cases.TINY) / "results"
    deadline = time.monotonic() + 600  # a loaded machine (the suite beside a training run) takes minutes
    while not (results.is_dir() and list(results.glob("*.json"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()  # SIGKILL: no handler runs; the fork server, jobs and kernels die with it (PR_SET_PDEATHSIG)
    first.wait()
    done_before = len(list(results.glob("*.json")))
    assert 1 <= done_before < len(chosen)
    for job in Path("/tmp").glob("ag-*/job.json"):  # what a SIGKILL leaves behind (README: Limits)
        if str(course.root) in job.read_text(errors="replace"):
            shutil.rmtree(job.parent, ignore_errors=True)
    second = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr  # the dead run's lock is gone with it
    assert f"{done_before} submission(s) already graded" in second.stdout
    assert _state(course) == uninterrupted
