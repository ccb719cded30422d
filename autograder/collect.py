"""Find the class's submissions and bring each into nbgrader's ``submitted/<student>/<assignment>/``.

Two layouts are read: nbgrader's, ``DIR/<student>/<assignment>/<notebook>.ipynb`` (plus other files,
``timestamp.txt``), and an LMS download, ``DIR/<student>.ipynb`` (the assignment is ``--assignment``, the course's only
one, or the one whose grade cells the notebook carries). Every file is read here first (``read_notebook``, where a
submission's text enters the grader), so an unreadable one becomes a row with a reason, not a crash or an hour of
grading later; misnamed notebooks, two notebooks for one quiz and one student in both layouts are settled here
(autograder/README.md, *How it works*). Student names are kept exactly as submitted (the CSV's ``student``);
nbgrader gets a safe, unique ``student_id``, and the copy made under it in the course's own ``submitted/`` is marked
(``COPY_MARK``), so grading that folder again never counts it as another student. Every entry of the folder becomes
a row or a line in ``Found.skipped``; FIFOs, devices and sockets are never opened.
"""
import dataclasses
import hashlib
import json
import os
import re
import shutil
import stat
import unicodedata
from pathlib import Path

import nbformat

from . import repair
from .course import write_bytes

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")
#: What file managers, archives and Jupyter leave next to submissions: skipped with a line, never a row.
SYSTEM_ENTRIES = {".ipynb_checkpoints", ".DS_Store", "__MACOSX", ".git", "Thumbs.db", "desktop.ini", ".Trash"}
#: A quiz notebook is well under 1 MB with its outputs; a bigger one is refused before it is read (a
#: 250 MB markdown cell once kept a grading job busy for 450 s at 1 GB).
MAX_NOTEBOOK_MB = 50
#: Reading a notebook (nbformat's schema check) takes time per cell and output, not per byte: 200 000 empty
#: cells (21 MB) took 40 s per read. A quiz has about 50 cells; past these a notebook is refused (cells) or its
#: extra outputs, which are never graded, are left out, so one read stays near a second.
MAX_CELLS = 1000
MAX_OUTPUTS = 5000
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")
#: The submission's other files (data next to the notebook) go into the kernel's working folder, a 512 MB
#: tmpfs (course.sandbox_spec): what cannot fit there is left out here, smallest files kept first, instead of
#: being hashed and copied twice and then cut off part-way (a 2 GB file reached the kernel as its first 512 MB).
MAX_EXTRA_MB = 448
#: ``submitted/<student_id>/COPY_MARK`` holds the exact name (UTF-8) of the student whose submission ``install``
#: copied there: a folder whose name is that name's id is the grader's copy, not a student of its own.
COPY_MARK = ".autograder-name"


@dataclasses.dataclass
class Submission:
    student: str         # nbgrader's id (folder name, gradebook key): see student_id
    assignment: str
    files: dict          # notebook name (without .ipynb) -> Path of the student's file
    extra: list          # other files of the submission (relative Paths under ``base``)
    base: Path = None    # the submission's folder (nbgrader layout) or None
    problem: str = ""    # why it cannot be graded ("" when it can)
    notes: list = dataclasses.field(default_factory=list)
    digest: str = ""     # sha256 of everything submitted (resume key)
    name: str = ""       # the student's name exactly as submitted (the CSV's student column)
    flags: list = dataclasses.field(default_factory=list)  # for a human to check (the CSV's flags column)
    raw: str = ""        # the name as the folder or file carries it (undecodable bytes as surrogates)


class Found(list):
    """The submissions, plus ``skipped``: (entry, why) for everything in the folder that is not one."""

    def __init__(self, items=(), skipped=()):
        super().__init__(items)
        self.skipped = list(skipped)


def is_notebook_name(name):
    return name.lower().endswith(".ipynb") and len(name) > len(".ipynb")


def _stem(name):
    """The notebook's name without ``.ipynb`` (in any case)."""
    return name[: -len(".ipynb")]


def display_name(name):
    """The name as text: bytes that are not UTF-8 (``surrogateescape``) are shown as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def student_id(name):
    """A safe, unique nbgrader id for a student name: the name itself when it is a plain short ASCII
    id, else an ASCII hint followed by a hash of the exact name (two different names never share one)."""
    if _SAFE.fullmatch(name):
        return name
    ascii_hint = unicodedata.normalize("NFKD", display_name(name)).encode("ascii", "ignore").decode()
    hint = _UNSAFE.sub("_", ascii_hint).strip("._-")[:40].rstrip("._-") or "student"
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{hint}-{digest[:10]}"


def _long_id(name):
    """The id of a name whose ``student_id`` another name already has (see ``_unique_ids``)."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{student_id(name).rsplit('-', 1)[0]}-{digest[:24]}"


def copy_of(folder):
    """The exact student name whose submission ``install`` copied into ``folder`` (a ``submitted/<id>/``), or
    None. The mark counts only when the folder's name is that name's id: a folder cannot claim another name."""
    try:
        with open(Path(folder) / COPY_MARK, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW | os.O_NONBLOCK)) as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            name = f.read(4096).decode("utf-8", "surrogateescape")
    except OSError:
        return None
    return name if name and Path(folder).name in (student_id(name), _long_id(display_name(name))) else None


def _kind(path):
    """'file', 'dir', 'link' or what else it is (a FIFO, a device …), from lstat: nothing is opened."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return {stat.S_IFIFO: "FIFO", stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
            stat.S_IFSOCK: "socket"}.get(stat.S_IFMT(mode), "special file")


def read_notebook(path, notes=None):
    """``(notebook, "")`` or ``(None, reason)`` for an unreadable file (never opens a non-regular file).

    This is where a submission's text enters the grader: lone surrogates (``\\ud800``, which UTF-8 cannot
    write) are replaced by U+FFFD everywhere in the notebook, so no report, CSV or page written from it can
    fail on one; ``notes``, when given a list, gets one line per cell that held some (repair.replace_surrogates)."""
    path = Path(path)
    kind, label = _kind(path), display_name(path.name)
    if kind == "link":
        return None, f"{label} is a symbolic link, not a file: not graded"
    if kind != "file":
        return None, f"{label} is not a regular file ({kind}): not opened"
    try:
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW | os.O_NONBLOCK)) as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_NOTEBOOK_MB * 2 ** 20:
                return None, (f"{label} is {size / 2 ** 20:.0f} MB, more than the {MAX_NOTEBOOK_MB} MB a notebook may "
                              "have (not read): ask the student to clear all outputs (Edit > Clear Outputs of All "
                              "Cells), remove any pasted data, save and submit again")
            raw = f.read()
    except OSError as error:
        return None, f"{label} could not be read ({error.strerror})"
    if not raw.strip():
        return None, f"{label} is empty"
    if raw[:4] == b"PK\x03\x04":
        return None, f"{label} is a zip archive, not a notebook: ask the student for the .ipynb file inside it"
    # Jupyter writes UTF-8; some Windows editors save a notebook again as UTF-16 with a byte-order mark
    codec = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = raw.decode(codec)
        data = json.loads(text)
    except UnicodeDecodeError:
        return None, (f"{label} is not text (not a notebook): ask the student to submit the .ipynb file "
                      "as Jupyter saved it")
    except json.JSONDecodeError as error:
        return None, f"{label} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
    except RecursionError:
        return None, f"{label} is JSON nested too deeply to be a notebook"
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        return None, f"{label} is JSON but not a Jupyter notebook (no cells)"
    cells = [c for w in data.get("worksheets") or [] if isinstance(w, dict) for c in w.get("cells") or []] \
        if not isinstance(data.get("cells"), list) else data["cells"]
    if len(cells) > MAX_CELLS:
        return None, (f"{label} has {len(cells)} cells, more than the {MAX_CELLS} a notebook may have (not graded): "
                      "ask the student to submit the quiz notebook as released, with their answers in its cells")
    fixed = _drop_outputs_past(cells, MAX_OUTPUTS)
    try:  # a lone surrogate can only come from a JSON escape (\ud800): the decoders refuse one in the bytes
        if _ESCAPED_SURROGATE.search(text):
            fixed += repair.replace_surrogates(data)
            for key in [k for k in data if k not in ("cells", "metadata")]:  # a version 3 notebook's worksheets, …
                data[key] = repair.without_surrogates(data[key])
    except RecursionError:
        return None, f"{label} is JSON nested too deeply to be a notebook"
    if notes is not None:
        notes += fixed
    if isinstance(data.get("cells"), list):  # "metadata" is left out by some hand-made or converted files
        for item in [data] + data["cells"]:
            if isinstance(item, dict) and item.get("metadata", None) is None:
                item["metadata"] = {}
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as error:
        return None, f"{label} is not a notebook nbformat can read ({error})"
    return nb, ""


def _drop_outputs_past(cells, limit):
    """Keep the first ``limit`` outputs of the notebook (in cell order) and leave out the rest, which nobody
    grades (the notebook runs again) and which would make reading it slow; returns a note when some were."""
    kept = dropped = 0
    for cell in cells:
        outputs = cell.get("outputs") if isinstance(cell, dict) else None
        if isinstance(outputs, list):
            room = max(limit - kept, 0)
            dropped += max(len(outputs) - room, 0)
            cell["outputs"] = outputs[:room]
            kept += len(cell["outputs"])
    return [f"the notebook held {kept + dropped} outputs: the {dropped} past the first {limit} were left out "
            "(outputs are not graded: the notebook runs again)"] if dropped else []


def grade_ids(nb):
    ids = set()
    for c in nb.cells:
        meta = c.metadata.get("nbgrader")
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return ids


def _digest(paths):
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(os.fsencode(Path(p).name))
        if _kind(p) == "file":
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(2 ** 20), b""):
                    h.update(chunk)
        else:
            h.update(_kind(p).encode())
    return h.hexdigest()[:16]


def _entries(folder):
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _regular_tree(top):
    """(regular files, symbolic links, other special files) under ``top``; links are never followed."""
    files, links, special = [], [], []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            kind = _kind(path)
            if kind == "link":
                links.append(path)
            elif kind == "file":
                files.append(path)
            elif kind != "dir":
                special.append((path, kind))
    return sorted(files), sorted(links), sorted(special)


def find(directory, course, assignment=None):
    """All submissions in ``directory`` (either layout), one per (student name, assignment), and a line
    for every entry that is not graded (``Found.skipped``)."""
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise FileNotFoundError(f"no such folder: {directory}")
    known = course.assignments()
    if assignment and assignment not in known:
        raise ValueError(f"assignment {assignment!r} is not in {course.source} (found: {', '.join(known) or 'none'})")
    found, skipped = [], []
    entries = _entries(directory)
    names = {entry.name for entry in entries}
    for entry in entries:
        name, kind = entry.name, _kind(entry)
        label = display_name(name)
        original = copy_of(entry) if kind == "dir" else None
        if original is not None and original in names:
            skipped.append((label, f"the grader's copy of {display_name(original)}/ (nbgrader's id for that name): "
                            "graded as that student"))
        elif original is not None:  # the student's own folder is gone: the copy is still that student, not another
            subs, lines = _from_student_dir(entry, course, known, assignment, name=original)
            found += subs
            skipped += lines
        elif name in SYSTEM_ENTRIES:
            skipped.append((label, "a system file or folder, not a submission"))
        elif is_notebook_name(name) and kind != "dir":
            found.append(_from_flat(entry, course, known, assignment))
        elif kind == "link":
            skipped.append((label, "a symbolic link: never followed"))
        elif kind == "dir":
            subs, lines = _from_student_dir(entry, course, known, assignment)
            found += subs
            skipped += lines
        elif kind == "file":
            skipped.append((label, "not a notebook (.ipynb) and not a student folder"))
        else:
            skipped.append((label, f"not a regular file ({kind}): not opened"))
    return Found(_unique_ids(_look_alike(_dedupe(found))), skipped)


def _from_student_dir(student_dir, course, known, assignment, name=None):
    student = name or student_dir.name
    folders, loose = [], []
    for p in _entries(student_dir):
        kind = _kind(p)
        if kind == "dir" and p.name not in SYSTEM_ENTRIES:
            folders.append(p)
        elif is_notebook_name(p.name) and kind == "file":
            loose.append(p)
    matched = [p for p in folders if p.name in known and (not assignment or p.name == assignment)]
    subs = [_from_nbgrader(student, adir, course, folder_id=student_dir.name) for adir in matched]
    label = display_name(student)
    lines = [(f"{label}/{display_name(p.name)}", f"another assignment (graded: {assignment})")
             for p in folders if p.name in known and p not in matched]
    strays = [p for p in folders if p.name not in known and _notebooks_in(p)]
    if not matched and (strays or loose):  # a misnamed assignment folder (or none) still gets a row
        subs.append(_stray_folder(student_dir, strays + ([student_dir] if loose else []), course, known, assignment))
    elif not subs and not lines:
        lines.append((label, "a folder with no assignment folder and no notebook inside"))
    return subs, lines


def _notebooks_in(folder):
    return [p for p in _entries(folder) if is_notebook_name(p.name) and _kind(p) == "file"]


def _stray_folder(student_dir, folders, course, known, assignment):
    """``<student>/<folder>/`` where no folder is an assignment: the notebooks' grade cells decide."""
    student = student_dir.name
    for folder in folders:
        for path in _notebooks_in(folder):
            nb, _ = read_notebook(path)
            match = _best_match(nb, [assignment] if assignment else known, course) if nb else None
            if match:
                sub = _from_nbgrader(student, folder, course, match[0], shallow=folder == student_dir,
                                     folder_id=student_dir.name)
                where = "the student's folder itself" if folder == student_dir else f"folder {display_name(folder.name)!r}"
                sub.notes.append(f"{where} graded as {match[0]}")
                return sub
    names = ", ".join(repr(display_name(f.name)) for f in folders)
    sub = Submission(student_id(student), assignment or "unknown", {}, [], None, name=display_name(student), raw=student,
                     problem=f"no folder named after an assignment (found {names}) and no notebook with its grade cells")
    sub.digest = _digest([p for f in folders for p in _notebooks_in(f)])
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
    name = _stem(path.name)
    sub = Submission(student_id(name), assignment or (known[0] if len(known) == 1 else ""), {}, [], None,
                     name=display_name(name), raw=name)
    nb, problem = read_notebook(path)
    sub.digest = _digest([path]) if _kind(path) == "file" else \
        hashlib.sha256(os.fsencode(path) + _kind(path).encode()).hexdigest()[:16]
    if problem:
        sub.problem = problem
        sub.assignment = sub.assignment or "unknown"
        return sub
    match = _best_match(nb, [assignment] if assignment else known, course)
    if match is None:
        notebooks = course.notebooks(sub.assignment) if sub.assignment else []
        if len(notebooks) == 1:
            match = (sub.assignment, notebooks[0])
            other = _other_assignment(nb, sub.assignment, known, course)
            if other:
                sub.notes.append(f"{display_name(path.name)} has the grade cells of {other}, not of {sub.assignment}: "
                                 f"graded as {sub.assignment} (is it the right notebook?)")
        else:
            sub.assignment = sub.assignment or "unknown"
            sub.problem = (f"{display_name(path.name)}: could not tell which assignment/notebook it is (no known "
                           "grade cells); pass --assignment")
            return sub
    sub.assignment, notebook = match
    sub.files[notebook] = path
    if name != notebook:
        sub.notes.append(f"graded {display_name(path.name)} as {notebook}.ipynb")
    return sub


def _from_nbgrader(student, adir, course, assignment=None, shallow=False, folder_id=None):
    assignment = assignment or adir.name
    # the grader's copy of a student whose own folder is gone keeps the id it is filed under (short or long form)
    own_id = folder_id if folder_id and folder_id != student else None
    sub = Submission(own_id or student_id(student), assignment, {}, [], adir, name=display_name(student), raw=student)
    expected = course.notebooks(assignment)
    files, links, special = _regular_tree(adir)
    if shallow:  # notebooks lying in the student's own folder: only that folder's files
        files = [p for p in files if p.parent == adir]
        links = [p for p in links if p.parent == adir]
        special = [(p, k) for p, k in special if p.parent == adir]
    if links:
        sub.notes.append("ignored symbolic links: " + ", ".join(display_name(str(p.relative_to(adir))) for p in links[:5]))
    for path, kind in special[:5]:
        sub.notes.append(f"ignored {display_name(str(path.relative_to(adir)))}: not a regular file ({kind}), not opened")
    notebooks = [p for p in files if p.parent == adir and is_notebook_name(p.name)]
    # the English edition, fetched with the Korean one (release/<quiz>/en/<quiz>.ipynb): a candidate of its own name
    english = [p for p in files if p.parent == adir / "en" and p.name in {f"{n}.ipynb" for n in expected}]
    sub.extra = [p.relative_to(adir) for p in files
                 if not is_notebook_name(p.name) and ".ipynb_checkpoints" not in p.parts]
    sub.extra, left_out = _within_cap(adir, sub.extra)
    for rel, size in left_out[:5]:
        sub.notes.append(f"left out {display_name(str(rel))} ({size / 2 ** 20:.0f} MB): the files next to the notebook "
                         f"may hold {MAX_EXTRA_MB} MB in all (the kernel's working folder)")
    if len(left_out) > 5:
        sub.notes.append(f"left out {len(left_out) - 5} more files next to the notebook, for the same reason")
    sub.digest = _digest(notebooks + english + [adir / e for e in sub.extra])
    unread, candidates, unmatched = [], {}, []
    for path in notebooks + english:
        if _stem(path.name) in expected:
            candidates.setdefault(_stem(path.name), []).append(path)
    strays = [p for p in notebooks if _stem(p.name) not in expected]
    for path in strays:
        nb, problem = read_notebook(path)
        if problem:
            unread.append(problem)
            continue
        match = _best_match(nb, [assignment], course)
        if match:
            candidates.setdefault(match[1], []).append(path)
        else:
            unmatched.append((path, nb))
    missing = [n for n in expected if n not in candidates]
    for path, nb in unmatched:
        other = _other_assignment(nb, assignment, course.assignments(), course)
        if other:
            sub.notes.append(f"ignored {display_name(path.name)}: it has the grade cells of {other}, not of {assignment}")
        elif len(missing) == 1 and len(strays) == 1:  # one notebook under another name, one missing: no doubt
            candidates[missing[0]] = [path]
        else:
            sub.notes.append(f"ignored {display_name(path.name)}: no grade cells of {assignment}, and the notebook "
                             "it would be is already there or not clear")
    for name in expected:
        paths = candidates.get(name, [])
        if not paths:
            continue
        path = paths[0] if len(paths) == 1 else _one_edition(name, paths, adir) or _pick(name, paths, sub)
        sub.files[name] = path
        if _stem(path.name) != name:
            sub.notes.append(f"graded {display_name(path.name)} as {name}.ipynb")
    for name, path in sub.files.items():
        nb, problem = read_notebook(path)
        if problem:
            unread.append(problem)
        elif not grade_ids(nb) & _signatures(course, [assignment]).get((assignment, name), set()):
            other = _other_assignment(nb, assignment, course.assignments(), course)
            if other:
                sub.notes.append(f"{display_name(path.name)} has the grade cells of {other}, not of {assignment}: "
                                 "graded as it is (is it the right notebook?)")
    if unread and len(unread) >= len(expected):
        sub.problem = "; ".join(unread)
    elif unread:
        sub.notes += unread
    if not sub.files and not sub.problem:
        sub.problem = f"no notebook of {assignment} found (expected {', '.join(n + '.ipynb' for n in expected)})"
    return sub


def _within_cap(base, extra):
    """(files kept, [(file, size) left out]): the smallest first, while they fit in ``MAX_EXTRA_MB``."""
    sizes = {}
    for rel in extra:
        try:
            sizes[rel] = os.lstat(base / rel).st_size
        except OSError:
            sizes[rel] = 0
    kept, left_out, total = set(), [], 0
    for rel in sorted(extra, key=lambda r: (sizes[r], str(r))):
        if total + sizes[rel] <= MAX_EXTRA_MB * 2 ** 20:
            kept.add(rel)
            total += sizes[rel]
        else:
            left_out.append((rel, sizes[rel]))
    return [rel for rel in extra if rel in kept], sorted(left_out, key=lambda item: -item[1])


def _other_assignment(nb, assignment, known, course):
    """The other assignment whose grade cells ``nb`` carries (None when it is not clearly one)."""
    match = _best_match(nb, [a for a in known if a != assignment], course)
    if not match:
        return None
    own = len(grade_ids(nb) & set().union(set(), *_signatures(course, [assignment]).values()))
    return match[0] if own == 0 else None


def edited_answers(nb):
    """How many answer cells differ from the released notebook (nbgrader's checksum; without one, the
    cell no longer holds nbgrader's stub), or -1 when ``nb`` could not be read."""
    if nb is None:
        return -1
    from nbgrader.utils import compute_checksum

    count = 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if not (isinstance(meta, dict) and meta.get("solution")):
            continue
        if isinstance(meta.get("checksum"), str):
            try:
                count += compute_checksum(cell) != meta["checksum"]
            except Exception:
                count += 1
        else:
            count += not any(stub in cell.source for stub in ("NotImplementedError", "YOUR CODE HERE",
                                                               "YOUR ANSWER HERE"))
    return count


def _one_edition(name, paths, adir):
    """Of the two editions a student fetched (``<quiz>.ipynb`` and ``en/<quiz>.ipynb``) and nothing else: the one
    answered, when only one was (the Korean one when neither was); None when both were (``_pick`` decides)."""
    korean, english = adir / f"{name}.ipynb", adir / "en" / f"{name}.ipynb"
    if sorted(paths) != sorted([korean, english]):
        return None
    edited = {p: edited_answers(read_notebook(p)[0]) for p in paths}
    if edited[korean] > 0 and edited[english] > 0:
        return None
    return english if edited[english] > 0 else korean


def _mtime(path):
    try:
        return os.lstat(path).st_mtime_ns
    except OSError:
        return 0


def _choose(items, standing, label, what):
    """``(chosen, flag)``: of several ``items`` (ties: the first), the one with the most edited answer cells, then
    the newest (``standing(item)``: edited cells, modification time or 0 when unreadable); the flag lists them all."""
    import time

    info = {id(item): standing(item) for item in items}
    ranked = sorted(items, key=lambda item: (-info[id(item)][0], -info[id(item)][1]))
    described = []
    for item in ranked:
        edited, saved = info[id(item)]
        when = f"saved {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(saved / 1e9))}" if saved else "unreadable"
        described.append(f"{label(item)} ({max(edited, 0)} answer cells edited, {when})")
    return ranked[0], (f"{len(items)} {what}: graded {described[0]} over {', '.join(described[1:])}; "
                       "check which one the student meant")


def _pick(name, paths, sub):
    """Of several notebooks for ``name``: ``_choose``'s, then the one under the right name."""
    chosen, flag = _choose(sorted(paths, key=lambda p: (_stem(p.name) != name, p.name)),
                           lambda p: (edited_answers(read_notebook(p)[0]), _mtime(p)),
                           lambda p: repr(display_name(p.name)), f"notebooks for {name}.ipynb")
    sub.flags.append(flag)
    return chosen


def _where(sub):
    """Where a submission came from, for a message: ``bob/quiz_cosine/`` or ``bob.ipynb``."""
    if sub.base is not None:
        return display_name(f"{sub.base.parent.name}/{sub.base.name}/")
    return ", ".join(display_name(p.name) for p in sub.files.values()) or sub.name


def _standing(sub):
    """(edited answer cells, newest file) of a submission; an unreadable one ranks last."""
    if sub.problem or not sub.files:
        return -1, 0
    edited = sum(max(edited_answers(read_notebook(p)[0]), 0) for p in sub.files.values())
    return edited, max(_mtime(p) for p in sub.files.values())


def _dedupe(found):
    """One submission per (exact name, assignment). When a name has several (both layouts, say), the one
    with the most edited answer cells, then the newest, is graded and the row is flagged listing all;
    never merged with another student's."""
    groups = {}
    for sub in found:
        groups.setdefault((sub.name, sub.assignment), []).append(sub)
    result = []
    for (name, _), subs in groups.items():
        if len(subs) == 1:
            result.append(subs[0])
            continue
        chosen, flag = _choose(subs, _standing, _where, f"submissions for {name}")  # ties: folder order
        chosen.flags.append(flag)
        result.append(chosen)
    return result


def _look_alike(found):
    """Flag different names that are the same text after Unicode normalisation (NFC): 'José' typed on
    one machine and 'Jose' + a combining accent on another may be one student, or two."""
    groups = {}
    for sub in found:
        groups.setdefault((unicodedata.normalize("NFC", sub.name), sub.assignment), []).append(sub)
    for subs in groups.values():
        for sub in subs if len(subs) > 1 else []:
            others = ", ".join(ascii(o.name) for o in subs if o is not sub)
            sub.flags.append(f"the name {ascii(sub.name)} looks the same as {others} (equal after Unicode NFC "
                             "normalisation): check whether they are one student or two")
    return found


def _unique_ids(found):
    """Different names always get different nbgrader ids (a name may look like another's generated id)."""
    owner = {}
    for sub in sorted(found, key=lambda s: (s.student != s.name, s.name)):  # plain ids keep their own name
        if owner.setdefault((sub.student, sub.assignment), sub.name) != sub.name:
            sub.student = _long_id(sub.name)
            owner[(sub.student, sub.assignment)] = sub.name
    return sorted(found, key=lambda s: (s.assignment, s.name))


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
        shutil.copy2(sub.base / rel, dest / rel, follow_symlinks=False)
    for name, path in sub.files.items():
        shutil.copy2(path, dest / f"{name}.ipynb", follow_symlinks=False)
    if sub.student != sub.raw and sub.raw:  # so that grading submitted/ itself never takes the copy for a student
        write_bytes(dest.parent / COPY_MARK, sub.raw.encode("utf-8", "surrogateescape"))
    return dest
