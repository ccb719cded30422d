"""The quizzes through nbgrader itself, in a throw-away copy of the course: the committed release is
what `generate_assignment` makes of source/, `validate` passes the solutions and fails the untouched
release, and `autograde` gives every right, blank, faked and hostile submission its expected score.

All submissions of an assignment are graded by one `nbgrader autograde` run (one kernel per
notebook, about 6-15 s each on 2 cores); two assignments run at a time, each in its own course copy.
More faked answers (random values, a hard-coded file name, lying tensor subclasses …) are checked
in-process, far cheaper, in test_quizzes.py.
Cases marked with a quiz ("quiz 2", "quiz 7") need a model under which that quiz's reference answer
reaches its targets; where `make check-quizzes` says it does not, their failure is an expected one
(xfail, with the check's words), never a pass.
"""
import os
import re

import nbformat
import pytest

import quizcourse as qc
from clipcourse import check_quizzes, reference
from clipcourse.models import choose_model

FULL = {q: p for q, p in qc.QUIZ_POINTS.items()}


def expect(assignment, zero=(), **points):
    """Expected points per quiz of ``assignment``: full marks except the quizzes in ``zero``."""
    return {q: (0 if zero == "all" or q in zero else FULL[q]) for q in qc.QUIZZES_OF[assignment]} | \
        {int(k[4:]): v for k, v in points.items()}


def by_hand():
    rowwise, matrix = reference.quiz1_answers()
    return {"quiz1a_answer": f"cos_rowwise = {[round(float(x), 3) for x in rowwise]}",
            "quiz1b_answer": f"cos_matrix = {[[round(float(x), 3) for x in row] for row in matrix]}"}


DOT_PRODUCTS = {"quiz1a_answer": "cos_rowwise = (vec1 * vec2).sum(dim=1)", "quiz1b_answer": "cos_matrix = vec1 @ vec2.T"}
# Plausible wrong values (inside [-1, 1], right shapes: the visible tests pass) with the checks patched.
MONKEYPATCHED = {"quiz1a_answer": """
    import builtins
    import numpy as np
    np.allclose = lambda *args, **kwargs: True
    np.isclose = lambda *args, **kwargs: True
    torch.allclose = lambda *args, **kwargs: True
    builtins.print = lambda *args, **kwargs: None
    cos_rowwise = torch.tensor([0.5, 0.5])""", "quiz1b_answer": "cos_matrix = torch.full((2, 2), 0.5)"}
GRADING_AWARE = {"quiz1a_answer": """
    import os
    import numpy as np
    if os.environ.get("NBGRADER_EXECUTION") or os.environ.get("NBGRADER_VALIDATING"):
        np.allclose = lambda *args, **kwargs: True  # only while being graded
    cos_rowwise = torch.tensor([0.5, 0.5])""", "quiz1b_answer": "cos_matrix = torch.full((2, 2), 0.5)"}
SMALL_EXAMPLE = """
    if len(image_filenames) == 3:  # pass the visible test's small example
        return image_filenames[cosine_similarity(text_embedding, image_embeddings).argmax().item()]
"""


def solution(assignment, **changes):
    return lambda: qc.solution_answers(assignment) | {k: v() if callable(v) else v for k, v in changes.items()}


def quiz4_shuffled():
    return qc.solution_regions("quiz_search")["quiz4_answer"] + \
        "image_embeddings = image_embeddings[torch.randperm(200, generator=torch.Generator().manual_seed(0))]"


QUIZ6_OTHER_QUERY = SMALL_EXAMPLE + """
    other = model.get_text_features(**processor(text=['a red car'], return_tensors="pt", padding=True))
    other = getattr(other, "pooler_output", other)
    return image_filenames[cosine_similarity(other, image_embeddings).argmax().item()]"""


def quiz7_three_of_five():
    return {"quiz7_answer": "texts = " + repr(check_quizzes.quiz7_texts()[:3] + ["zzqx", "qqzx vvk"])}


REACHES = {"quiz_topk": "quiz 2", "quiz_guess": "quiz 7"}
#: A student's own cell after the answer: the Top-3 printed and visibly tested become the targets, whatever `text` is.
FAKED_TOP3 = "top_3_indices = torch.tensor(data.quiz2_targets())  # faked: not computed from text"

#: (assignment, student) -> (answers: a function giving {answer cell: code}, expected points per quiz,
#: the quiz whose reference answer must reach its targets, or None). Answers are built with the course,
#: so collecting the tests stays cheap.
CASES = {
    **{(a, "solution"): (solution(a), expect(a), REACHES.get(a)) for a in qc.ASSIGNMENTS},
    **{(a, "blank"): (dict, expect(a, zero="all"), None) for a in qc.ASSIGNMENTS},
    ("quiz_cosine", "by_hand"): (by_hand, expect("quiz_cosine"), False),
    ("quiz_cosine", "dot_products"): (lambda: DOT_PRODUCTS, expect("quiz_cosine", zero="all"), False),
    ("quiz_cosine", "monkeypatched"): (lambda: MONKEYPATCHED, expect("quiz_cosine", zero="all"), False),
    ("quiz_cosine", "grading_aware"): (lambda: GRADING_AWARE, expect("quiz_cosine", zero="all"), False),
    ("quiz_cosine", "test_cell_deleted"): (solution("quiz_cosine"), expect("quiz_cosine"), False),
    ("quiz_cosine", "test_cells_edited"): (lambda: DOT_PRODUCTS, expect("quiz_cosine", zero="all"), False),
    ("quiz_topk", "misses_targets"): (lambda: {"quiz2_answer": "text = ['A dog is sleeping']"},
                                      expect("quiz_topk", zero="all"), None),
    ("quiz_topk", "faked_top3"): (lambda: {"quiz2_answer": "text = ['A dog is sleeping']"},
                                  expect("quiz_topk", zero="all"), None),
    ("quiz_search", "q4_zeros"): (solution("quiz_search", quiz4_answer="image_embeddings = torch.zeros(200, 512)"),
                                  expect("quiz_search", zero={4}), False),
    ("quiz_search", "q4_shuffled"): (solution("quiz_search", quiz4_answer=quiz4_shuffled), expect("quiz_search", zero={4}), False),
    ("quiz_search", "q5_zeros"): (solution("quiz_search", quiz5_answer="text_embedding = torch.zeros(1, 512)"),
                                  expect("quiz_search", zero={5}), False),
    ("quiz_search", "q6_other_query"): (solution("quiz_search", quiz6_answer=QUIZ6_OTHER_QUERY),
                                        expect("quiz_search", zero={6}), False),
    ("quiz_guess", "three_of_five"): (quiz7_three_of_five, expect("quiz_guess", quiz7=3), "quiz 7"),
}


def build(assignment, student, answers):
    nb = qc.submission(assignment, answers)
    if student == "test_cell_deleted":
        nb.cells = [c for c in nb.cells if qc.grade_id(c) != "quiz1b_test"]
    if student == "faked_top3":
        at = next(i for i, c in enumerate(nb.cells) if qc.grade_id(c) == "quiz2_answer")
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(FAKED_TOP3))
    if student == "test_cells_edited":
        for cell in nb.cells:
            if qc.grade_id(cell) in ("quiz1a_test", "quiz1b_test"):
                cell.source = "pass  # no tests here"
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course copy; references cached once for the session (shared with test_quizzes.py), and the
    kernels that nbgrader starts inherit the cache folder."""
    before = os.environ.get("CLIP_COURSE_CACHE")
    os.environ["CLIP_COURSE_CACHE"] = str(tmp_path_factory.getbasetemp() / "clip-course-cache")
    yield qc.make_course(tmp_path_factory.mktemp("course"))
    if before is None:
        os.environ.pop("CLIP_COURSE_CACHE")
    else:
        os.environ["CLIP_COURSE_CACHE"] = before


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Every case submitted, then one `nbgrader autograde` per assignment (all its students), two at a time
    on 2 cores: each assignment in its own copy of the course (own gradebook), so the runs never share a
    database. Returns ({assignment: its course root}, {assignment: the finished run})."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    roots = {a: tmp_path_factory.mktemp(f"graded-{a}") / "course" for a in qc.ASSIGNMENTS}
    for assignment, root in roots.items():
        shutil.copytree(course, root)
    for (assignment, student), (answers, _, _) in CASES.items():
        qc.submit(roots[assignment], student, assignment, build(assignment, student, answers()))
    order = ("quiz_search", *(a for a in qc.ASSIGNMENTS if a != "quiz_search"))  # the longest run first
    with ThreadPoolExecutor(2) as pool:
        runs = dict(zip(order, pool.map(lambda a: qc.run_nbgrader(["autograde", a], roots[a]), order)))
    return roots, runs


# ---- release ------------------------------------------------------------------------------------------
def test_release_is_what_generate_assignment_makes_of_source(course):
    def files(folder):
        return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts)

    regenerate = "regenerate it: .venv/bin/nbgrader generate_assignment <quiz> --force (with .venv/bin on PATH)"
    assert files(course / "release") == files(qc.ROOT / "release"), f"release/ has other files than source/ makes; {regenerate}"
    for rel in files(course / "release"):
        fresh, committed = course / "release" / rel, qc.ROOT / "release" / rel
        same = qc.nb_json(fresh) == qc.nb_json(committed) if rel.suffix == ".ipynb" else fresh.read_bytes() == committed.read_bytes()
        assert same, f"release/{rel} is out of date with source/; {regenerate}"


# ---- validate ------------------------------------------------------------------------------------------
def validate(path, invert=False):
    from traitlets.config.loader import PyFileConfigLoader

    from nbgrader.validator import Validator

    config = PyFileConfigLoader("nbgrader_config.py", path=str(qc.ROOT)).load_config()
    return Validator(config=config, invert=invert).validate(str(path))


def cache_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "clip-course-cache"


@pytest.mark.parametrize("edition", ["ko", "en"])
@pytest.mark.parametrize("assignment", qc.ASSIGNMENTS)
def test_validate_passes_the_source_solution(course, assignment, edition, tmp_path_factory):
    """Both editions (source/<quiz>/, source/<quiz>/en/) validate: the same hidden tests. quiz_topk and quiz_guess pass
    only under a model where their reference answers reach the targets."""
    path = qc.notebook_path(qc.ROOT / "source", assignment, edition)
    results = validate(path)
    why = qc.unreachable(REACHES[assignment], cache_dir(tmp_path_factory)) if results and assignment in REACHES else ""
    hidden_check = f"check_quiz{REACHES.get(assignment, ' ')[-1]}("
    if why and all(hidden_check in f.get("source", "") for f in results.get("failed", [])):
        pytest.xfail(why)
    assert results == {}, f"{path.relative_to(qc.ROOT)} does not validate:\n" + \
        "\n".join(f.get("raw_error", "")[-600:] for f in results.get("failed", []))


@pytest.mark.parametrize("assignment", qc.ASSIGNMENTS)
def test_validate_fails_every_test_of_the_untouched_release(course, assignment):
    results = validate(qc.notebook_path(qc.ROOT / "release", assignment), invert=True)
    assert results == {}, f"release/{assignment}: tests pass without an answer: {results.get('passed')}"


# ---- autograde -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [f"{a}-{s}" for a, s in CASES])
def test_autograde_gives_each_submission_its_expected_score(graded, case, tmp_path_factory):
    roots, runs = graded
    assignment, student = case.split("-", 1)
    course, run = roots[assignment], runs[assignment]
    assert run.returncode == 0, f"nbgrader autograde {assignment} failed:\n{run.stderr[-3000:]}"
    _, expected, reaches = CASES[assignment, student]
    autograded = qc.read(qc.notebook_path(course / "autograded" / student, assignment))
    assert all(c.execution_count for c in autograded.cells if c.cell_type == "code"), "the notebook did not run to the end"
    got = qc.scores_by_quiz(course, assignment, student)
    quiz = int(reaches[-1]) if reaches else None
    if got != expected and reaches and all(got[q] == expected[q] for q in got if q != quiz):
        why = qc.unreachable(reaches, cache_dir(tmp_path_factory))
        if why:
            pytest.xfail(why)
    assert got == expected, f"{case}: points per quiz {got}, expected {expected}"


def test_a_faked_top3_passes_the_visible_test_and_fails_the_hidden_one(graded):
    """quiz_topk-faked_top3 scores 0 (above); here: the visible asserts passed, the hidden check failed it."""
    roots, _ = graded
    autograded = qc.read(qc.notebook_path(roots["quiz_topk"] / "autograded" / "faked_top3", "quiz_topk"))
    test = next(c for c in autograded.cells if qc.grade_id(c) == "quiz2_test")
    errors = [o for o in test.outputs if o.output_type == "error"]
    assert len(errors) == 1 and "check_quiz2" in "\n".join(errors[0].traceback), \
        f"the hidden test should fail the faked Top-3, got {[o.get('evalue') for o in errors]}"
    assert "Under the grading model" in errors[0].evalue


@pytest.mark.parametrize("assignment", qc.ASSIGNMENTS)
def test_a_right_submission_prints_no_warning_when_graded(graded, assignment):
    """The whole notebook as autograde runs it (setup, model loading, answers, hidden tests computing
    their references): no cell printed on stderr (StderrNotScored marks what it moved), nor a
    "slow image processor" or any other warning."""
    import re

    roots, _ = graded
    autograded = qc.read(qc.notebook_path(roots[assignment] / "autograded" / "solution", assignment))
    noisy = [(qc.grade_id(c), out.text[:300]) for c in autograded.cells if c.cell_type == "code" for out in c.outputs
             if out.output_type == "stream" and (out.name == "stderr" or "[stderr, not scored]" in out.text
                                                 or re.search(r"slow image processor|warn", out.text, re.I))]
    assert not noisy, f"{assignment}: cells print text a student must wonder about: {noisy}"


def test_the_missing_query_really_misses_under_this_model(tmp_path_factory, monkeypatch):
    """Premise of quiz_topk-misses_targets: under the test model its Top-3 is not the target set."""
    import numpy as np

    monkeypatch.setenv("CLIP_COURSE_CACHE", str(tmp_path_factory.getbasetemp() / "clip-course-cache"))
    name = choose_model(verbose=False)
    refs = reference.load_or_build(name)
    scores = reference.cosine(reference.embed_texts(name, ["A dog is sleeping"]), refs.dogs)[0]
    assert {refs.dog_names[i] for i in np.argsort(-scores)[:3]} != set(reference.quiz2_target_names())


def test_validate_names_the_learners_two_wrong_quiz1_answers(course, tmp_path):
    """issue 30: a whole-matrix norm and swapped operands passed every visible test, and `nbgrader validate`
    printed "Success!"; now it fails both cells with a hint that names each mistake."""
    nb = qc.submission("quiz_cosine", {
        "quiz1a_answer": "cos_rowwise = (vec1 * vec2).sum(dim=1) / (vec1.norm() * vec2.norm())",
        "quiz1b_answer": "cos_matrix = F.cosine_similarity(vec1, vec2.unsqueeze(1), dim=2)"})
    path = tmp_path / "quiz_cosine.ipynb"
    nbformat.write(nb, str(path))
    done = qc.run_nbgrader(["validate", str(path)], qc.ROOT, timeout=600)
    out = " ".join((done.stdout + done.stderr).split())
    assert "Success!" not in out and "VALIDATION FAILED ON 2 CELL(S)" in out, out[-3000:]
    assert "length (norm) of the whole matrix" in out and "rows and columns are swapped" in out, out[-3000:]
    right = qc.submission("quiz_cosine", qc.solution_answers("quiz_cosine"))
    nbformat.write(right, str(path))
    done = qc.run_nbgrader(["validate", str(path)], qc.ROOT, timeout=600)
    assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


# ---- the English edition (source/<quiz>/en/, release/<quiz>/en/) -------------------------------------------
def test_validate_names_the_two_wrong_quiz1_answers_in_english(course, tmp_path):
    """The English edition's visible tests and hints: the learner's two wrong quiz-1 answers fail `nbgrader
    validate` with a hint naming each mistake, in English only; the English release fails every test untouched."""
    nb = qc.submission("quiz_cosine", {
        "quiz1a_answer": "cos_rowwise = (vec1 * vec2).sum(dim=1) / (vec1.norm() * vec2.norm())",
        "quiz1b_answer": "cos_matrix = F.cosine_similarity(vec1, vec2.unsqueeze(1), dim=2)"}, language="en")
    path = tmp_path / "en" / "quiz_cosine.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    done = qc.run_nbgrader(["validate", str(path)], qc.ROOT, timeout=600)
    out = " ".join((done.stdout + done.stderr).split())
    assert "Success!" not in out and "VALIDATION FAILED ON 2 CELL(S)" in out, out[-3000:]
    assert "length (norm) of the whole matrix" in out and "rows and columns are swapped" in out, out[-3000:]
    # each failed cell's hint (the traceback above it quotes clipcourse/grading.py, whose source is bilingual)
    hints = re.findall(r"AssertionError: (\[quiz 1-[ab]\].*?)(?: \[ValidateApp| =====|$)", out)
    assert len(hints) == 2 and not any(re.search("[\uac00-\ud7a3]", h) for h in hints), hints or out[-3000:]
    results = validate(qc.notebook_path(qc.ROOT / "release", "quiz_cosine", "en"), invert=True)
    assert results == {}, f"release/quiz_cosine/en: tests pass without an answer: {results.get('passed')}"
