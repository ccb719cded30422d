"""Quiz 8 (quiz_retrieval): the hidden checks, in-process, on the source's solutions and on faked or wrong answers,
called directly (as `nbgrader autograde` does in the kernel) and through the class grader's stand-in (the
function runs in a kernel-like namespace, its inputs and answer travel as plain data: verdict.py, values.py)."""
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import quizcourse as qc
from autograder import values, verdict
from clipcourse import grading

CHECKS = {"recall_at_k": grading.check_quiz8a, "mean_reciprocal_rank": grading.check_quiz8b,
          "similar_images": grading.check_quiz8c, "ensemble_embedding": grading.check_quiz8d,
          "match_or_none": grading.check_quiz8e}


@pytest.fixture
def armed(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    grading.setup("quiz_retrieval")
    yield
    grading._STATE.clear()


def solution_sources():
    """{function name: the source's answer cell up to its example (the def only), markers removed}."""
    found = {}
    for cell in qc.read(qc.notebook_path(qc.ROOT / "source", "quiz_retrieval")).cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            source = re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", cell.source, flags=re.M).split("\n\n\n")[0]
            found[re.match(r"def (\w+)", source).group(1)] = source
    return found


def define(source, name):
    namespace = {"torch": torch, "F": F}   # what the quiz's read-only cell imports
    exec(source, namespace)
    return namespace[name]


@pytest.fixture(scope="module")
def solutions():
    sources = solution_sources()
    assert set(sources) == set(CHECKS)
    return {name: define(source, name) for name, source in sources.items()}


def fails(check, function, match):
    with pytest.raises(AssertionError) as info:
        check(function)
    message = str(info.value)
    assert all(len(line) <= grading.MESSAGE_WIDTH for line in message.splitlines()), message
    assert re.search(match, " ".join(message.split())), f"{match!r} not in:\n{message}"


def test_the_solutions_get_every_check(armed, solutions):
    for name, check in CHECKS.items():
        check(solutions[name])


def remote(function):
    """The class grader's stand-in for ``function``: inputs encoded by the grader, decoded as a kernel does,
    the answer encoded by the kernel side and decoded by the grader."""
    def call_kernel(name, payload):
        args = [values._decode(item) for item in json.loads(payload)]
        try:
            return json.loads(values._reply({"ok": values.encode(function(*args))}))
        except Exception as error:
            return {"raised": f"{type(error).__name__}: {error}"}
    return verdict.Decoder(call_kernel=call_kernel).value({"t": "function", "name": function.__name__})


def test_the_solutions_get_every_check_through_the_class_graders_stand_in(armed, solutions):
    for name, check in CHECKS.items():
        check(remote(solutions[name]))


def test_the_grader_sends_relevance_masks_as_booleans():
    sent = values._decode(verdict.encode_argument(torch.tensor([[True, False]])))
    assert sent.dtype == torch.bool


def test_faked_answers_fail(armed):
    for name, check in CHECKS.items():
        fails(check, lambda *args: 0, "")
        fails(check, lambda *args: None, "")
    fails(grading.check_quiz8a, lambda scores, relevant, k: 0.5, "recall_at_k")
    fails(grading.check_quiz8b, lambda scores, relevant: 1.0, "mean_reciprocal_rank")
    fails(grading.check_quiz8c, lambda i, embeddings, k: list(range(k)), "similar_images")
    fails(grading.check_quiz8d, lambda rows: torch.zeros(rows.shape[1]), "ensemble_embedding")
    fails(grading.check_quiz8e, lambda query, rows, threshold: 0, "match_or_none")


def variant(solutions, name, old, new):
    """The solution with one piece changed: a mistake a student makes."""
    source = solution_sources()[name]
    assert old in source, (old, source)
    return define(source.replace(old, new), name)


def test_usual_mistakes_fail_with_what_went_wrong(armed, solutions):
    # ties: an unstable sort may happen to keep the order, so the mistake tried is the reversed tie order
    fails(grading.check_quiz8a, variant(solutions, "recall_at_k", "[:, :k]", "[:, :max(k - 1, 1)]"), "recall_at_k")
    fails(grading.check_quiz8a, variant(solutions, "recall_at_k", "torch.argsort(scores,", "torch.argsort(-scores.flip(1),"),
          "recall_at_k")
    fails(grading.check_quiz8b, variant(solutions, "mean_reciprocal_rank", "+ 1", "+ 0.5"), "answer is")
    fails(grading.check_quiz8c, variant(solutions, "similar_images", "unit = F.normalize(image_embeddings, dim=1)",
                                        "unit = image_embeddings"), "embeddings not of length 1")
    fails(grading.check_quiz8c, variant(solutions, "similar_images", 'similarities[query_index] = -float("inf")',
                                        "similarities[similarities > 0.9999] = -float('inf')"), "identical to the query")
    fails(grading.check_quiz8c, variant(solutions, "similar_images", "min(k, len(order) - 1)", "k"), "query picture")
    fails(grading.check_quiz8d, variant(solutions, "ensemble_embedding", "unit = F.normalize(template_embeddings, dim=1)",
                                        "unit = template_embeddings"), "before averaging")
    fails(grading.check_quiz8d, variant(solutions, "ensemble_embedding", "F.normalize(unit.mean(dim=0), dim=0)",
                                        "unit.mean(dim=0)"), "again")
    fails(grading.check_quiz8d, variant(solutions, "ensemble_embedding", "unit.mean(dim=0), dim=0", "unit.mean(dim=1), dim=0"),
          "shape")
    fails(grading.check_quiz8e, variant(solutions, "match_or_none", "F.cosine_similarity(query_embedding, image_embeddings)",
                                        "(query_embedding @ image_embeddings.T)[0]"), "match_or_none")
    fails(grading.check_quiz8e, variant(solutions, "match_or_none", "return None", "return -1"), "None")


def test_errors_and_stubs_are_named(armed):
    def stub(*args):
        raise NotImplementedError()

    fails(grading.check_quiz8a, stub, "raise NotImplementedError")
    fails(grading.check_quiz8a, lambda scores, relevant, k: scores.topk(k).values.mean().item(),   # k > gallery raises
          "k larger than the gallery|raised RuntimeError")
    fails(grading.check_quiz8c, "not a function", "def")


def test_class_grading_draws_other_random_probes(armed, solutions, monkeypatch):
    fixed = grading._quiz8_scores_probes()
    grading._STATE["probe_seed"] = "a secret"
    drawn = grading._quiz8_scores_probes()
    assert np.array_equal(fixed[0][0], drawn[0][0]) and not np.array_equal(fixed[-1][0], drawn[-1][0])
    for name, check in CHECKS.items():
        check(solutions[name])
