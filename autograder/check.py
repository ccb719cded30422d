"""A self-study learner's check: one notebook graded with the real hidden tests, by the course's own grader.

    python -m autograder check release/quiz_cosine/quiz_cosine.ipynb      # or: make check-quiz NOTEBOOK=...

The notebook goes through ``grade.grade_class`` exactly as a class's submission does (the instructor's path),
in a course folder of its own under ``build/check-quiz/`` that links this repository's sources, so the
instructor's gradebook is never touched. It prints each test cell's points and the verdict the instructor's
feedback would show, word for word, and where that feedback page is. The learner's own notebook is graded
without the sandbox unless this machine provides one (it needs root): the code is the learner's own.
"""
from pathlib import Path

import nbformat

from .course import Course, CourseError, Settings
from .samples import course_copy

STUDENT = "me"


def assignment_of(notebook, course):
    """The quiz a notebook answers: its folder's name (``release/quiz_cosine/``) or its own name, when that is
    one of the course's assignments."""
    known = course.assignments()
    for name in (notebook.parent.name, notebook.stem):
        if name in known:
            return name
    raise CourseError(f"{notebook} is not one of the quiz notebooks ({', '.join(known)}): keep the file name "
                      "release/<quiz>/<quiz>.ipynb gives it, or pass --assignment")


def check(notebook, root=".", assignment=None, out=None, sandbox=None, log=print):
    """Grade ``notebook``; print its verdicts; return the grader's result for it. ``sandbox=None``: boxed
    when this machine can box a kernel (as the demo decides)."""
    from .grade import grade_class, sandbox_works

    notebook = Path(notebook)
    if not notebook.is_file():
        raise CourseError(f"{notebook}: no such notebook")
    root = Path(root).resolve()
    out = Path(out) if out else root / "build" / "check-quiz"
    course = Course(course_copy(root, out / "course"))
    assignment = assignment or assignment_of(notebook, course)
    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except Exception as error:  # the grader says the same, later and longer
        raise CourseError(f"{notebook} cannot be read as a notebook ({type(error).__name__}: {error}); "
                          "save it again from Jupyter") from error
    submitted = out / "submitted" / STUDENT / assignment / f"{assignment}.ipynb"
    submitted.parent.mkdir(parents=True, exist_ok=True)
    for old in submitted.parent.glob("*.ipynb"):
        old.unlink()
    nbformat.write(nb, str(submitted))
    if sandbox is None:
        sandbox = sandbox_works()
    log(f"grading {notebook} as {assignment} with the course's hidden tests (about a minute; more the first time)")
    run = grade_class(out / "submitted", course.root, assignment, Settings(jobs=1, sandbox=sandbox, force=True),
                      log=lambda *args, **kwargs: None)
    result = next(r for r in run.results if r["assignment"] == assignment)
    for line in verdict_lines(result, course):
        log(line)
    return result


def verdict_lines(result, course):
    """The learner's report: total, then each test cell with its points and, when it failed, the whole verdict."""
    grades = result.get("grades", [])
    score = sum(float(g["auto_score"] or 0) for g in grades)
    total = sum(float(g["max_score"] or 0) for g in grades)
    lines = [f"{result['assignment']}: {score:g} / {total:g} points ({result['status']})"]
    if result.get("reason"):
        lines.append(f"  {result['reason']}")
    verdicts = result.get("verdicts") or {}
    for g in grades:
        if g.get("test") is False:  # an answer cell with points of its own: nothing to say about it here
            continue
        got, points = float(g["auto_score"] or 0), float(g["max_score"] or 0)
        found = verdicts.get(g["grade_id"], {})
        mark = "✔" if got == points and points else "✘"
        lines.append(f"{mark} {g['grade_id']}: {got:g} / {points:g}")
        if got < points:
            why = found.get("reason") or "not run (see the lines above and the feedback page)"
            lines += [f"    {line}" for line in why.splitlines()]
    for note in result.get("notes", []) + result.get("flags", []):
        lines.append(f"  note: {note}")
    page = course.feedback / STUDENT / result["assignment"]
    pages = sorted(page.glob("*.html"))
    if pages:
        lines.append(f"feedback page (what an instructor would hand back): {pages[0]}")
    return lines
