"""Sample submissions and the README demo's class.

The samples are generated from ``source/`` each time (never committed), so they always match the
quizzes: ``sample-solution`` is the source notebook (its hidden tests are put back from the
gradebook anyway), ``sample-blank`` the student version as nbgrader releases it, and
``sample-partial`` the solution with the second half of the answer cells left as released.

    python -m autograder demo        # or demo() from Python (clipcourse/demo.py may call it)

builds ``build/demo-class/`` (its own course folder, linking the repository's source, config and
helper package, so the instructor's gradebook is never touched), grades the samples of every
assignment and prints the class tables.
"""
import shutil
import tempfile
from pathlib import Path

import nbformat

from .course import Course, Settings

LINKED = ("nbgrader_config.py", "source", "clipcourse", "data", "model")


def course_copy(root, dest):
    """A separate nbgrader course in ``dest`` that links ``root``'s configuration and sources.

    nbgrader_config.py sets the course root to its own folder, so the link makes ``dest`` the root:
    its gradebook, submitted/, autograded/ and feedback/ live in ``dest``.
    """
    root, dest = Path(root).resolve(), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = dest / name
        if (root / name).exists() and not link.exists():
            link.symlink_to(root / name)
    return dest


def released(course, assignment):
    """{notebook name: student version} as ``nbgrader generate_assignment`` makes it (no gradebook)."""
    with tempfile.TemporaryDirectory(prefix="ag-release-") as tmp:
        course.generate_assignment(assignment, tmp, "--no-db")
        return {p.stem: nbformat.read(p, as_version=4) for p in sorted(Path(tmp, assignment).glob("*.ipynb"))}


def _answer_ids(nb):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]


def partial(solution, blank):
    """The solution with the second half of its answer cells (at least one) as released."""
    ids = _answer_ids(solution)
    keep = set(ids[: len(ids) // 2])
    blank_cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in blank.cells}
    nb = nbformat.from_dict(solution)
    for i, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in ids and gid not in keep and gid in blank_cells:
            nb.cells[i] = nbformat.from_dict(blank_cells[gid])
    return nb


def write_samples(course, dest, assignments=None):
    """``dest/<student>/<assignment>/<notebook>.ipynb`` for the three sample students."""
    dest = Path(dest)
    for assignment in assignments or course.assignments():
        blanks = released(course, assignment)
        for name, blank in blanks.items():
            solution = nbformat.read(course.source / assignment / f"{name}.ipynb", as_version=4)
            samples = [("sample-solution", solution), ("sample-blank", blank)]
            if len(_answer_ids(solution)) > 1:  # with one answer cell, "partial" would be the blank one
                samples.append(("sample-partial", partial(solution, blank)))
            for student, nb in samples:
                path = dest / student / assignment / f"{name}.ipynb"
                path.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, path)
    return dest


def demo(root=".", assignments=None, jobs=0, sandbox=None, out=None, log=print):
    """Grade the samples of ``assignments`` (default: all) in a separate demo course; returns the ClassRun.

    ``sandbox=None`` boxes the kernels when this machine can (root, Linux) and says so when it cannot.
    """
    from .grade import grade_class, sandbox_works

    root = Path(root).resolve()
    out = Path(out) if out else root / "build" / "demo-class"
    if out.exists():
        shutil.rmtree(out)
    if sandbox is None:
        sandbox = sandbox_works()
        if not sandbox:
            log("demo: the grading sandbox needs root on Linux; grading the samples without it")
    course = Course(course_copy(root, out / "course"))
    submissions = write_samples(course, out / "samples", assignments)
    log(f"demo: grading the sample submissions in {submissions} (course folder {course.root})")
    settings = Settings(jobs=jobs, sandbox=sandbox)  # 0: grade_class's default (cores, RAM permitting)
    return grade_class(submissions, course.root, settings=settings, log=log)
