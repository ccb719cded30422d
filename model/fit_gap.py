"""Does the student learn its training pictures by heart? (a diagnostic for the model card, training machine only)

For each checkpoint, the mean distance 1 - cos between the student's image embedding and the frozen
teacher's, on the clip-art drawings of each split (the drawings as they are, at the student's size)
and on the first 4,000 training icons. A large gap between the training drawings and validation
means the student memorises rather than learns what the teacher sees.

    .venv/bin/python model/fit_gap.py model/course-clip [model/cache/v8 ...]

It rebuilds the training data from model/cache/ (a few minutes), with train.py's default settings.
"""
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus                        # noqa: E402
import frozen_teacher as ft          # noqa: E402
import train                         # noqa: E402


def main(argv=None):
    checkpoints = (sys.argv[1:] if argv is None else argv) or [str(train.OUT)]
    from transformers import CLIPModel
    torch.set_num_threads(2)
    args = train.parse_args([])
    data, _, teacher = train.build_data(args, lambda m: None)
    meta, arrays = corpus.build(args.size, workers=2, log=lambda m: None)
    recs = meta["records"]
    feats = ft.pooled_features(teacher["net"], arrays["teacher_crops"][:len(recs)], train.CACHE / "pooled-openclipart.npy")
    target = ft.embed_features(teacher["model"], feats).numpy()
    n_train = sum(r["split"] == "train" for r in recs)
    for path in checkpoints:
        model = CLIPModel.from_pretrained(path).float().eval()
        dist = 1 - (train.embed_student_images(model, arrays["student"][:len(recs)]).numpy() * target).sum(1)
        parts = []
        for split in ("train", "val", "heldout"):
            rows = [i for i, r in enumerate(recs) if r["split"] == split]
            parts.append(f"{split} drawings {dist[rows].mean():.3f}")
        icons = slice(n_train, n_train + 4000)   # the drawings come first in the training pictures, then the icons
        icon_dist = 1 - (train.embed_student_images(model, data["pixels"][icons]).numpy() * data["image_targets"][icons]).sum(1)
        parts.append(f"training icons {icon_dist.mean():.3f}")
        print(f"{path}: distance to the teacher: " + ", ".join(parts), flush=True)


if __name__ == "__main__":
    main()
