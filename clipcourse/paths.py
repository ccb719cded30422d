"""Where the course keeps things: the one place that knows the folder layout.

Everything is found relative to this package, so a clone works without configuration: in a checkout
(or ``pip install -e .``) the repository's ``data/`` and ``model/course-clip``; in an installed copy
(``pip install .``, as on a class hub) the same files shipped inside the package as ``_data`` and
``_model`` (pyproject.toml). ``CLIP_COURSE_DATA`` overrides the data folder (the grading sandbox uses it).
"""
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
#: True in a checkout of the repository; False for an installed copy, which carries its own files. Only data/ is
#: asked for: the grading sandbox shows a kernel the course's package, data and model, not the rest of the checkout.
IN_CHECKOUT = (REPO_ROOT / "data" / "manifest.csv").is_file()

#: The course's own CLIP checkpoint in Hugging Face format (DESIGN.md §3, step 3).
OFFLINE_MODEL_DIR = REPO_ROOT / "model" / "course-clip" if IN_CHECKOUT else PACKAGE_DIR / "_model"
_DATA_DIR = REPO_ROOT / "data" if IN_CHECKOUT else PACKAGE_DIR / "_data"


def data_dir() -> Path:
    """The folder with ``cat.jpg``, ``topk-image/``, ``gallery/`` and ``manifest.csv``."""
    override = os.environ.get("CLIP_COURSE_DATA")
    return Path(override).expanduser().resolve() if override else _DATA_DIR

