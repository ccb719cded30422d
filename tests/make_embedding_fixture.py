"""Writes tests/fixtures/course_clip_embeddings.json: the course CLIP's embeddings of a few course pictures and
texts, computed the lecture's way (processor as the notebooks load it, then the getattr line). The test
tests/test_embedding_fixture.py compares the running transformers to it within 1e-4, so the pinned 5.x (make test)
and 4.57.6 (.ci/other-transformers.sh) are held to one set of numbers.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python tests/make_embedding_fixture.py

Rerun it only when the course model (model/course-clip) changes; the test names the model file's digest.
"""
import hashlib
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipcourse import data  # noqa: E402
from clipcourse.models import features, load_processor  # noqa: E402
from clipcourse.paths import OFFLINE_MODEL_DIR  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "course_clip_embeddings.json"
PICTURES = ["cat.jpg", "topk-image/dog_0.png", "gallery/airplane_00.png", "gallery/airplane_01.png"]
TEXTS = ["A cat", "A dog is sleeping", "a red sports car", "A nuclear submarine", "a cup of coffee"]


def model_digest() -> str:
    return hashlib.sha256((OFFLINE_MODEL_DIR / "model.safetensors").read_bytes()).hexdigest()


def compute():
    """(input_ids, image embeddings, text embeddings) of PICTURES and TEXTS on the running transformers."""
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(OFFLINE_MODEL_DIR).eval()
    processor = load_processor(str(OFFLINE_MODEL_DIR))
    images = data.load_images([data.data_dir() / p for p in PICTURES])
    image_inputs = processor(images=images, return_tensors="pt", padding=True)
    text_inputs = processor(text=TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        image_embeddings = features(model.get_image_features(**image_inputs))
        text_embeddings = features(model.get_text_features(**text_inputs))
    return text_inputs["input_ids"].tolist(), image_embeddings.double(), text_embeddings.double()


def main():
    import transformers

    input_ids, image_embeddings, text_embeddings = compute()
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps({
        "computed_with": {"transformers": transformers.__version__, "torch": torch.__version__},
        "model_sha256": model_digest(),
        "pictures": PICTURES, "texts": TEXTS, "input_ids": input_ids,
        "image_embeddings": [[round(v, 7) for v in row] for row in image_embeddings.tolist()],
        "text_embeddings": [[round(v, 7) for v in row] for row in text_embeddings.tolist()],
    }, indent=0) + "\n")
    print(f"wrote {FIXTURE.relative_to(ROOT)} with transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
