"""Issue 6's broken and hostile submissions, graded as one class on the real quizzes.

quiz_cosine carries every case (its kernels need no CLIP, so they are quick); quiz_search adds the
cases that matter once CLIP is loaded; quiz_retrieval (quiz 8) functions written for the visible
examples only. Each case must get its exact score (the sum of the source's
points of the test cells it must pass), its status and a reason; the class completes with one row
per student; no feedback page shows a hidden test. The course is a separate folder linking this
repository's config and source (autograder.samples.course_copy), so the repository's own gradebook
is never touched.
"""
import csv
from pathlib import Path

import nbformat
import pytest

from autograder import feedback
from autograder.course import Course, Settings
from autograder.grade import grade_class
from autograder.samples import course_copy, released

import autograder_cases as cases

REPO = Path(__file__).resolve().parents[1]
try:
    from autograder.grade import check_sandbox

    check_sandbox()
    SANDBOX = True
except Exception:
    SANDBOX = False
pytestmark = pytest.mark.skipif(not (REPO / "source" / "quiz_cosine").is_dir() or not (REPO / "source" / "quiz_search").is_dir(),
                                reason="the quizzes are not in source/ yet")


def _grade(course, assignment, chosen, folder, settings):
    solution = nbformat.read(course.source / assignment / f"{assignment}.ipynb", as_version=4)
    blank = released(course, assignment)[assignment]
    for case in chosen:
        cases.write_case(case, solution, blank, folder, assignment, assignment)
    return solution, grade_class(folder, course.root, settings=settings, log=lambda line: None)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("quiz-class")
    course = Course(course_copy(REPO, root / "course"))
    runs = {}
    cosine = [c for c in cases.cosine_cases(course.root, REPO) + cases.trick_cases() if SANDBOX or not c.sandbox_only]
    runs["quiz_cosine"] = (cosine, *_grade(course, "quiz_cosine", cosine, root / "cosine",
                                           Settings(jobs=2, cell_timeout=15, notebook_timeout=300, memory_mb=2048,
                                                    sandbox=SANDBOX)))
    search = cases.search_cases()
    runs["quiz_search"] = (search, *_grade(course, "quiz_search", search, root / "search",
                                           Settings(jobs=2, notebook_timeout=900, sandbox=SANDBOX)))
    retrieval = cases.retrieval_cases()
    runs["quiz_retrieval"] = (retrieval, *_grade(course, "quiz_retrieval", retrieval, root / "retrieval",
                                                 Settings(jobs=2, cell_timeout=60, notebook_timeout=300, memory_mb=2048,
                                                          sandbox=SANDBOX)))
    return course, runs


@pytest.mark.parametrize("assignment", ["quiz_cosine", "quiz_search", "quiz_retrieval"])
def test_each_case_gets_its_exact_score_status_and_reason(graded, assignment):
    course, runs = graded
    chosen, solution, run = runs[assignment]
    results = {r["student"]: r for r in run.results}
    assert sorted(results) == sorted(c.student for c in chosen)
    for case in chosen:
        result = results[case.student]
        score = sum(g["auto_score"] or 0 for g in result["grades"])
        assert (case.student, score, result["status"]) == \
            (case.student, cases.expected_score(case, solution), case.status), result
        said = " ".join([result["reason"]] + result["notes"] + result["flags"]).lower()
        assert all(text in said for text in case.says), (case.student, said)


@pytest.mark.parametrize("assignment", ["quiz_cosine", "quiz_search", "quiz_retrieval"])
def test_every_quiz_is_decided_by_the_grader_outside_the_kernel(graded, assignment):
    """The hidden tests are calls of the course's checks: each is decided in the grader's process, and
    the kernel never saw their code (the autograded notebook's In[] history holds only visible parts)."""
    course, runs = graded
    chosen, solution, run = runs[assignment]
    rows = list(csv.DictReader(run.outputs[assignment]["csv"].read_text(encoding="utf-8").splitlines()))
    quizzes = sorted({f"quiz{gid[4]}" for gid in cases.test_points(solution)})
    for row in rows:
        if row["status"] == "graded":
            assert row["decided_by"] == " ".join(f"{q}=grader" for q in quizzes), row
    secrets = feedback.secret_lines(c.source for c in solution.cells)
    nb = nbformat.read(course.autograded / "leak-history" / assignment / f"{assignment}.ipynb", as_version=4) \
        if assignment == "quiz_cosine" else None
    if nb is not None:
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        assert "grading.check_quiz1_rowwise" not in printed and "cos_rowwise" in printed
        assert not feedback.find_leaks(printed, secrets)


@pytest.mark.parametrize("assignment", ["quiz_cosine", "quiz_search", "quiz_retrieval"])
def test_one_csv_row_per_student_and_a_table_per_quiz(graded, assignment):
    course, runs = graded
    chosen, solution, run = runs[assignment]
    rows = run.outputs[assignment]["csv"].read_text().splitlines()
    assert len(rows) == 1 + len(chosen)
    table = run.outputs[assignment]["summary"].read_text()
    quizzes = sorted({f"quiz{gid[4]}" for gid in cases.test_points(solution)})
    for quiz in quizzes:
        assert any(line.startswith(quiz + " ") for line in table.splitlines()), table
    assert f"{len(chosen)} submissions:" in table


def test_feedback_names_the_answer_variable_a_notebook_never_defined(graded):
    """quiz_cosine's renamed-answer case: the test cell's verdict says which quiz, variable and answer cell, and
    what to do, Korean first, then English; no bare "name 'cos_matrix' is not defined"."""
    course, runs = graded
    page = course.feedback / "renamed-answer" / "quiz_cosine" / "quiz_cosine.html"
    text = " ".join(feedback.html_text(page.read_text(encoding="utf-8")).split())
    korean = text.find("[퀴즈 1-b] 답 변수 cos_matrix이(가) 정의되지 않아")
    english = text.find("[quiz 1-b] The answer variable cos_matrix was never defined (quiz 1-b's answer cell 'quiz1b_answer')")
    assert 0 <= korean < english, text[-3000:]
    assert "변수 이름 cos_matrix은(는) 주어진 그대로 두고" in text and "Keep the name cos_matrix as given" in text
    assert "name 'cos_matrix' is not defined" not in text


def test_no_feedback_page_shows_a_hidden_test(graded):
    course, runs = graded
    pages = 0
    for assignment, (chosen, solution, run) in runs.items():
        secrets = feedback.secret_lines(c.source for c in solution.cells)
        assert secrets, "the quiz has hidden tests"
        for page in (course.feedback).glob(f"*/{assignment}/*.html"):
            assert feedback.find_leaks(page.read_text(), secrets) == [], page
            pages += 1
    assert pages == sum(1 for chosen, _, _ in runs.values() for c in chosen if c.status != "unreadable")


@pytest.mark.skipif(not SANDBOX, reason="needs the sandbox")
def test_from_inside_a_graded_kernel_the_network_and_the_course_are_out_of_reach(graded):
    course, runs = graded
    chosen, _, _ = runs["quiz_cosine"]
    for case in chosen:
        if not (case.output_has or case.output_lacks):
            continue
        nb = nbformat.read(course.autograded / case.student / "quiz_cosine" / "quiz_cosine.ipynb", as_version=4)
        text = "".join(o.get("text", "") + o.get("evalue", "") for c in nb.cells if c.cell_type == "code"
                       for o in c.outputs)
        assert all(t in text for t in case.output_has), (case.student, text[:2000])
        assert not any(t in text for t in case.output_lacks), (case.student, text[:2000])


def test_the_committed_release_has_no_hidden_test_line():
    checked = 0
    for source in sorted((REPO / "source").glob("*/*.ipynb")):
        release = REPO / "release" / source.parent.name / source.name
        if not release.exists():
            continue
        secrets = feedback.secret_lines(c.source for c in nbformat.read(source, as_version=4).cells)
        text = "\n".join(c.source for c in nbformat.read(release, as_version=4).cells)
        assert feedback.find_leaks(text, secrets) == [], release
        checked += 1
    assert checked >= 2
