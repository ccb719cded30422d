"""Put a submitted notebook back in a shape nbgrader can grade, before nbgrader sees it.

nbgrader's autograde fails on the whole notebook (and so scores every answer 0) when an editor stripped the cells'
nbgrader metadata, when an answer cell was deleted with its test (``add_missing_cells`` raises ``KeyError``), when a
cell carries a grade id the assignment does not have or edited nbgrader settings, when ``timestamp.txt`` cannot be
parsed, or when the notebook is not valid in its format. On the job's own copy, ``repair`` gives cells with broken,
unknown or repeated metadata none, puts back edited settings and stripped metadata (read-only and test cells by
their content, answer cells by their place) and deleted read-only and test cells; ``make_valid`` rebuilds what the
format's schema refuses; ``check_timestamp`` says whether nbgrader can read ``timestamp.txt``; lone surrogates become
U+FFFD. Each change is a note on the student's row (autograder/README.md lists them). Nothing here gives or takes
points: the answers that are there are graded, a deleted answer's test fails.
"""
import copy
import difflib
import re
import uuid

from nbgrader.utils import is_locked

from . import feedback as fb

#: Characters of a cell compared when an answer cell is found by its place (difflib's time grows faster than
#: the text: three 1 MB cells between two read-only cells took 18 s, a notebook of such cells many minutes).
COMPARED = 20_000


def _meta(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else None


def repair(nb, source_nb):
    """Repair ``nb`` in place against ``source_nb`` (the assignment's source notebook); returns notes."""
    notes = []
    order = [c for c in source_nb.cells if _meta(c) and isinstance(_meta(c).get("grade_id"), str)]
    wanted = {_meta(c)["grade_id"]: c for c in order}
    present = {}
    keep = _kept_copies(nb, order, wanted)
    for index, cell in enumerate(nb.cells):
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta = _meta(cell)
        gid = meta.get("grade_id") if meta else None
        why = None
        if not isinstance(gid, str):
            why = "has broken nbgrader metadata"
        elif gid not in wanted:
            why = f"has the grade id {gid!r}, which the assignment does not have"
        elif cell.cell_type != wanted[gid].cell_type and is_locked(wanted[gid]):
            why = f"is a {cell.cell_type} cell with the id of the {wanted[gid].cell_type} cell {gid!r}"
        elif keep.get(gid) != index:
            why = f"repeats the grade id {gid!r}"
        if why:
            del cell.metadata["nbgrader"]
            notes.append(f"cell {index + 1} {why}: graded as an ordinary cell")
            continue
        present[gid] = cell
        edited = _edited_settings(meta, _meta(wanted[gid]))
        if edited:
            restored = copy.deepcopy(dict(_meta(wanted[gid])))
            if isinstance(meta.get("checksum"), str):
                restored["checksum"] = meta["checksum"]  # the released stub's: nbgrader overwrites it anyway
            cell.metadata["nbgrader"] = restored
            notes.append(f"cell {index + 1} ({gid!r}) had its nbgrader settings edited ({'; '.join(edited)}): "
                         "put back as the assignment has them")
    free = [c for c in nb.cells if "nbgrader" not in c.get("metadata", {})]
    # read-only and test cells whose metadata was stripped: recognised by their content
    for gid, src in wanted.items():
        if gid in present or not is_locked(src):
            continue
        texts = {fb.normalise(src.source), fb.normalise(fb.visible(src.source))}
        match = next((c for c in free if c.cell_type == src.cell_type and fb.normalise(c.source) in texts), None)
        if match is not None:
            match.metadata["nbgrader"] = copy.deepcopy(dict(_meta(src)))
            present[gid] = match
            free.remove(match)
            notes.append(f"the nbgrader metadata of {gid!r} was missing (an editor removed it): recognised by its content")
    # answer cells whose metadata was stripped: the most similar free cell between its neighbours
    for position, src in enumerate(order):
        gid = _meta(src)["grade_id"]
        if gid in present or is_locked(src):
            continue
        lo = _place(nb, present, order[:position][::-1], default=-1)
        hi = _place(nb, present, order[position + 1:], default=len(nb.cells))
        candidates = [c for i, c in enumerate(nb.cells) if lo < i < hi and c in free and c.cell_type == src.cell_type]
        if not candidates:
            continue
        given = "\n".join(fb.split_hidden(src.source or "", fb.SOLUTION)[0])[:COMPARED]  # the released stub
        best = max(candidates, key=lambda c: difflib.SequenceMatcher(None, c.source[:COMPARED], given).ratio())
        best.metadata["nbgrader"] = copy.deepcopy(dict(_meta(src)))
        best.metadata["nbgrader"].pop("checksum", None)  # the student's answer, never "unchanged"
        present[gid] = best
        free.remove(best)
        notes.append(f"the nbgrader metadata of answer cell {gid!r} was missing: recognised by its place")
    # still missing: put the instructor's cells back where they belong; a missing answer stays missing
    for position, src in enumerate(order):
        gid = _meta(src)["grade_id"]
        if gid in present:
            continue
        if not is_locked(src):
            notes.append(f"answer cell {gid!r} was deleted: its test has no answer to check")
            continue
        after = _place(nb, present, order[:position][::-1], default=-1)
        cell = copy.deepcopy(src)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if "id" in cell:
            cell["id"] = uuid.uuid4().hex[:8]  # never the id of a cell the student kept
        nb.cells.insert(after + 1, cell)
        present[gid] = cell
        kind = "grade cell" if _meta(src).get("grade") else "read-only cell"
        notes.append(f"{kind} {gid!r} was deleted (put back from the source)")
    return notes


_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str, any surrogate is a lone one


def _clean(value):
    """(value with lone surrogates replaced by U+FFFD, how many were replaced), for JSON-like data."""
    if isinstance(value, str):
        return _SURROGATE.subn("\ufffd", value)
    if isinstance(value, list):
        count = 0
        for i, item in enumerate(value):
            value[i], n = _clean(item)
            count += n
        return value, count
    if isinstance(value, dict):
        count = 0
        for key in list(value):
            item, n = _clean(value[key])
            new_key, m = _clean(key)
            if m:
                del value[key]
            value[new_key] = item
            count += n + m
        return value, count
    return value, 0


def without_surrogates(value):
    """JSON-like ``value`` with lone surrogates replaced by U+FFFD (lists and dicts in place)."""
    return _clean(value)[0]


def replace_surrogates(nb):
    """Replace lone surrogates anywhere in ``nb`` (in place) by U+FFFD; returns notes naming the cells."""
    notes = []
    for index, cell in enumerate(nb.get("cells", [])):
        _, count = _clean(cell)
        if count:
            meta = _meta(cell) or {}
            name = f" ({meta['grade_id']!r})" if isinstance(meta.get("grade_id"), str) else ""
            notes.append(f"cell {index + 1}{name}, a {cell.get('cell_type', '?')} cell, held text that is not valid "
                         f"Unicode (a lone surrogate, such as half an emoji): replaced by \ufffd ({count}x)")
    _, count = _clean(nb.get("metadata", {}))
    if count:
        notes.append(f"the notebook's metadata held text that is not valid Unicode: replaced by \ufffd ({count}x)")
    return notes


def _kept_copies(nb, order, wanted):
    """{grade id: index of the cell that keeps it}. A grade id on several cells (a test cell copied and pasted,
    its metadata with it) stays with the first copy placed after the cell the source puts before it, else the
    first: a copy pasted above its answer would run the test before the answer exists."""
    places = {}
    for index, cell in enumerate(nb.cells):
        meta = _meta(cell)
        gid = meta.get("grade_id") if meta else None
        if isinstance(gid, str) and gid in wanted and \
                (cell.cell_type == wanted[gid].cell_type or not is_locked(wanted[gid])):
            places.setdefault(gid, []).append(index)
    keep = {}
    for position, src in enumerate(order):  # in the source's order: the cell before is decided already
        found = places.get(_meta(src)["grade_id"])
        if found:
            before = next((keep[_meta(s)["grade_id"]] for s in order[:position][::-1] if _meta(s)["grade_id"] in keep), -1)
            keep[_meta(src)["grade_id"]] = next((i for i in found if i > before), found[0])
    return keep


_FLAGS = ("grade", "solution", "locked", "task")


def _edited_settings(meta, src):
    """What of a cell's nbgrader settings differs from the source's, e.g. ``["points 100 (should be 2)"]``."""
    edited = []
    for key in _FLAGS:
        mine, theirs = meta.get(key), src.get(key)
        same = type(mine) is bool and mine == bool(theirs) if key in src else mine in (None, False)
        if not same:
            edited.append(f"{key} {mine!r} (should be {bool(theirs)!r})" if key in meta else f"{key} missing")
    if src.get("grade"):
        mine = meta.get("points")
        if not (type(mine) in (int, float) and float(mine) == float(src.get("points", 0))):
            edited.append(f"points {mine!r} (should be {src.get('points')!r})" if "points" in meta else "points missing")
    if meta.get("schema_version") != src.get("schema_version"):
        edited.append(f"schema_version {meta.get('schema_version')!r} (should be {src.get('schema_version')!r})")
    return [text[:80] for text in edited]


_CELL_TYPES = ("code", "markdown", "raw")
_CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def _leaves(error):
    """The innermost errors under a schema error (a cell fails ``oneOf`` its code, markdown and raw forms)."""
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _schema_error(probe, minor):
    """Why the notebook ``probe`` is not valid in format 4.``minor`` (short, naming the field), or ``""``."""
    from nbformat.validator import get_validator

    errors = list(get_validator(version=4, version_minor=minor, name="jsonschema").iter_errors(probe))
    if not errors:
        return ""
    leaves = [leaf for error in errors for leaf in _leaves(error)]
    # a code cell also fails the markdown and raw forms on its cell_type (an output the other output types'
    # forms): the other leaves say what is wrong
    telling = [e for e in leaves if list(e.absolute_path)[-1:] not in (["cell_type"], ["output_type"])] or leaves
    error = max(telling, key=lambda e: len(e.absolute_path))
    path = list(error.absolute_path)[2 if probe["cells"] else 0:]  # within the cell, not "cells.0"
    where = ".".join(str(part) for part in path)
    return (f"{where}: " if where else "") + error.message.split("\n")[0][:100]


def make_valid(nb, source_nb):
    """Make ``nb`` (in place) valid in the notebook format, which nbgrader checks before grading anything:
    an invalid cell is rebuilt from its type (an unknown one: its grade id's, else markdown), source and
    nbgrader metadata; an invalid notebook metadata field takes the source's value or is left out. Returns
    notes. Nothing that decides a grade (a cell's type, source, nbgrader metadata) changes; nbgrader clears
    the outputs anyway. Not ``nbformat.validator.normalize(strip_invalid_metadata=True)``: it drops only whole
    top-level metadata fields (a nested ``jupyter.source_hidden: "x"`` or a bad cell id stays invalid), never
    puts the assignment's value back, and gives no reason to write in the note."""
    import nbformat

    notes = []
    minor = nb.get("nbformat_minor")
    if type(minor) is not int or minor < 0:
        notes.append(f"the notebook's format version 4.{minor!r} is not one: graded as 4.{nbformat.v4.nbformat_minor}")
        minor = nb["nbformat_minor"] = nbformat.v4.nbformat_minor

    def probe(cells=(), metadata=None):
        return {"cells": list(cells), "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": minor}

    for index, cell in enumerate(nb.cells):
        kind = cell.get("cell_type")
        why = _schema_error(probe([cell]), minor) if kind in _CELL_TYPES else f"unknown cell type {kind!r}"
        if not why:
            continue
        meta = _meta(cell)
        if kind not in _CELL_TYPES:  # the type of the source's cell with its grade id, else markdown
            kind = next((c.cell_type for c in source_nb.cells if meta and _meta(c)
                         and _meta(c).get("grade_id") == meta.get("grade_id")), "markdown")
        source = cell.get("source")
        new = getattr(nbformat.v4, f"new_{kind}_cell")(source if isinstance(source, str) else "")
        if meta is not None:
            new.metadata["nbgrader"] = meta
        old_id = cell.get("id")
        new["id"] = old_id if isinstance(old_id, str) and _CELL_ID.match(old_id) else uuid.uuid4().hex[:8]
        if _schema_error(probe([new]), minor):
            del new["id"]  # format 4.0 to 4.4: no cell ids
        nb.cells[index] = new
        notes.append(f"cell {index + 1} was not valid in the notebook format ({why}): rebuilt from its {kind} "
                     "source" + (" and nbgrader metadata" if meta is not None else ""))
    metadata = nb.get("metadata")
    for key in list(metadata) if isinstance(metadata, dict) else []:
        why = _schema_error(probe(metadata={key: metadata[key]}), minor)
        if not why:
            continue
        if key in source_nb.get("metadata", {}):
            metadata[key] = copy.deepcopy(source_nb.metadata[key])
            notes.append(f"the notebook's metadata field {key!r} was not valid ({why}): the assignment's was used")
        else:
            del metadata[key]
            notes.append(f"the notebook's metadata field {key!r} was not valid ({why}): left out")
    return notes


def _place(nb, present, candidates, default):
    """The index in ``nb`` of the first of ``candidates`` (source cells) that is present, else ``default``."""
    for src in candidates:
        cell = present.get(_meta(src)["grade_id"])
        if cell is not None:
            return next(i for i, c in enumerate(nb.cells) if c is cell)
    return default


def check_timestamp(text):
    """``""`` when nbgrader can read ``timestamp.txt``'s text, else why not."""
    from nbgrader.utils import parse_utc

    try:
        parse_utc(text.strip())
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return ""
