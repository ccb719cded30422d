"""The course CLIP gives the same embeddings on transformers 5.x (the pin) and 4.57.6 (.ci/other-transformers.sh):
both are compared to one committed fixture, computed the lecture's way by tests/make_embedding_fixture.py."""
import json

import pytest
import torch

from make_embedding_fixture import FIXTURE, PICTURES, TEXTS, compute, model_digest

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def fixture():
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def computed():
    return compute()


def test_the_fixture_is_of_the_shipped_model(fixture):
    assert fixture["model_sha256"] == model_digest(), \
        "model/course-clip changed: rerun tests/make_embedding_fixture.py (its docstring says how)"
    assert fixture["pictures"] == PICTURES and fixture["texts"] == TEXTS


def test_the_tokenizer_gives_the_same_token_ids(fixture, computed):
    assert computed[0] == fixture["input_ids"]


@pytest.mark.parametrize("kind,index", [("image_embeddings", 1), ("text_embeddings", 2)])
def test_embeddings_match_the_fixture_within_1e_4(fixture, computed, kind, index):
    expected = torch.tensor(fixture[kind], dtype=torch.float64)
    got = computed[index]
    assert got.shape == expected.shape == (len(fixture["pictures" if kind.startswith("image") else "texts"]), 512)
    worst = (got - expected).abs().max().item()
    assert worst <= TOLERANCE, f"{kind}: max |difference| {worst:.2e} > {TOLERANCE} (fixture from " \
                               f"transformers {fixture['computed_with']['transformers']})"
    assert expected.abs().max().item() > 100 * TOLERANCE, "the fixture must hold real embeddings, not near-zeros"
