"""Every decision of the local class hub, in one place (hub/README.md explains them).

Standard library only: ``make hub`` runs this with the system Python before the hub's own
environment exists. Paths can be moved for tests with ``CLIP_HUB_PREFIX`` (everything the hub
writes outside the users' homes lives under it).
"""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HUB_DIR = REPO / "hub"

# ---- where things live ------------------------------------------------------------------------
PREFIX = Path(os.environ.get("CLIP_HUB_PREFIX", "/opt/clip-hub"))
VENV = Path(os.environ.get("CLIP_HUB_VENV", PREFIX / "venv"))                     # the hub's and every user's Python (mode 755: users run it)
PROXY_DIR = PREFIX / "proxy"                # npm's configurable-http-proxy
STATE = PREFIX / "state"                    # root only (700): hub database, secrets, logs, pid files
EXCHANGE = PREFIX / "exchange"              # nbgrader's exchange root (1777, as nbgrader asks)
SITE_JUPYTER = VENV / "etc" / "jupyter"     # "site-wide": read by every Jupyter process of this venv
# The boxed grader's job folders (TMPDIR while grading). In /tmp they are world-readable while a job runs
# (its boxed kernel's uid must reach them) and hold a copy of the gradebook, hidden tests included: here
# the parent is 711, so no student can list it to find a job folder's random name.
GRADING_TMP = PREFIX / "grading"

# ---- pinned versions: Python packages in hub/requirements.txt, the proxy in hub/package.json (+ lock) ----
PYTHON_VERSION = (3, 11)                    # the course's wheels (torch cp311) and requires-python
# What the course package is built from (pyproject.toml maps data/ and model/course-clip into it).
PACKAGE_FILES = ("pyproject.toml", "clipcourse", "autograder", "data", "model/course-clip")
PYTHON_CANDIDATES = ("/usr/bin/python3.11", "/usr/bin/python3", "/usr/local/bin/python3.11")

# ---- the class ------------------------------------------------------------------------------------
COURSE_ID = "clip-course"
COURSE_FOLDER = "clip-course"               # under the instructor's home, mode 700
ASSIGNMENTS = ("quiz_cosine", "quiz_topk", "quiz_search", "quiz_guess")
ROSTER = Path(os.environ.get("CLIP_HUB_ROSTER", HUB_DIR / "roster.txt"))
HOME_MODE = 0o700                           # Debian's useradd -m gives 755: other students could read
COURSE_MODE = 0o700                         # source/ (hidden tests) and gradebook.db live here
PASSWORD_BYTES = 9                          # generated passwords: 12 url-safe characters

# ---- network ------------------------------------------------------------------------------------
LOOPBACK = "127.0.0.1"
PORT = int(os.environ.get("CLIP_HUB_PORT", "8000"))


def internal_ports(port):
    """The hub's API and the proxy's API: the next two ports, on loopback only."""
    return port + 1, port + 2


# nbgrader's labextension plugins and server extensions a student must not see (nbgrader docs,
# "Advanced: hiding the instructor's menus"); the instructor gets them back in their own config.
INSTRUCTOR_LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                          "@jupyter/nbgrader:course-list")
INSTRUCTOR_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")

# What every user's server and kernels get (no network is assumed: the course model is offline).
USER_ENVIRONMENT = {"HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
