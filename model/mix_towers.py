"""Which tower loses what the teacher knows? (a diagnostic for the model card, training machine only)

The student is distilled onto the teacher's image and text embeddings, so both live in one 512-d space
and their towers can be paired crosswise. Scores the gallery and the held-out clip art four ways:
student/student, teacher/teacher, student images with teacher texts, teacher images with student texts.

    .venv/bin/python model/mix_towers.py model/cache/frozen-teacher-<key>.pt [--model model/course-clip]

The teacher's head is the cached one of the run (model/cache/, written by train.py); the printed
"frozen teacher" line of that run's log names its validation figures.
"""
import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import evaluate                      # noqa: E402
import frozen_teacher                # noqa: E402
import teachers                      # noqa: E402
from train import TeacherEncoder     # noqa: E402


class Crosswise:
    """Images from one encoder, texts from another."""

    def __init__(self, images, texts):
        self.images, self.texts = images, texts

    def embed_images(self, images):
        return self.images.embed_images(images)

    def embed_texts(self, texts):
        return self.texts.embed_texts(texts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("teacher_head", type=Path, help="model/cache/frozen-teacher-<key>.pt of the run")
    ap.add_argument("--model", default=str(evaluate.CARD.parent))
    args = ap.parse_args(argv)
    head = frozen_teacher.FrozenTeacher()
    head.load_state_dict(torch.load(args.teacher_head)["weights"])
    student = evaluate.HFEncoder(args.model)
    teacher = TeacherEncoder(teachers.image_teacher(), head.eval(), frozen_teacher)
    sets = json.loads((HERE / "eval-sets.json").read_text())
    for name, enc in [("student images, student texts", student), ("teacher images, teacher texts", teacher),
                      ("student images, teacher texts", Crosswise(student, teacher)),
                      ("teacher images, student texts", Crosswise(teacher, student))]:
        gallery = evaluate.gallery_zero_shot(enc)["accuracy"]
        heldout = evaluate.heldout_retrieval(enc, sets)["R@5"]
        print(f"{name}: gallery zero-shot {gallery:.3f}, held-out R@5 {heldout:.3f}", flush=True)


if __name__ == "__main__":
    main()
