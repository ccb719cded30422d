"""A mixed class: quiz_cosine answered in the Korean and the English edition, graded by one command (issue 30).

The grader tells the editions apart by the notebook (autograder/edition.py) and needs no switch: an English
notebook is repaired against source/quiz_cosine/en/, nbgrader puts back the English read-only and test cells, the
verdicts are English only, and the hidden tests (the same in both editions) give the same scores. A tampered
read-only cell of the English edition is restored and noted as in the Korean one.
"""
import re
from pathlib import Path

import nbformat
import pytest

import quizcourse as qc
from autograder import edition
from autograder.course import Course, Settings, load_config
from autograder.grade import grade_class
from autograder.samples import course_copy

HANGUL = re.compile("[\uac00-\ud7a3]")
WRONG = {"quiz1a_answer": "cos_rowwise = (vec1 * vec2).sum(dim=1) / (vec1.norm() * vec2.norm())",
         "quiz1b_answer": "cos_matrix = F.cosine_similarity(vec1, vec2.unsqueeze(1), dim=2)"}
SOLUTION = qc.solution_answers("quiz_cosine")


def _english(answers):
    return qc.submission("quiz_cosine", answers, language="en")


def _tampered():
    nb = _english(SOLUTION)
    for cell in nb.cells:
        if qc.grade_id(cell) == "quiz1a_test":
            cell.source = "pass  # nothing to test here"
            cell.metadata.nbgrader["points"] = 100
    return nb


def _stripped():
    nb = _english(SOLUTION)
    nb.metadata = {}
    return nb


#: student -> (notebooks {relative path: notebook}, expected points)
CLASS = {
    "en_solution": ({"quiz_cosine.ipynb": lambda: _english(SOLUTION)}, 4),
    "en_blank": ({"quiz_cosine.ipynb": lambda: _english({})}, 0),
    "en_wrong": ({"quiz_cosine.ipynb": lambda: _english(WRONG)}, 0),
    "en_tampered": ({"quiz_cosine.ipynb": _tampered}, 4),
    "en_stripped": ({"quiz_cosine.ipynb": _stripped}, 4),
    "ko_solution": ({"quiz_cosine.ipynb": lambda: qc.submission("quiz_cosine", SOLUTION)}, 4),
    # the folder as a hub student fetched and submitted it: both editions, the English one answered
    "both_fetched": ({"quiz_cosine.ipynb": lambda: qc.submission("quiz_cosine", {}),
                      "en/quiz_cosine.ipynb": lambda: _english(SOLUTION)}, 4),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("editions")
    course = Course(course_copy(qc.ROOT, root / "course"))
    for student, (notebooks, _) in CLASS.items():
        for rel, make in notebooks.items():
            path = root / "submitted" / student / "quiz_cosine" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(make(), str(path))
    run = grade_class(root / "submitted", course.root, "quiz_cosine",
                      Settings(jobs=2, cell_timeout=60, notebook_timeout=300, memory_mb=2048, sandbox=False),
                      log=lambda *args, **kwargs: None)
    return course, {r["student"]: r for r in run.results}


def _autograded(course, student):
    return nbformat.read(str(course.root / "autograded" / student / "quiz_cosine" / "quiz_cosine.ipynb"), as_version=4)


def _score(result):
    return sum(g["auto_score"] or 0 for g in result["grades"])


@pytest.mark.parametrize("student", sorted(CLASS))
def test_each_edition_gets_the_score_its_answers_earn(graded, student):
    _, results = graded
    result = results[student]
    assert (result["status"], _score(result)) == ("graded", CLASS[student][1]), result
    assert not result["flags"], result["flags"]  # two editions fetched together are not "two notebooks"


@pytest.mark.parametrize("student", ["en_solution", "en_wrong", "en_tampered", "en_stripped", "both_fetched"])
def test_an_english_notebook_is_graded_and_answered_in_english(graded, student):
    course, results = graded
    nb = _autograded(course, student)
    assert 'grading.setup("quiz_cosine", "en")' in nb.cells[1].source
    for cell in nb.cells:
        outputs = " ".join(str(o.get("text", "")) + str(o.get("evalue", "")) for o in cell.get("outputs", []))
        assert not HANGUL.search(cell.source + outputs), (student, cell.source[:200], outputs[:500])
    page = course.root / "feedback" / student / "quiz_cosine" / "quiz_cosine.html"
    assert not HANGUL.search(page.read_text(encoding="utf-8")), f"Korean in {student}'s feedback page"
    for verdict in results[student].get("verdicts", {}).values():
        assert not HANGUL.search(verdict.get("reason", "")), verdict


def test_the_english_verdicts_name_the_mistakes(graded):
    _, results = graded
    verdicts = results["en_wrong"]["verdicts"]
    assert "length (norm) of the whole matrix" in " ".join(verdicts["quiz1a_test"]["reason"].split())
    assert "rows and columns are swapped" in " ".join(verdicts["quiz1b_test"]["reason"].split())


def test_a_tampered_read_only_cell_of_the_english_edition_is_restored(graded):
    course, results = graded
    said = " ".join(results["en_tampered"]["notes"])
    assert "'quiz1a_test'" in said and "edited" in said, said
    english = qc.read(qc.notebook_path(qc.ROOT / "source", "quiz_cosine", "en"))
    original = next(c for c in english.cells if qc.grade_id(c) == "quiz1a_test")
    cell = next(c for c in _autograded(course, "en_tampered").cells if qc.grade_id(c) == "quiz1a_test")
    assert cell.source == original.source and cell.metadata.nbgrader["points"] == 2


def test_the_korean_edition_keeps_its_own_cells(graded):
    course, _ = graded
    nb = _autograded(course, "ko_solution")
    assert nb.cells[1].source.rstrip().endswith('grading.setup("quiz_cosine")')
    assert "[퀴즈 1-a]" not in str(nb) and "퀴즈 1-a 테스트" in str(nb)


def test_the_english_cells_go_into_a_gradebook_as_nbgrader_saves_them(graded):
    """edition.saved_cells makes of the Korean source exactly what `generate_assignment` saved in the class's
    gradebook, so the English cells it puts into a job's copy are what nbgrader itself would have saved."""
    from nbgrader.api import Gradebook

    course, _ = graded
    korean = qc.read(qc.notebook_path(qc.ROOT / "source", "quiz_cosine"))
    ours = edition.saved_cells(korean, load_config(course.root))
    with Gradebook(f"sqlite:///{Path(course.root) / 'gradebook.db'}", course_id=course.course_id) as gb:
        saved = {c.name: (c.source, c.checksum, c.locked, c.cell_type)
                 for c in gb.find_notebook("quiz_cosine", "quiz_cosine").source_cells}
    assert saved == ours
