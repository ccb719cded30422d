"""Nothing in the course assumes the course model's sizes (128 px, patch 16, its widths).

A small randomly initialised CLIP with other shapes — 64 px crop after a 72 px resize, patch 8, tiny
widths, the lecture's projection 512 — is written with the course's tokenizer
(clipcourse.standin, the same writer as the real-size stand-in) and given to everything through
CLIP_MODEL, as an instructor would give the real model: the four lecture notebooks, a quiz graded by
the class autograder (reference cache, sandboxed kernel, hidden tests), and the instructor's
solvability check. Random weights make the scores meaningless, so only what must hold for ANY model
is checked: every cell runs, the shapes are the lecture's, the processor used the model's own sizes,
the solution of quiz_search gets every point, and the check names each target it misses.
"""
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from clipcourse import standin
from clipcourse.notebooks import execute

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
CROP, RESIZE, PATCH = 64, 72, 8
SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """The other-shape model folder, with CLIP_MODEL and a private reference cache set for the module."""
    root = tmp_path_factory.mktemp("other-shapes")
    folder = standin.write(root / "clip-64px", vision=dict(SMALL, image_size=CROP, patch_size=PATCH), text=SMALL,
                           projection_dim=512, resize=RESIZE, seed=1, log=lambda line: None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIP_MODEL", str(folder))
        mp.setenv("CLIP_COURSE_CACHE", str(root / "cache"))
        yield folder


def test_the_model_really_has_other_shapes(other_model):
    from transformers import CLIPConfig, CLIPProcessor

    course = CLIPConfig.from_pretrained(ROOT / "model" / "course-clip").vision_config
    ours = CLIPConfig.from_pretrained(other_model)
    processor = CLIPProcessor.from_pretrained(other_model).image_processor
    assert (ours.vision_config.image_size, ours.vision_config.patch_size) != (course.image_size, course.patch_size)
    assert ours.vision_config.hidden_size != course.hidden_size and ours.projection_dim == 512
    assert processor.size == {"shortest_edge": RESIZE} and processor.crop_size == {"height": CROP, "width": CROP}


def test_the_writer_is_deterministic(tmp_path):
    kwargs = dict(vision=dict(SMALL, image_size=32, patch_size=16), text=SMALL, seed=3, log=lambda line: None)
    first = standin.digest(standin.write(tmp_path / "a", **kwargs))
    assert standin.digest(standin.write(tmp_path / "b", **kwargs)) == first


def _stdout(nb):
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.output_type == "stream" and o.name == "stdout")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_lecture_notebook_runs_with_the_other_model(other_model, path):
    text = _stdout(execute(path))  # a failing cell fails here, naming the cell
    assert f"CLIP model: {other_model}" in text
    for shape in re.findall(r"pixel_values: torch\.Size\(\[(\d+), 3, (\d+), (\d+)\]\)", text):
        assert shape[1:] == (str(CROP), str(CROP)), f"{path.name}: pixel_values {shape} ignore the model's crop size"
    for rows, width in re.findall(r"embeddings?: torch\.Size\(\[(\d+), (\d+)\]\)", text):
        assert width == "512", f"{path.name}: an embedding of width {width}"
    if path.name.startswith("04"):
        assert f"'pixel_values': (10, 3, {CROP}, {CROP})" in text, "notebook 04 must build its model for the processor's size"


def test_quiz_search_graded_with_the_other_model_gets_every_point(other_model, tmp_path):
    from autograder.course import Course, Settings
    from autograder.grade import check_sandbox, grade_class
    from autograder.samples import course_copy

    try:
        check_sandbox()
        sandbox = True
    except Exception:
        sandbox = False
    course = Course(course_copy(ROOT, tmp_path / "course"))
    solution = nbformat.read(course.source / "quiz_search" / "quiz_search.ipynb", as_version=4)
    folder = tmp_path / "class" / "student-01" / "quiz_search"
    folder.mkdir(parents=True)
    nbformat.write(solution, folder / "quiz_search.ipynb")
    run = grade_class(tmp_path / "class", course.root, settings=Settings(jobs=1, sandbox=sandbox), log=lambda line: None)
    (result,) = run.results
    assert result["status"] == "graded", result
    tests = [g for g in result["grades"] if g["max_score"]]
    assert tests and all(g["auto_score"] == g["max_score"] for g in tests), result["grades"]
    graded = _stdout(nbformat.read(course.autograded / result["student"] / "quiz_search" / "quiz_search.ipynb",
                                   as_version=4))
    assert f"CLIP model: {other_model}" in graded  # the kernel used the model CLIP_MODEL named
    assert "Image Embedding's shape: (200, 512)" in graded and "Text Embedding's shape: (1, 512)" in graded


def test_check_quizzes_runs_and_names_each_target(other_model):
    done = subprocess.run([sys.executable, "-m", "clipcourse.check_quizzes"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    rows = re.findall(r"^  (ok  |MISS) quiz ([27]) ", done.stdout, re.M)
    assert len(rows) == 6, done.stdout + done.stderr  # quiz 2, and quiz 7's five pictures
    missed = sum(state == "MISS" for state, _ in rows)
    assert done.returncode == (1 if missed else 0), done.stdout + done.stderr
    for quiz in ("2", "7"):  # and it says per quiz, in words, whether this model can reach it
        assert re.search(rf"^quiz {quiz}: reachable .*: (yes|no) ", done.stdout, re.M), done.stdout
    assert "Traceback" not in done.stderr, done.stderr
