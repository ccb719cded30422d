"""The pinned environment, and the lecture's own code running as written under it (DESIGN.md §2)."""
import re
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

from clipcourse.models import choose_model, features

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"


def pins():
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if match:
            yield match.groups()


@pytest.mark.parametrize("package,pinned", list(pins()))
def test_installed_version_is_the_pinned_one(package, pinned):
    assert version(package).split("+")[0] == pinned, f"{package}: requirements.txt pins {pinned}, installed {version(package)}"


def test_the_pins_the_design_asks_for():
    pinned = dict(pins())
    assert pinned["torch"] == "2.13.0" and pinned["transformers"].startswith("5.") and pinned["nbgrader"] == "0.9.6"
    assert pinned["jupyterlab"].startswith("4.")


@pytest.fixture(scope="module")
def clip():
    name = choose_model(verbose=False)
    return CLIPModel.from_pretrained(name), CLIPProcessor.from_pretrained(name)


def test_lecture_image_features_are_a_tensor_of_shape_n_512(clip):
    model, processor = clip
    images = [Image.new("RGB", (120, 90), colour) for colour in ("red", "green", "blue")]
    image_inputs = processor(images=images, return_tensors="pt", padding=True)
    with torch.no_grad():
        features = model.get_image_features(**image_inputs)
    image_embeddings = getattr(features, "pooler_output", features)   # the lecture's line (notebook 01)
    assert isinstance(image_embeddings, torch.Tensor)
    assert image_embeddings.shape == (3, 512)


def test_lecture_text_features_are_a_tensor_of_shape_n_512(clip):
    model, processor = clip
    texts = ["A dog", "A cat", "A nuclear submarine"]
    text_inputs = processor(text=texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        features = model.get_text_features(**text_inputs)
    text_embeddings = getattr(features, "pooler_output", features)
    assert isinstance(text_embeddings, torch.Tensor)
    assert text_embeddings.shape == (3, 512)


def test_lecture_numpy_cosine_similarity_matches_torch(clip):
    # the lecture's function, as written there
    def cosine_similarity(vec1, vec2):
        dot_product = np.dot(vec1, vec2)
        norm_vec1 = np.linalg.norm(vec1)
        norm_vec2 = np.linalg.norm(vec2)
        return dot_product / (norm_vec1 * norm_vec2)

    model, processor = clip
    with torch.no_grad():
        a = features(model.get_text_features(**processor(text=["A cat"], return_tensors="pt", padding=True)))[0]
        b = features(model.get_text_features(**processor(text=["A dog"], return_tensors="pt", padding=True)))[0]
    expected = torch.nn.functional.cosine_similarity(a, b, dim=0).item()
    assert cosine_similarity(a.numpy(), b.numpy()) == pytest.approx(expected, abs=1e-5)
