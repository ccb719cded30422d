"""Instructor check before class: does each reference answer of quizzes 2 and 7 reach its target?

    python -m clipcourse.check_quizzes [--model NAME]    (default: CLIP_MODEL, else the course's picker)

Quiz 2: the Top-3 of the reference query over the nine dogs must be the manifest's quiz2 dogs.
Quiz 7: each reference text's Top-1 over the 200 gallery images must be its picture.
The query and texts are read from the reference solution cells in source/ (the one place they live;
students' copies of the course never contain them).
Prints one line per target with its margin (how far ahead of the best wrong image it is) and exits
with status 1 when a target is missed, so the quizzes can be confirmed for any model (e.g. the real
openai/clip-vit-base-patch32) before they are released.
"""
import argparse
import json
import re
import sys

import numpy as np

from . import data, reference
from .models import choose_model
from .paths import REPO_ROOT

SOURCE = REPO_ROOT / "source"


def solution_value(assignment, grade_id, variable):
    """What the reference solution in source/ assigns to ``variable`` in its answer cell ``grade_id``."""
    path = SOURCE / assignment / f"{assignment}.ipynb"
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError) as error:
        raise reference.ReferenceError(f"{path}: cannot read the reference solution ({error}).") from None
    for cell in cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            region = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", "".join(cell["source"]), re.S)
            namespace = {}
            exec(region.group(1) if region else "", namespace)  # an instructor's own file: plain assignments
            if variable in namespace:
                return namespace[variable]
    raise reference.ReferenceError(f"{path}: no answer cell {grade_id!r} that sets {variable!r}.")


def quiz2_query():
    return solution_value("quiz_topk", "quiz2_answer", "text")[0]


def quiz7_texts():
    return solution_value("quiz_guess", "quiz7_answer", "texts")


def check(name):
    """[(quiz, target, text, reached, margin, detail)] for quizzes 2 and 7 under model ``name``."""
    refs = reference.load_or_build(name)
    files7, texts7, query2 = reference.quiz7_files(), quiz7_texts(), quiz2_query()
    embeddings = reference.embed_texts(name, [query2] + texts7)
    rows = []

    scores = reference.cosine(embeddings[:1], refs.dogs)[0]
    wanted = set(reference.quiz2_target_names())
    top3 = [refs.dog_names[i] for i in np.argsort(-scores, kind="stable")[:3]]
    inside = [s for n, s in zip(refs.dog_names, scores) if n in wanted]
    outside = [s for n, s in zip(refs.dog_names, scores) if n not in wanted]
    ranks = {refs.dog_names[i]: rank for rank, i in enumerate(np.argsort(-scores, kind="stable"), start=1)}
    rows.append(("quiz 2", ", ".join(sorted(wanted)), query2, set(top3) == wanted,
                 min(inside) - max(outside),
                 f"Top-3: {', '.join(top3)}; target ranks: {', '.join(f'{n} #{ranks[n]}' for n in sorted(wanted))}"))

    for file, text, row in zip(files7, texts7, reference.cosine(embeddings[1:], refs.gallery)):
        target = refs.gallery_names.index(file.split("/")[-1])
        best_other = max(s for i, s in enumerate(row) if i != target)
        top1 = refs.gallery_names[int(np.argmax(row))]
        rows.append(("quiz 7", file.split("/")[-1], text, top1 == file.split("/")[-1], row[target] - best_other,
                     f"Top-1: {top1}"))
    return rows, refs


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check that the reference answers of quizzes 2 and 7 reach their targets.")
    parser.add_argument("--model", help="model id or folder (default: CLIP_MODEL, else the course's picker)")
    args = parser.parse_args(argv)
    name = args.model or choose_model()
    try:
        rows, refs = check(name)
    except (reference.ReferenceError, data.CourseDataError) as error:
        sys.exit(f"check_quizzes: {error}")
    print(f"Solvability of quizzes 2 and 7 with {name}:")
    for quiz, target, text, reached, margin, detail in rows:
        print(f"  {'ok  ' if reached else 'MISS'} {quiz}  {target:<40} {text!r:<34} margin {margin:+.3f}  ({detail})")
    print(f"  info quiz 6  Top-1 of {reference.QUIZ5_TEXT!r}: {refs.quiz6_top1()}")
    for quiz in ("quiz 2", "quiz 7"):
        reached = [r[3] for r in rows if r[0] == quiz]
        print(f"{quiz}: reachable (by the reference answer) with this model: {'yes' if all(reached) else 'no'} "
              f"({sum(reached)} of {len(reached)} reached)")
    missed = sum(not r[3] for r in rows)
    if missed:
        print(f"{missed} of {len(rows)} targets missed: change the answers in the solution cells of "
              "source/quiz_topk and source/quiz_guess, the pictures marked in data/manifest.csv, or the model.")
        return 1
    print(f"all {len(rows)} targets reached.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
