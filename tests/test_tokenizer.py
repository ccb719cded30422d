"""The offline model carries CLIP's real BPE tokenizer: ids equal openai/clip-vit-base-patch32's."""
import json

import pytest
from transformers import CLIPProcessor, CLIPTokenizer

from clipcourse.paths import OFFLINE_MODEL_DIR

# Ids of openai/clip-vit-base-patch32's tokenizer (start 49406, end 49407).
KNOWN = {
    "A dog is sleeping": [49406, 320, 1929, 533, 6982, 49407],
    "a photo of a cat": [49406, 320, 1125, 539, 320, 2368, 49407],
    "A nuclear submarine": [49406, 320, 7279, 19968, 49407],
}


@pytest.fixture(scope="module")
def fast():
    return CLIPProcessor.from_pretrained(OFFLINE_MODEL_DIR).tokenizer


@pytest.fixture(scope="module")
def slow():
    return CLIPTokenizer.from_pretrained(OFFLINE_MODEL_DIR)


@pytest.mark.parametrize("text,ids", KNOWN.items())
def test_known_clip_ids(fast, slow, text, ids):
    assert fast(text)["input_ids"] == ids
    assert slow(text)["input_ids"] == ids


def test_vocabulary_is_clips(fast):
    vocab = json.loads((OFFLINE_MODEL_DIR / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == len(fast) == 49408
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    assert vocab["!"] == 0 and vocab["a</w>"] == 320


def test_fast_and_slow_agree_on_awkward_text(fast, slow):
    for text in ["Hello,   World!!  naïve café 123", "dog's head\tand\nnewline", "한국어 텍스트", ""]:
        assert fast(text)["input_ids"] == slow(text)["input_ids"]


def test_padding_and_length_limit(fast):
    batch = fast(["a", "a much longer sentence here"], padding=True)
    assert len(batch["input_ids"][0]) == len(batch["input_ids"][1])
    assert fast.model_max_length == 77
