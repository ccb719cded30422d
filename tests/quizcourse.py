"""Helpers for the quiz tests: a throw-away nbgrader course made from source/, submissions built from
the release notebooks, and nbgrader run as the course's own Python (no network: see conftest.py)."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ("quiz_cosine", "quiz_topk", "quiz_search", "quiz_guess", "quiz_retrieval")
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
#: Points of each quiz = the sum over its test cells ("quiz7_3_test" belongs to quiz 7).
QUIZ_POINTS = {1: 4, 2: 3, 3: 2, 4: 3, 5: 2, 6: 3, 7: 5, 8: 10}
QUIZZES_OF = {"quiz_cosine": (1,), "quiz_topk": (2,), "quiz_search": (3, 4, 5, 6), "quiz_guess": (7,), "quiz_retrieval": (8,)}


def notebook_path(folder, assignment, language="ko"):
    """``folder/<quiz>/<quiz>.ipynb``, or the English edition's ``folder/<quiz>/en/<quiz>.ipynb``."""
    return Path(folder) / assignment / ("en" if language == "en" else "") / f"{assignment}.ipynb"


def read(path):
    return nbformat.read(str(path), as_version=4)


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def quiz_of(test_id):
    return int(re.match(r"quiz(\d)", test_id).group(1))


def run_nbgrader(args, root, env_extra=None, timeout=1800):
    """``nbgrader <args>`` for the course at ``root``; returns the CompletedProcess (output as text)."""
    env = dict(os.environ)
    # nbgrader calls `alembic` when it creates a gradebook: it must find the venv's scripts.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def make_course(dest, assignments=ASSIGNMENTS, generate=True):
    """A copy of the course (source/ and nbgrader_config.py) at ``dest``, with the release generated."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(ROOT / "source" / assignment, dest / "source" / assignment)
        if generate:
            done = run_nbgrader(["generate_assignment", assignment, "--force"], dest)
            assert done.returncode == 0, f"generate_assignment {assignment} failed:\n{done.stdout}\n{done.stderr}"
            done = run_nbgrader(english_release_args(assignment), dest)
            assert done.returncode == 0, f"the English edition of {assignment} failed:\n{done.stdout}\n{done.stderr}"
    return dest


def english_release_args(assignment):
    """nbgrader's arguments that make release/<quiz>/en/ from source/<quiz>/en/, as `make release` does."""
    return ["generate_assignment", "en", f"--CourseDirectory.source_directory=source/{assignment}",
            f"--CourseDirectory.release_directory=release/{assignment}", "--no-db", "--force"]


def solution_regions(assignment):
    """{answer cell grade_id: the code between BEGIN/END SOLUTION, dedented} of a source notebook."""
    return solution_regions_of(read(notebook_path(ROOT / "source", assignment)))


def solution_regions_of(nb, assignment=None):
    """solution_regions of the source notebook ``nb`` (either edition)."""
    regions = {}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            match = re.search(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION\n", cell.source, re.S | re.M)
            regions[grade_id(cell)] = textwrap.dedent(match.group(1))
    return regions


def submission(assignment, answers, release_dir=ROOT / "release", language="ko"):
    """The release notebook (``language="en"``: the English edition's) with answer cells filled: ``answers`` maps
    grade_id to code written in place of the stub (indented like it), or to "SOLUTION" for the source's solution."""
    solutions = solution_regions(assignment)
    nb = read(notebook_path(release_dir, assignment, language))
    for cell in nb.cells:
        code = answers.get(grade_id(cell))
        if code is None:
            continue
        code = solutions[grade_id(cell)] if code == "SOLUTION" else textwrap.dedent(code)
        match = re.search(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)", cell.source, re.M)
        assert match, f"no stub in {assignment}:{grade_id(cell)}"
        indented = textwrap.indent(code.rstrip("\n"), match.group(1))
        cell.source = cell.source[:match.start()] + indented + cell.source[match.end():]
    return nb


def solution_answers(assignment):
    return {cell_id: "SOLUTION" for cell_id in solution_regions(assignment)}


def submit(root, student, assignment, nb):
    folder = Path(root) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{assignment}.ipynb"))


def scores_by_quiz(root, assignment, student):
    """{quiz number: points} from the course's gradebook after autograding."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(root) / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(assignment, assignment, student)
        points = {}
        for grade in notebook.grades:
            quiz = quiz_of(grade.name)
            points[quiz] = points.get(quiz, 0) + (grade.score or 0)
    return points


def nb_json(path):
    """A notebook as plain data, for comparing two generated copies."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


_REACH = {}


def unreachable(quiz, cache):
    """Why the reference answer of ``quiz`` ("quiz 2" or "quiz 7") misses a target under the test model,
    or "" when it reaches them all (clipcourse.check_quizzes, the instructors' check, decides)."""
    from clipcourse import check_quizzes
    from clipcourse.models import choose_model

    name = choose_model(verbose=False)
    if name not in _REACH:
        before = os.environ.get("CLIP_COURSE_CACHE")
        os.environ["CLIP_COURSE_CACHE"] = str(cache)
        try:
            _REACH[name] = check_quizzes.check(name)[0]
        finally:
            if before is None:
                os.environ.pop("CLIP_COURSE_CACHE")
            else:
                os.environ["CLIP_COURSE_CACHE"] = before
    missed = [f"{target}: {text!r} gives {detail}" for q, target, text, reached, _, detail in _REACH[name]
              if q == quiz and not reached]
    return (f"{quiz}'s reference answer does not reach its target under {name} (make check-quizzes): "
            + "; ".join(missed)) if missed else ""
