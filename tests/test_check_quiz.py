"""`make check-quiz NOTEBOOK=...` (python -m autograder check): a self-study learner's own notebook graded with the
real hidden tests by the course's grader, printing the verdicts the instructor's feedback shows (issue 30)."""
import nbformat

import quizcourse as qc
from autograder.check import check

WRONG = {"quiz1a_answer": "cos_rowwise = (vec1 * vec2).sum(dim=1) / (vec1.norm() * vec2.norm())",
         "quiz1b_answer": "cos_matrix = F.cosine_similarity(vec1.unsqueeze(1), vec2, dim=2)"}


def test_check_quiz_grades_a_learners_notebook_with_the_hidden_tests(tmp_path):
    notebook = tmp_path / "quiz_cosine" / "quiz_cosine.ipynb"
    notebook.parent.mkdir()
    nbformat.write(qc.submission("quiz_cosine", WRONG), str(notebook))
    lines = []
    result = check(notebook, qc.ROOT, out=tmp_path / "check", sandbox=False, log=lines.append)
    text = "\n".join(lines)
    assert result["status"] == "graded" and "quiz_cosine: 2 / 4 points (graded)" in text, text
    assert "✘ quiz1a_test: 0 / 2" in text and "✔ quiz1b_test: 2 / 2" in text, text
    flat = " ".join(text.split())
    assert "length (norm) of the whole matrix" in flat and "행렬 전체의 길이(norm)" in flat
    # the same words as the grader's verdict, which the feedback page opens the test cell with
    assert result["verdicts"]["quiz1a_test"]["reason"].splitlines()[0] in text
    page = tmp_path / "check" / "course" / "feedback" / "me" / "quiz_cosine" / "quiz_cosine.html"
    assert page.is_file() and f"feedback page (what an instructor would hand back): {page}" in text


def test_check_quiz_speaks_english_for_the_english_edition(tmp_path):
    """`make check-quiz NOTEBOOK=release/quiz_cosine/en/quiz_cosine.ipynb`: the English edition is graded by the same
    hidden tests and its verdicts are English only, with no switch to set (issue 30)."""
    import re

    notebook = tmp_path / "quiz_cosine" / "en" / "quiz_cosine.ipynb"
    notebook.parent.mkdir(parents=True)
    nbformat.write(qc.submission("quiz_cosine", WRONG, language="en"), str(notebook))
    lines = []
    result = check(notebook, qc.ROOT, out=tmp_path / "check", sandbox=False, log=lines.append)
    text = "\n".join(lines)
    assert result["status"] == "graded" and "quiz_cosine: 2 / 4 points (graded)" in text, text
    assert "length (norm) of the whole matrix" in " ".join(text.split()), text
    assert not re.search("[\uac00-\ud7a3]", text), text
