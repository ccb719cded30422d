"""Write one job's result into the class gradebook (only the main process writes it, one at a time)."""
import os
import sqlite3
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry


def snapshot(db_path, dest):
    """A consistent copy of the SQLite gradebook at ``dest`` (SQLite's backup API, so a write by the formgrader
    at that moment is either in it or not, never half), put in place with a rename."""
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(tmp)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    os.replace(tmp, dest)


def merge(db_url, result, course_id="default_course"):
    """Create or update the student's submission and its grades; never duplicates (update by key).

    A submission that could not be read or run gets every grade at 0 with no manual grading
    pending, the way nbgrader scores a missing notebook, so the student still has a row.
    A grading *error* (our tool failed) writes nothing: the next run retries it.
    """
    if result["status"] == "error":
        return  # nothing graded: the next run tries again
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notices from nbgrader's API
        _merge(db_url, result, course_id)


def _merge(db_url, result, course_id):
    student, assignment = result["student"], result["assignment"]
    with Gradebook(db_url, course_id=course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            return  # "unknown" assignment: the CSV row is all there is
        name = result.get("name") or student
        gb.update_or_create_student(student, **({"last_name": name} if name != student else {}))
        timestamp = result.get("timestamp")
        submission = gb.update_or_create_submission(assignment, student, **({"timestamp": timestamp} if timestamp else {}))
        scores = {(g["notebook"], g["grade_id"]): g for g in result["grades"]}
        comments = {(c["notebook"], c["grade_id"]): c["auto_comment"] for c in result.get("comments", [])}
        penalties = result.get("penalties", {})
        for notebook in submission.notebooks:
            notebook.late_submission_penalty = penalties.get(notebook.name)
            for grade in notebook.grades:
                got = scores.get((notebook.name, grade.name))
                if got is None:
                    grade.auto_score, grade.needs_manual_grade = 0.0, False
                else:
                    grade.auto_score, grade.needs_manual_grade = got["auto_score"], got["needs_manual_grade"]
            for comment in notebook.comments:
                if (notebook.name, comment.name) in comments:
                    comment.auto_comment = comments[(notebook.name, comment.name)]
        gb.db.commit()
