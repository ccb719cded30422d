"""Find the class's submissions and bring each into nbgrader's ``submitted/<student>/<assignment>/``.

Two layouts are read:

* nbgrader's: ``DIR/<student>/<assignment>/<notebook>.ipynb`` (plus other files, ``timestamp.txt``);
* an LMS download: ``DIR/<student>.ipynb`` (the assignment is ``--assignment``, the course's only
  one, or the one whose grade cells the notebook carries).

Every file is read here first, so that an empty file, invalid JSON or something that is not a
notebook becomes a row with a reason instead of a crash later. A notebook under another name
than the assignment's is renamed when there is no doubt which one it is.
"""
import dataclasses
import hashlib
import json
import re
import shutil
from pathlib import Path

import nbformat

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")


@dataclasses.dataclass
class Submission:
    student: str
    assignment: str
    files: dict          # notebook name (without .ipynb) -> Path of the student's file
    extra: list          # other files of the submission (relative Paths under ``base``)
    base: Path = None    # the submission's folder (nbgrader layout) or None
    problem: str = ""    # why it cannot be graded ("" when it can)
    notes: list = dataclasses.field(default_factory=list)
    digest: str = ""     # sha256 of everything submitted (resume key)


def student_id(name):
    cleaned = _UNSAFE.sub("_", name).strip("._")
    return cleaned or "unnamed"


def read_notebook(path):
    """``(notebook, "")`` or ``(None, reason)`` for an unreadable file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        return None, f"could not be read ({error.strerror})"
    if not raw.strip():
        return None, f"{path.name} is empty"
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, f"{path.name} is not text (not a notebook)"
    except json.JSONDecodeError as error:
        return None, f"{path.name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, f"{path.name} is JSON but not a Jupyter notebook (no cells)"
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as error:
        return None, f"{path.name} is not a notebook nbformat can read ({error})"
    return nb, ""


def grade_ids(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}


def _digest(paths):
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def find(directory, course, assignment=None):
    """All submissions in ``directory`` (either layout), one per (student, assignment)."""
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise FileNotFoundError(f"no such folder: {directory}")
    known = course.assignments()
    if assignment and assignment not in known:
        raise ValueError(f"assignment {assignment!r} is not in {course.source} (found: {', '.join(known) or 'none'})")
    entries = sorted(directory.iterdir())
    flat = [p for p in entries if p.suffix == ".ipynb" and (p.is_file() or p.is_symlink())]
    nested = [p for p in entries if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    found = [_from_flat(p, course, known, assignment) for p in flat]
    for student_dir in nested:
        folders = sorted(p for p in student_dir.iterdir()
                         if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
        matched = [p for p in folders if p.name in known and (not assignment or p.name == assignment)]
        for adir in matched:
            found.append(_from_nbgrader(student_dir.name, adir, course))
        strays = [p for p in folders if p.name not in known and any(p.glob("*.ipynb"))]
        if not matched and strays:  # a misnamed assignment folder still gets a row
            found.append(_stray_folder(student_dir.name, strays, course, known, assignment))
    return _dedupe(found)


def _stray_folder(student, folders, course, known, assignment):
    """``<student>/<folder>/`` where no folder is an assignment: the notebooks' grade cells decide."""
    for folder in folders:
        for path in sorted(p for p in folder.glob("*.ipynb") if not p.is_symlink()):
            nb, _ = read_notebook(path)
            match = _best_match(nb, [assignment] if assignment else known, course) if nb else None
            if match:
                sub = _from_nbgrader(student, folder, course, match[0])
                sub.notes.append(f"folder {folder.name!r} graded as {match[0]}")
                return sub
    names = ", ".join(repr(f.name) for f in folders)
    sub = Submission(student_id(student), assignment or "unknown", {}, [], None,
                     problem=f"no folder named after an assignment (found {names}) and no notebook with its grade cells")
    sub.digest = _digest([p for f in folders for p in f.glob("*.ipynb")])
    return sub


def _signatures(course, known):
    """grade ids per (assignment, notebook), read from the source notebooks."""
    table = {}
    for a in known:
        for name in course.notebooks(a):
            nb, _ = read_notebook(course.source / a / f"{name}.ipynb")
            table[(a, name)] = grade_ids(nb) if nb else set()
    return table


def _best_match(nb, candidates, course):
    ids = grade_ids(nb)
    scores = {key: len(ids & sig) for key, sig in _signatures(course, candidates).items()}
    best = max(scores.values(), default=0)
    winners = [key for key, score in scores.items() if score == best and best > 0]
    return winners[0] if len(winners) == 1 else None


def _from_flat(path, course, known, assignment):
    student = student_id(path.stem)
    nb, problem = read_notebook(path)
    if path.is_symlink():  # it could point at another student's file or at the grader's secrets
        nb, problem = None, f"{path.name} is a symbolic link, not a file: not graded"
    sub = Submission(student, assignment or (known[0] if len(known) == 1 else ""), {}, [], None)
    sub.digest = _digest([path]) if not path.is_symlink() else hashlib.sha256(str(path).encode()).hexdigest()[:16]
    if problem:
        sub.problem = problem
        sub.assignment = sub.assignment or "unknown"
        return sub
    match = _best_match(nb, [assignment] if assignment else known, course)
    if match is None:
        notebooks = course.notebooks(sub.assignment) if sub.assignment else []
        if len(notebooks) == 1:
            match = (sub.assignment, notebooks[0])
        else:
            sub.assignment = sub.assignment or "unknown"
            sub.problem = (f"{path.name}: could not tell which assignment/notebook it is (no known grade cells); "
                           "pass --assignment")
            return sub
    sub.assignment, name = match
    sub.files[name] = path
    if path.stem != name:
        sub.notes.append(f"graded {path.name} as {name}.ipynb")
    return sub


def _from_nbgrader(student, adir, course, assignment=None):
    assignment = assignment or adir.name
    sub = Submission(student_id(student), assignment, {}, [], adir)
    if sub.student != student:
        sub.notes.append(f"student id {student!r} written as {sub.student!r}")
    expected = course.notebooks(assignment)
    links = sorted(p for p in adir.rglob("*") if p.is_symlink())
    if links:
        sub.notes.append("ignored symbolic links: " + ", ".join(str(p.relative_to(adir)) for p in links[:5]))
    notebooks = sorted(p for p in adir.glob("*.ipynb") if p.is_file() and not _under_link(p, adir))
    sub.extra = sorted(p.relative_to(adir) for p in adir.rglob("*") if p.is_file() and not _under_link(p, adir)
                       and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts)
    sub.digest = _digest(notebooks + [adir / e for e in sub.extra])
    unread = []
    for path in notebooks:
        if path.stem in expected:
            sub.files[path.stem] = path
    strays = [p for p in notebooks if p.stem not in expected]
    for path in strays:
        nb, problem = read_notebook(path)
        if problem:
            unread.append(problem)
            continue
        missing = [n for n in expected if n not in sub.files]
        match = _best_match(nb, [assignment], course)
        name = match[1] if match else (missing[0] if len(missing) == 1 and len(strays) == 1 else None)
        if name and name not in sub.files:
            sub.files[name] = path
            sub.notes.append(f"graded {path.name} as {name}.ipynb")
        else:
            sub.notes.append(f"ignored {path.name} (not a notebook of {assignment})")
    for name, path in sub.files.items():
        _, problem = read_notebook(path)
        if problem:
            unread.append(problem)
    if unread and len(unread) >= len(expected):
        sub.problem = "; ".join(unread)
    elif unread:
        sub.notes += unread
    if not sub.files and not sub.problem:
        sub.problem = f"no notebook of {assignment} found (expected {', '.join(n + '.ipynb' for n in expected)})"
    return sub


def _under_link(path, top):
    """True if ``path`` or a folder between ``top`` and it is a symbolic link (never followed)."""
    while path != top:
        if path.is_symlink():
            return True
        path = path.parent
    return False


def _dedupe(found):
    seen, result = {}, []
    for sub in found:
        key = (sub.student, sub.assignment)
        if key in seen:
            seen[key].notes.append(f"a second submission for {sub.student} was ignored")
            continue
        seen[key] = sub
        result.append(sub)
    return sorted(result, key=lambda s: (s.assignment, s.student))


def install(sub, course):
    """Copy a readable submission into the course's ``submitted/<student>/<assignment>/``."""
    dest = course.submitted / sub.student / sub.assignment
    if sub.base is not None and sub.base.resolve() == dest.resolve():
        return dest  # graded in place: the student's files are never changed (each job renames in its copy)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel in sub.extra:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(sub.base / rel, dest / rel)
    for name, path in sub.files.items():
        shutil.copy2(path, dest / f"{name}.ipynb")
    return dest
