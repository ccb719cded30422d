"""The class's records stay whole: one row and one id per student however often a folder is graded, one
run at a time per course, and a run killed half-way (or two started at once) loses or doubles nothing.

On the tiny numpy-only course of autograder_cases (no model), as test_autograder_class.py.
"""
import csv
import shutil

import nbformat

from autograder import collect
from autograder.course import Course, Settings
from autograder.grade import grade_class
from autograder.samples import released
from nbgrader.api import Gradebook

import autograder_cases as cases
from test_autograder_class import SANDBOX, SETTINGS


def _course(root):
    course = Course(cases.tiny_course(root / "course"))
    solution = nbformat.read(course.source / cases.TINY / f"{cases.TINY}.ipynb", as_version=4)
    blank = released(course, cases.TINY)[cases.TINY]
    return course, solution, blank


def _csv_rows(run):
    return list(csv.DictReader(run.outputs[cases.TINY]["csv"].read_text(encoding="utf-8").splitlines()))


def test_the_courses_own_submitted_folder_graded_three_times_keeps_one_row_per_student(tmp_path):
    course, solution, blank = _course(tmp_path)
    for name, nb in (("김철수", solution), ("bob", blank)):
        folder = course.submitted / name / cases.TINY
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{cases.TINY}.ipynb")
    ids = []
    for _ in range(3):
        lines = []
        run = grade_class(course.submitted, course.root, settings=Settings(jobs=1, sandbox=SANDBOX, **SETTINGS),
                          log=lines.append)
        rows = _csv_rows(run)
        assert sorted(r["student"] for r in rows) == ["bob", "김철수"], "\n".join(lines)
        ids.append({r["student"]: r["student_id"] for r in rows})
        assert float({r["student"]: r for r in rows}["김철수"]["score"]) == 6
    assert ids[0] == ids[1] == ids[2]
    assert ids[0]["bob"] == "bob"
    with Gradebook(course.db_url, course_id="default_course") as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(cases.TINY)) == sorted(ids[0].values())
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
