"""clipcourse.search: exact values on tiny fixed embeddings (no model), and the folder cache with a stand-in model."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from clipcourse import search

# Three unit queries and four gallery rows in 2-D: easy to check by hand.
GALLERY = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])
SCORES = np.array([[0.9, 0.1, 0.5, 0.3],     # ranking 0, 2, 3, 1
                   [0.2, 0.2, 0.7, 0.2],     # ties: 2, then 0, 1, 3 (lower index first)
                   [0.0, 0.4, 0.1, 0.8]])    # ranking 3, 1, 2, 0
RELEVANT = np.array([[False, True, True, False],    # ranks 2 and 4
                     [False, True, False, False],   # rank 3 (tie broken by index)
                     [True, False, False, False]])  # rank 4


def test_ranking_is_stable_and_takes_k_larger_than_the_gallery():
    assert search.ranking([0.2, 0.2, 0.7, 0.2]).tolist() == [2, 0, 1, 3]
    assert search.ranking([0.2, 0.2, 0.7, 0.2], k=2).tolist() == [2, 0]
    assert search.ranking([0.5, 0.1], k=10).tolist() == [0, 1]
    assert search.ranking(np.r_[np.zeros(50), 1.0], k=3).tolist() == [50, 0, 1]


def test_recall_at_k_exact_values():
    # k=1: 0/2, 0/1, 0/1; k=2: 1/2, 0, 0; k=3: 1/2, 1, 0; k=4 (and 99): all found
    assert search.recall_at_k(SCORES, RELEVANT, 1) == 0.0
    assert search.recall_at_k(SCORES, RELEVANT, 2) == pytest.approx(1 / 6)
    assert search.recall_at_k(SCORES, RELEVANT, 3) == pytest.approx(0.5)
    assert search.recall_at_k(SCORES, RELEVANT, 4) == 1.0
    assert search.recall_at_k(SCORES, RELEVANT, 99) == 1.0
    assert search.recall_at_k(SCORES[0], RELEVANT[0], 2) == 0.5   # one query as 1-D rows


def test_mean_reciprocal_rank_exact_value():
    assert search.mean_reciprocal_rank(SCORES, RELEVANT) == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)
    assert search.mean_reciprocal_rank([[0.1, 0.9]], [[False, True]]) == 1.0


def test_measures_refuse_a_query_without_relevant_items_and_mismatched_shapes():
    with pytest.raises(ValueError, match="at least one relevant"):
        search.recall_at_k(SCORES, np.zeros_like(RELEVANT), 1)
    with pytest.raises(ValueError, match="same shape"):
        search.mean_reciprocal_rank(SCORES, RELEVANT[:, :3])


def test_search_in_any_direction_normalises_and_excludes_the_query():
    scores, rows = search.search([[2.0, 0.0]], GALLERY, k=2)     # unnormalised query: cosine all the same
    assert rows.tolist() == [[0, 2]] and np.allclose(scores, [[1.0, 0.6]])
    scores, rows = search.search(GALLERY[2], GALLERY * 5, k=3, exclude=2)   # image -> image leaves itself out
    assert rows.tolist() == [[1, 0, 3]] and np.allclose(scores, [[0.8, 0.6, -0.6]])
    _, rows = search.search(GALLERY, GALLERY, k=10, exclude=np.arange(4))   # k > gallery - 1: three each
    assert rows.shape == (4, 3) and all(i not in row for i, row in enumerate(rows.tolist()))


def test_prompt_ensemble_averages_unit_rows_then_normalises():
    class Texts:   # a stand-in model: "a X of a Y" -> a fixed vector per template, of different lengths
        def get_text_features(self, input_ids):
            return input_ids

    def processor(text, return_tensors, padding):
        table = {"a photo of a cat": [3.0, 0.0], "a drawing of a cat": [0.0, 0.5]}
        return {"input_ids": torch.tensor([table[t] for t in text])}

    out = search.ensemble(Texts(), processor, ["cat"], ["a photo of a {}", "a drawing of a {}"])
    assert out.shape == (1, 2) and np.allclose(out, [[2 ** -0.5, 2 ** -0.5]])   # not [0.986, 0.164]


def test_best_or_none_and_the_threshold():
    assert search.best_or_none([0.1, 0.3, 0.3], 0.25) == 1       # ties: the lower index
    assert search.best_or_none([0.1, 0.3], 0.3) == 1             # equal to the threshold: accepted
    assert search.best_or_none([0.1, 0.2], 0.25) is None
    assert search.threshold_between([0.30, 0.35, 0.20], [0.22, 0.25]) == pytest.approx(0.275)
    assert search.threshold_between([0.20], [0.25]) == pytest.approx(0.25 + 1e-6)   # no separating one: reject nonsense
    assert search.threshold_between([0.3, 0.4, 0.5, 0.21], [0.2, 0.22, 0.1]) == pytest.approx(0.26)   # one real lost


def test_features_takes_a_tensor_or_an_output_object():
    tensor = torch.ones(1, 3)

    class Output:
        pooler_output = tensor

    assert search.features(tensor) is tensor and search.features(Output()) is tensor


# ---- the folder cache -----------------------------------------------------------------------------
class CountingModel:
    """Embeds a picture as its mean colour; counts the pictures it saw."""
    seen = 0

    def get_image_features(self, pixel_values):
        CountingModel.seen += len(pixel_values)
        return pixel_values


def colour_processor(images, return_tensors, padding):
    return {"pixel_values": torch.tensor(np.array([np.asarray(im, np.float32).mean(axis=(0, 1)) + 1 for im in images]))}


@pytest.fixture
def folder(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9), (200, 100, 0)]):
        Image.new("RGB", (8, 8), colour).save(pictures / f"p{i}.png")
    (pictures / "notes.txt").write_text("not a picture, not even looked at")
    return pictures


def encode(folder, cache, model_id="m1"):
    CountingModel.seen = 0
    return search.encode_folder(folder, CountingModel(), colour_processor, model_id, cache=cache, batch_size=2,
                                progress=False)


def test_second_run_encodes_nothing_and_touching_one_file_encodes_one(folder, tmp_path):
    cache = tmp_path / "cache.npz"
    first = encode(folder, cache)
    assert (first.encoded, first.reused, CountingModel.seen, first.embeddings.shape) == (5, 0, 5, (5, 3))
    second = encode(folder, cache)
    assert (second.encoded, second.reused, CountingModel.seen) == (0, 5, 0)
    assert np.array_equal(second.embeddings, first.embeddings) and second.paths == first.paths
    Image.new("RGB", (8, 8), (0, 0, 0)).save(folder / "p1.png")
    os.utime(folder / "p1.png", ns=(1, 1))  # a changed file, even with an old modification time
    third = encode(folder, cache)
    assert (third.encoded, third.reused, CountingModel.seen) == (1, 4, 1)
    assert not np.allclose(third.embeddings[1], first.embeddings[1])


def test_another_model_re_encodes_everything(folder, tmp_path):
    encode(folder, tmp_path / "c.npz", "m1")
    again = encode(folder, tmp_path / "c.npz", "m2")
    assert (again.encoded, again.reused) == (5, 0)


def test_a_broken_picture_is_skipped_and_named(folder, tmp_path):
    (folder / "broken.jpg").write_bytes(b"this is no jpeg")
    found = encode(folder, tmp_path / "c.npz")
    assert [os.path.basename(p) for p, _ in found.skipped] == ["broken.jpg"]
    assert found.encoded == 5 and len(found.paths) == 5 and "broken.jpg" not in {p.name for p in found.paths}
    again = encode(folder, tmp_path / "c.npz")   # still named, still not cached as a picture
    assert [os.path.basename(p) for p, _ in again.skipped] == ["broken.jpg"] and again.reused == 5


def test_a_deleted_picture_leaves_the_results_and_a_bad_folder_is_named(folder, tmp_path):
    encode(folder, tmp_path / "c.npz")
    (folder / "p0.png").unlink()
    found = encode(folder, tmp_path / "c.npz")
    assert (found.encoded, found.reused, len(found.paths)) == (0, 4, 4)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        encode(tmp_path / "nowhere", None)
