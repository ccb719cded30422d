"""Where the course keeps things: the one place that knows the folder layout.

Everything is found relative to this package, so a clone works without configuration.
``CLIP_COURSE_DATA`` overrides the data folder (the grading sandbox uses it).
"""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: The course's own CLIP checkpoint in Hugging Face format (DESIGN.md §3, step 3).
OFFLINE_MODEL_DIR = REPO_ROOT / "model" / "course-clip"


def data_dir() -> Path:
    """The folder with ``cat.jpg``, ``topk-image/``, ``gallery/`` and ``manifest.csv``."""
    override = os.environ.get("CLIP_COURSE_DATA")
    return Path(override).expanduser().resolve() if override else REPO_ROOT / "data"
