"""nbgrader settings for the CLIP course. The folder holding this file is the course directory:
source/ (instructor notebooks), release/ (generated, committed), and the git-ignored submitted/,
autograded/, feedback/ and gradebook.db. Run nbgrader from the course's .venv so that kernels get
torch, transformers and clipcourse (jupyter_client starts a "python" kernel with nbgrader's Python).
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, IgnorePattern, LimitOutput,
                                    SaveAutoGrades)

from clipcourse.nbgrader_ext import StderrNotScored

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "clip-course"

# Loading CLIP and embedding 200 images on a laptop CPU takes minutes, not nbgrader's default 30 s;
# the setup cell may also compute the references once per model (clipcourse/reference.py).
c.Execute.timeout = 900
c.Execute.startup_timeout = 120

# A student who deleted a test cell gets it back (and is graded on it) instead of losing it silently.
c.OverwriteCells.add_missing_cells = True

# nbgrader's autograde chain with one addition right after execution: library warnings on stderr in
# a passing test cell are not scored as a failure (clipcourse/nbgrader_ext.py). The setup cell of
# each quiz also silences the known ones, which is what keeps `nbgrader validate` clean.
c.Autograde.autograde_preprocessors = [
    Execute,
    StderrNotScored,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
