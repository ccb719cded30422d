"""Which edition of a quiz a submission is, and grading it against that edition's own source.

A quiz has a Korean edition, ``source/<quiz>/<quiz>.ipynb`` (nbgrader's assignment, whose cells the gradebook holds),
and an English one, ``source/<quiz>/en/<quiz>.ipynb``: the same cells, grade ids, points and hidden tests, English
prose and messages. A notebook is the English edition when its metadata says ``"clipcourse": {"language": "en"}``
or, that stripped, when more of its read-only cells are the English edition's word for word. A job grading it repairs
it against the English source, gives its own gradebook copy the English cells (``use_in_gradebook``, as nbgrader's
``generate_assignment`` would have saved them) and lets the verdict read the English source; both editions run the
same hidden tests (``tests/test_quiz_editions.py``), so the score is the same (autograder/README.md, *Two editions*).
"""
import copy
from pathlib import Path

from nbgrader.utils import is_locked


def language_of(nb):
    """``"en"`` when the notebook's metadata says it is the English edition, else ``"ko"``."""
    meta = nb.get("metadata", {}).get("clipcourse") if isinstance(nb.get("metadata"), dict) else None
    return "en" if isinstance(meta, dict) and meta.get("language") == "en" else "ko"


def source_path(assignment_source, name, language):
    """The source notebook of ``name`` in ``language`` (``assignment_source`` is ``source/<quiz>``)."""
    folder = Path(assignment_source)
    return folder / "en" / f"{name}.ipynb" if language == "en" else folder / f"{name}.ipynb"


def _locked_sources(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c.source.strip() for c in nb.cells
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict) and is_locked(c)
            and isinstance(c.metadata["nbgrader"].get("grade_id"), str)}


def edition(nb, assignment_source, name, read):
    """(language, source notebook) to grade ``nb`` against: its metadata's language, else the edition whose
    read-only cells it keeps word for word more often; the Korean edition when the English one is missing.
    ``read(path)`` returns a notebook or None."""
    korean = read(source_path(assignment_source, name, "ko"))
    english_path = source_path(assignment_source, name, "en")
    english = read(english_path) if english_path.is_file() else None
    if english is None:
        return "ko", korean
    if language_of(nb) == "en":
        return "en", english
    if korean is None:
        return "ko", korean
    cells = [c.source.strip() for c in nb.get("cells", []) if isinstance(c.get("source"), str)]

    def kept(source_nb):
        return sum(text in cells for text in _locked_sources(source_nb).values())

    return ("en", english) if kept(english) > kept(korean) else ("ko", korean)


def saved_cells(source_nb, config):
    """{grade id: (source, checksum, locked, cell type)} of ``source_nb`` as nbgrader's ``generate_assignment``
    saves them in the gradebook: solutions cleared, hidden tests kept, checksums computed."""
    from nbgrader.preprocessors import ClearSolutions, ComputeChecksums

    nb = copy.deepcopy(source_nb)
    resources = {}
    nb, resources = ClearSolutions(config=config).preprocess(nb, resources)
    nb, resources = ComputeChecksums(config=config).preprocess(nb, resources)
    cells = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            cells[meta["grade_id"]] = (cell.source, meta.get("checksum"), is_locked(cell), cell.cell_type)
    return cells


def use_in_gradebook(db_url, assignment, name, source_nb, config, course_id="default_course"):
    """Put ``source_nb``'s cells into the gradebook at ``db_url`` in place of the assignment's (a job's own copy:
    nbgrader then restores this edition's read-only and test cells). Only cells the gradebook already has
    change, and nothing but their text and checksum: grade ids, points and which cells exist stay the
    assignment's."""
    from nbgrader.api import Gradebook

    cells = saved_cells(source_nb, config)
    with Gradebook(db_url, course_id=course_id) as gb:
        notebook = gb.find_notebook(name, assignment)
        for cell in notebook.source_cells:
            if cell.name in cells:
                source, checksum, locked, cell_type = cells[cell.name]
                if locked == cell.locked and cell_type == cell.cell_type:
                    cell.source, cell.checksum = source, checksum
        gb.db.commit()


def in_language(text, language):
    """``text`` (Korean lines, then English ones) as the English edition reads it: its lines without Hangul."""
    if language != "en":
        return text
    kept = [line for line in text.splitlines() if not any("\uac00" <= ch <= "\ud7a3" for ch in line)]
    return "\n".join(kept) if kept else text
