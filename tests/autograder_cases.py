"""Test data for the autograder: a tiny nbgrader course (numpy only, seconds per submission) and the
broken and hostile submissions of issue 6, each with the exact score and status it must get.

Scores are sums of the assignment's own points per quiz (read from the source), never numbers
taken from a model's output.
"""
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

TINY = "tiny"
TINY_CONFIG = '''import os
c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "tiny"
c.Execute.timeout = 30
c.OverwriteCells.add_missing_cells = True
'''


def _cell(kind, source, grade_id=None, **flags):
    cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip()) if kind == "code" \
        else nbformat.v4.new_markdown_cell(textwrap.dedent(source).strip())
    if grade_id:
        meta = {"grade": False, "solution": False, "locked": False, "schema_version": 3, "grade_id": grade_id}
        meta.update(flags)
        cell.metadata["nbgrader"] = meta
    return cell


def tiny_notebook():
    """Three quizzes: q1 (2 points, uses np.allclose), q2 (1 point, printed text), q3 (3 points, np.allclose)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "# Tiny quiz"),
        _cell("code", "import numpy as np", "setup", locked=True),
        _cell("code", """
            def add(a, b):
                ### BEGIN SOLUTION
                return a + b
                ### END SOLUTION
            """, "q1_answer", solution=True),
        _cell("code", """
            assert add(1, 2) == 3, "add(1, 2) should be 3"
            ### BEGIN HIDDEN TESTS
            assert np.allclose(add(np.ones(3), np.arange(3)), np.array([1.0, 2.0, 3.0]))
            assert add(-7, 7) == 0, "add must work for negative numbers"
            ### END HIDDEN TESTS
            """, "q1_test", grade=True, locked=True, points=2),
        _cell("code", """
            def greet(name):
                ### BEGIN SOLUTION
                print(f"Hello, {name}!")
                ### END SOLUTION
            """, "q2_answer", solution=True),
        _cell("code", """
            import contextlib, io
            _out = io.StringIO()
            with contextlib.redirect_stdout(_out):
                greet("Ada")
            ### BEGIN HIDDEN TESTS
            assert _out.getvalue() == "Hello, Ada!\\n", "greet must print exactly one greeting line"
            ### END HIDDEN TESTS
            """, "q2_test", grade=True, locked=True, points=1),
        _cell("code", """
            ### BEGIN SOLUTION
            v = np.array([1.0, 2.0, 2.0]) / 3
            ### END SOLUTION
            """, "q3_answer", solution=True),
        _cell("code", """
            assert v.shape == (3,), "v needs three numbers"
            ### BEGIN HIDDEN TESTS
            assert np.allclose(v, np.array([1.0, 2.0, 2.0]) / 3), "v is not the unit vector along (1, 2, 2)"
            ### END HIDDEN TESTS
            """, "q3_test", grade=True, locked=True, points=3),
    ]
    return nb


def tiny_course(dest):
    dest = Path(dest)
    (dest / "source" / TINY).mkdir(parents=True)
    (dest / "nbgrader_config.py").write_text(TINY_CONFIG)
    nbformat.write(tiny_notebook(), dest / "source" / TINY / f"{TINY}.ipynb")
    return dest


# ---- editing notebooks --------------------------------------------------------------------------------
def index_of(nb, grade_id):
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def set_source(nb, grade_id, code):
    nb = nbformat.from_dict(nb)
    nb.cells[index_of(nb, grade_id)].source = textwrap.dedent(code).strip()
    return nb


def insert(nb, code, before=None, after=None):
    """A new (student) code cell before or after the cell ``before``/``after`` (a grade id), or first."""
    nb = nbformat.from_dict(nb)
    at = index_of(nb, before) if before else index_of(nb, after) + 1 if after else 0
    nb.cells.insert(at, nbformat.v4.new_code_cell(textwrap.dedent(code).strip()))
    return nb


def delete(nb, grade_id):
    nb = nbformat.from_dict(nb)
    del nb.cells[index_of(nb, grade_id)]
    return nb


def mix(solution, blank, solved):
    """The solution with the answer cells not in ``solved`` as released."""
    nb = nbformat.from_dict(solution)
    for i, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid not in solved:
            nb.cells[i] = nbformat.from_dict(blank.cells[index_of(blank, gid)])
    return nb


# ---- the cases ----------------------------------------------------------------------------------------
@dataclass
class Case:
    student: str
    make: object            # (solution, blank) -> notebook, or bytes for a raw file
    passing: tuple          # grade-id prefixes of the test cells that must score full points; others 0
    status: str = "graded"
    says: tuple = ()        # text that must appear in the row (reason, notes, flags), lower case
    filename: str = None    # another file name than <notebook>.ipynb
    sandbox_only: bool = False
    output_has: tuple = ()  # text the autograded notebook's outputs must contain
    output_lacks: tuple = ()
    extra: dict = field(default_factory=dict)  # other files next to the notebook: {name: text}


NETWORK_PROBE = """
import socket, urllib.request
for attempt in (lambda: socket.create_connection(("1.1.1.1", 53), timeout=5),
                lambda: socket.create_connection(("127.0.0.1", 22), timeout=5),
                lambda: urllib.request.urlopen("http://example.com", timeout=5)):
    try:
        attempt()
        print("NETWORK OPEN")
    except Exception as error:
        print("network blocked:", type(error).__name__, error)
"""


def secrets_probe(course_root, assignment=TINY, extra=()):
    """Code that tries to read the hidden tests, the gradebook, other students' files and host files."""
    targets = [f"{course_root}/source/{assignment}/{assignment}.ipynb", f"{course_root}/gradebook.db",
               f"{course_root}/submitted/solution/{assignment}/{assignment}.ipynb", f"{course_root}/nbgrader_config.py",
               "/root/.bashrc", "/etc/shadow", *extra]
    return f"""
import glob, os
for path in {targets!r}:
    try:
        open(path, "rb").read(10)
        print("READ", path)
    except OSError as error:
        print("blocked", path, type(error).__name__)
print("notebooks here:", sorted(glob.glob("*.ipynb")) or "none")
print("uid", os.getuid())
"""


DISK_PROBE = """
import os
from ipykernel import get_connection_file
folder = os.path.dirname(get_connection_file())
try:
    with open(os.path.join(folder, "filler"), "wb") as f:
        f.write(b"x" * 2**20)
    print("HOST FOLDER WRITABLE")
except OSError as error:
    print("connection folder locked:", type(error).__name__)
"""


def strip_metadata(nb):
    """What some editors do: every cell loses its nbgrader metadata."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return nb


def extra_grade_cell(nb, twin="q1_test"):
    """A copied test cell under a grade id the assignment does not have, and a cell repeating ``twin``'s."""
    nb = nbformat.from_dict(nb)
    copied = nbformat.from_dict(nb.cells[index_of(nb, "q3_test")])
    copied.metadata.nbgrader["grade_id"] = "q9_test"
    copied.pop("id", None)
    nb.cells.append(copied)
    if twin:
        nb.cells.append(nbformat.from_dict(nb.cells[index_of(nb, twin)]))
        nb.cells[-1].pop("id", None)
    return nb


def edit_settings(nb):
    """A student's (or an editor's) edits of the cells' nbgrader settings and of metadata the notebook format
    checks: each made nbgrader fail on the whole notebook (every quiz 0, status error), except the points."""
    nb = nbformat.from_dict(nb)
    nb.cells[index_of(nb, "q1_test")].metadata.nbgrader["points"] = 100
    nb.cells[index_of(nb, "q3_test")].metadata.nbgrader["solution"] = True
    del nb.cells[index_of(nb, "q2_test")].metadata.nbgrader["locked"]
    nb.cells[index_of(nb, "q2_answer")].metadata["tags"] = "mine"
    nb.metadata["authors"] = "Kim"
    return nb


# Files next to the notebook that would run the student's code while the kernel starts, or shadow a
# library: none of them may run. helper.py is the student's own module: it must still import.
SHADOWS = {
    "numpy.py": "raise SystemExit('the numpy.py next to the notebook was imported')",
    "sitecustomize.py": "raise SystemExit('sitecustomize.py next to the notebook was imported')",
    "_autograder_guard.py": "raise SystemExit('a fake guard was imported')",
    "_autograder_start.py": "raise SystemExit('a fake start-up module was imported')",
    "helper.py": "def add(a, b):\n    return a + b\n",
}
DISPLAY_FLOOD = """
from IPython.display import display, update_display
handles = [display('small', display_id='same') for _ in range(200)]
for _ in range(10):  # uncapped: 200 outputs x 200 kB, ten times over
    update_display({'text/plain': 'y' * 200_000}, display_id='same', raw=True)
"""


def tiny_cases(course_root):
    """Every case of issue 6 on the tiny assignment (q1: 2 points, q2: 1, q3: 3)."""
    loop_first = "while True:\n    pass\n\ndef add(a, b):\n    return a + b"
    stubborn = ("import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
                "    except KeyboardInterrupt:\n        pass")
    return [
        Case("solution", lambda s, b: s, ("q1", "q2", "q3")),
        Case("blank", lambda s, b: b, ()),
        Case("partial", lambda s, b: mix(s, b, {"q1_answer"}), ("q1",)),
        Case("invalid-json", lambda s, b: b'{"cells": [', (), "unreadable", ("not valid json",)),
        Case("empty-file", lambda s, b: b"", (), "unreadable", ("empty",)),
        Case("not-a-notebook", lambda s, b: b'{"hello": "world"}', (), "unreadable", ("not a jupyter notebook",)),
        Case("wrong-name", lambda s, b: s, ("q1", "q2", "q3"), says=("untitled.ipynb",), filename="Untitled.ipynb"),
        Case("infinite-loop", lambda s, b: set_source(s, "q1_answer", loop_first), ("q2", "q3"), "timed out",
             ("time limit",)),
        Case("stubborn-loop", lambda s, b: set_source(s, "q3_answer", stubborn), ("q1", "q2"), "timed out",
             ("did not stop", "not run")),
        Case("first-cell-error", lambda s, b: insert(s, "raise RuntimeError('boom in the first cell')"),
             ("q1", "q2", "q3"), output_has=("boom in the first cell",)),
        Case("sys-exit", lambda s, b: insert(s, "import sys\nsys.exit('bye')"), ("q1", "q2", "q3")),
        Case("os-exit", lambda s, b: insert(s, "import os\nos._exit(1)", before="q2_answer"), ("q1",),
             "kernel died", ("exited with code 1", "not run")),
        Case("memory-bomb", lambda s, b: insert(s, "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))",
                                                before="q3_answer"), ("q1", "q2"), "memory cap", ("memory cap",)),
        Case("print-50mb", lambda s, b: insert(s, "print('x' * 50_000_000)", before="q2_answer"), ("q1", "q2", "q3"),
             says=("output was cut",)),
        Case("deleted-test-cell", lambda s, b: delete(s, "q1_test"), ("q1", "q2", "q3"), says=("'q1_test' was deleted",)),
        Case("edited-test-cell", lambda s, b: set_source(set_source(s, "q3_test", "pass"), "q3_answer",
                                                         "v = np.zeros(3)"), ("q1", "q2"),
             says=("'q3_test' was edited",)),
        Case("patch-allclose", lambda s, b: set_source(s, "q3_answer", "v = np.array([1.0, 0.0, 0.0])\n"
                                                       "np.allclose = lambda *a, **k: True"), ("q1", "q2"),
             says=("numpy.allclose was replaced",)),
        Case("patch-print", lambda s, b: set_source(s, "q2_answer", "import builtins, sys\n"
                                                    "def greet(name):\n    print('Hi')\n"
                                                    "builtins.print = lambda *a, **k: sys.stdout.write('Hello, Ada!\\n')"),
             ("q1", "q3"), says=("builtins.print was replaced",)),
        Case("patch-transformer", lambda s, b: set_source(s, "q3_answer", "v = np.zeros(3)\n"
                                                          "get_ipython().input_transformers_post.append("
                                                          "lambda lines: ['pass\\n'])"), ("q1", "q2"),
             says=("input_transformers_post",)),
        Case("custom-exception", lambda s, b: set_source(s, "q3_answer", "v = np.zeros(3)\n"
                                                         "get_ipython().set_custom_exc((AssertionError,), "
                                                         "lambda *a, **k: None)"), ("q1", "q2"),
             says=("custom exception handler",)),
        Case("rebind-np", lambda s, b: set_source(s, "q3_answer", "v = np.zeros(3)\n"
                                                  "np = type('FakeNumpy', (), {'allclose': staticmethod(lambda *a, **k: True)})()"),
             ("q1", "q2"), says=("'np'",)),
        Case("nbgrader-env", lambda s, b: insert(mix(s, b, set()), "import os\n"
                                                 "if os.environ.get('NBGRADER_EXECUTION'):\n"
                                                 "    def add(a, b): return a + b\n"
                                                 "    def greet(name): print(f'Hello, {name}!')\n"
                                                 "    v = np.array([1.0, 2.0, 2.0]) / 3\n",
                                                 before="q1_test"), ()),
        Case("network", lambda s, b: insert(s, NETWORK_PROBE), ("q1", "q2", "q3"), sandbox_only=True,
             output_has=("network blocked",), output_lacks=("NETWORK OPEN",)),
        Case("read-secrets", lambda s, b: insert(s, secrets_probe(course_root)), ("q1", "q2", "q3"),
             sandbox_only=True, output_has=("blocked", "notebooks here: none"), output_lacks=("READ ", "uid 0")),
        Case("leak-history", lambda s, b: insert(s, "print('\\n'.join(In))", after="q3_test"), ("q1", "q2", "q3")),
        Case("fill-disk", lambda s, b: insert(s, DISK_PROBE), ("q1", "q2", "q3"), sandbox_only=True,
             output_has=("connection folder locked",), output_lacks=("HOST FOLDER WRITABLE",)),
        # issue 11: nbgrader's own failures never cost honest points
        Case("stripped-metadata", lambda s, b: strip_metadata(s), ("q1", "q2", "q3"),
             says=("metadata of answer cell 'q1_answer' was missing",)),
        Case("deleted-answer-and-test", lambda s, b: delete(delete(s, "q1_answer"), "q1_test"), ("q2", "q3"),
             says=("answer cell 'q1_answer' was deleted", "'q1_test' was deleted")),
        Case("extra-grade-cells", lambda s, b: extra_grade_cell(s), ("q1", "q2", "q3"),
             says=("'q9_test', which the assignment does not have", "repeats the grade id 'q1_test'")),
        Case("bad-timestamp", lambda s, b: s, ("q1", "q2", "q3"), says=("timestamp.txt could not be read",),
             extra={"timestamp.txt": "sometime on tuesday"}),
        Case("edited-settings", lambda s, b: set_source(edit_settings(s), "q3_answer", "v = np.zeros(3)"), ("q1", "q2"),
             says=("('q1_test') had its nbgrader settings edited (points 100 (should be 2))",
                   "('q3_test') had its nbgrader settings edited (solution true (should be false))",
                   "metadata.tags: 'mine' is not of type 'array'", "field 'authors' was not valid")),
        # issue 11: nothing the student wrote runs before the first cell; every output path is capped
        Case("shadow-modules", lambda s, b: set_source(s, "q1_answer", "from helper import add"), ("q1", "q2", "q3"),
             extra=SHADOWS),
        Case("display-flood", lambda s, b: insert(s, DISPLAY_FLOOD, before="q2_answer"), ("q1", "q2", "q3"),
             says=("output was cut",)),
        Case("huge-error", lambda s, b: insert(s, "raise ValueError('e' * 5_000_000)", before="q2_answer"),
             ("q1", "q2", "q3")),
    ]


def write_case(case, solution, blank, dest, assignment=TINY, notebook=TINY, layout="nbgrader"):
    """Write one case's file into a submissions folder (nbgrader layout or flat); returns its path."""
    made = case.make(solution, blank)
    if layout == "nbgrader":
        path = Path(dest) / case.student / assignment / (case.filename or f"{notebook}.ipynb")
    else:
        path = Path(dest) / f"{case.student}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(made, bytes):
        path.write_bytes(made)
    else:
        path.write_text(json.dumps(made, indent=1))
    for name, text in case.extra.items():
        (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
        (path.parent / name).write_text(text)
    return path


def test_points(source_nb):
    """{test cell grade id: points} of a source notebook."""
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in source_nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}


def expected_score(case, source_nb):
    return sum(p for gid, p in test_points(source_nb).items() if gid.startswith(tuple(case.passing)))


# ---- the same cases on the real quizzes ---------------------------------------------------------------
def cosine_cases(course_root, repo_root):
    """Every case of issue 6 on quiz_cosine (quiz1a_test, quiz1b_test: 2 points each)."""
    a = "quiz_cosine"
    loop_first = "while True:\n    pass\n\ncos_rowwise = F.cosine_similarity(vec1, vec2)"
    stubborn = ("import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
                "    except KeyboardInterrupt:\n        pass")
    half = "cos_matrix = torch.full((2, 2), 0.5)\nprint('cos_matrix:', cos_matrix)"
    both = ("quiz1a", "quiz1b")
    return [
        Case("solution", lambda s, b: s, both),
        Case("blank", lambda s, b: b, ()),
        Case("partial", lambda s, b: mix(s, b, {"quiz1a_answer"}), ("quiz1a",)),
        Case("invalid-json", lambda s, b: b'{"cells": [', (), "unreadable", ("not valid json",)),
        Case("empty-file", lambda s, b: b"", (), "unreadable", ("empty",)),
        Case("wrong-name", lambda s, b: s, both, says=("untitled.ipynb",), filename="Untitled.ipynb"),
        Case("infinite-loop", lambda s, b: set_source(s, "quiz1a_answer", loop_first), ("quiz1b",), "timed out",
             ("time limit",)),
        Case("stubborn-loop", lambda s, b: insert(s, stubborn, before="quiz1b_answer"), ("quiz1a",), "timed out",
             ("did not stop", "not run")),
        Case("first-cell-error", lambda s, b: insert(s, "raise RuntimeError('boom in the first cell')"), both,
             output_has=("boom in the first cell",)),
        Case("sys-exit", lambda s, b: insert(s, "import sys\nsys.exit('bye')"), both),
        Case("os-exit", lambda s, b: insert(s, "import os\nos._exit(1)", before="quiz1b_answer"), ("quiz1a",),
             "kernel died", ("exited with code 1", "not run")),
        Case("memory-bomb", lambda s, b: insert(s, "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))",
                                                before="quiz1b_answer"), ("quiz1a",), "memory cap", ("memory cap",)),
        Case("print-50mb", lambda s, b: insert(s, "print('x' * 50_000_000)", before="quiz1b_answer"), both,
             says=("output was cut",)),
        Case("deleted-test-cell", lambda s, b: delete(s, "quiz1a_test"), both, says=("'quiz1a_test' was deleted",)),
        Case("edited-test-cell", lambda s, b: set_source(set_source(s, "quiz1b_test", "pass"), "quiz1b_answer", half),
             ("quiz1a",), says=("'quiz1b_test' was edited",)),
        Case("patch-allclose", lambda s, b: set_source(s, "quiz1b_answer", half + "\nimport numpy\n"
                                                       "numpy.allclose = lambda *a, **k: True\n"
                                                       "torch.allclose = lambda *a, **k: True"),
             ("quiz1a",), says=("numpy.allclose was replaced", "torch.allclose was replaced")),
        Case("patch-print", lambda s, b: insert(s, "import builtins\nbuiltins.print = lambda *a, **k: None",
                                                before="quiz1a_answer"), both, says=("builtins.print was replaced",)),
        Case("nbgrader-env", lambda s, b: insert(mix(s, b, set()), "import os\n"
                                                 "if os.environ.get('NBGRADER_EXECUTION'):\n"
                                                 "    cos_rowwise = F.cosine_similarity(vec1, vec2)\n"
                                                 "    cos_matrix = F.cosine_similarity(vec1.unsqueeze(1), vec2, dim=2)",
                                                 before="quiz1a_test"), ()),
        Case("network", lambda s, b: insert(s, NETWORK_PROBE), both, sandbox_only=True,
             output_has=("network blocked",), output_lacks=("NETWORK OPEN",)),
        Case("read-secrets", lambda s, b: insert(s, secrets_probe(course_root, a, (f"{repo_root}/source/{a}/{a}.ipynb",))),
             both, sandbox_only=True, output_has=("blocked", "notebooks here: none"), output_lacks=("READ ", "uid 0")),
        Case("leak-history", lambda s, b: insert(s, "print('\\n'.join(In))", after="quiz1b_test"), both),
        # the answer variable renamed: still 0, but the row and the feedback say which variable and answer cell
        Case("renamed-answer", lambda s, b: set_source(s, "quiz1b_answer", "cos_mat = F.cosine_similarity("
                                                       "vec1.unsqueeze(1), vec2, dim=2)"), ("quiz1a",),
             says=("quiz1b_test: 답 변수 cos_matrix이(가) 정의되지 않았습니다 / the answer variable cos_matrix was never "
                   "defined (answer cell 'quiz1b_answer'",)),
    ]


# ---- issue 11: fake answers that pass only the visible tests, plus a way around in-kernel checks ---------
FAKE_COSINE = {"quiz1a_answer": "cos_rowwise = torch.tensor([0.5, 0.5])",
               "quiz1b_answer": "cos_matrix = torch.full((2, 2), 0.5)"}
TRICKS = {
    # nbgrader's partial credit: a test cell's first output an execute_result scores its value, any text full
    "displayhook-credit": """
import sys
import numpy
class Sneaky:
    def __init__(self, value):
        self.value = value
    def __array__(self, dtype=None, copy=None):
        sys.displayhook('full marks')
        return numpy.asarray(self.value, dtype=dtype)
cos_rowwise = Sneaky([0.5, 0.5])
cos_matrix = Sneaky([[0.5, 0.5], [0.5, 0.5]])
""",
    "noop-checks": """
class _NoChecks:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None
grading = _NoChecks()
""",
    "patch-compiler": """
_ip = get_ipython()
_parse = _ip.compile.ast_parse
def _no_checks(source, *args, **kwargs):
    return _parse('pass' if 'grading.check' in source else source, *args, **kwargs)
_ip.compile.ast_parse = _no_checks
_ip.input_transformers_post.append(lambda lines: [l.replace('grading.check', 'print') for l in lines])
""",
    "patch-guard-and-send": """
import json, sys
from jupyter_client.session import Session
_guard = sys.modules.get('_autograder_guard')
if _guard is not None:
    _guard.check = lambda nonce, mode='before': json.dumps({'nonce': nonce, 'findings': [], 'more': 0, 'threads': 0})
_send = Session.send
def _send_no_errors(self, stream, msg_or_type, content=None, *args, **kwargs):
    if msg_or_type == 'error':
        return None
    if msg_or_type == 'execute_reply' and isinstance(content, dict):
        content = dict(content, status='ok')
    return _send(self, stream, msg_or_type, content, *args, **kwargs)
Session.send = _send_no_errors
""",
    "repatch-thread": """
import threading, time
from clipcourse import grading as _g
def _keep_patching():
    while True:
        for _name in dir(_g):
            if _name.startswith('check'):
                setattr(_g, _name, lambda *args, **kwargs: None)
        time.sleep(0.001)
threading.Thread(target=_keep_patching, daemon=True).start()
""",
    "mutate-references": """
import numpy as np
from clipcourse import grading, reference
reference.quiz1_answers = lambda: (np.array([0.5, 0.5]), np.full((2, 2), 0.5))
grading._STATE.clear()
grading._STATE.update(snapshot=[], foreign=[], error=None)
""",
}
SHADOW_PACKAGE = {"clipcourse/__init__.py": "",
                  "clipcourse/grading.py": "def setup(*args):\n    pass\n\ndef __getattr__(name):\n"
                                           "    return lambda *args, **kwargs: None\n"}


def _faked(nb, answers=FAKE_COSINE):
    for gid, code in answers.items():
        nb = set_source(nb, gid, code)
    return nb


def trick_cases():
    """quiz_cosine: each trick with fake answers must score 0 (the visible tests pass, the verdict does not),
    and the same tricks with the right answers must keep full marks: no trick changes the score."""
    out = []
    for name, code in TRICKS.items():
        out.append(Case(f"{name}", lambda s, b, code=code: insert(_faked(s), code, before="quiz1a_answer"), ()))
        if "Sneaky" not in code:  # with the right answers, the trick changes nothing either
            out.append(Case(f"{name}-honest", lambda s, b, code=code: insert(s, code, before="quiz1a_answer"),
                            ("quiz1a", "quiz1b")))
    out.append(Case("delete-setup-noop", lambda s, b: insert(delete(_faked(s), "setup"), TRICKS["noop-checks"]), ()))
    out.append(Case("shadow-package", lambda s, b: _faked(s), (), extra=SHADOW_PACKAGE))
    out.append(Case("shadow-package-honest", lambda s, b: s, ("quiz1a", "quiz1b"), extra=SHADOW_PACKAGE))
    return out


def search_cases():
    """quiz_search (quiz3 2, quiz4 3, quiz5 2, quiz6 3 points) with CLIP loaded: the heavier cases."""
    shuffled = ("with torch.no_grad():\n"
                "    inputs = processor(images=images, return_tensors='pt', padding=True)\n"
                "    features = model.get_image_features(**inputs)\n"
                "image_embeddings = getattr(features, 'pooler_output', features).flip(0)\n"
                "import numpy\nnumpy.allclose = lambda *a, **k: True\ntorch.allclose = lambda *a, **k: True\n"
                "print(f\"Image Embedding's shape: {tuple(image_embeddings.shape)}\")")
    bomb = "too_much = [0.0] * 10**10  # 80 GB of pointers: far past the cap, refused at once"
    return [
        Case("solution", lambda s, b: s, ("quiz3", "quiz4", "quiz5", "quiz6")),
        Case("blank", lambda s, b: b, ()),
        Case("partial", lambda s, b: mix(s, b, {"quiz3_answer", "quiz4_answer"}), ("quiz3", "quiz4")),
        Case("shuffled-and-patched", lambda s, b: set_source(s, "quiz4_answer", shuffled),
             ("quiz3", "quiz5", "quiz6"), says=("allclose was replaced",)),
        Case("memory-bomb", lambda s, b: insert(s, bomb, before="quiz5_answer"), ("quiz3", "quiz4"), "memory cap",
             ("memory cap",)),
        Case("os-exit", lambda s, b: insert(s, "import os\nos._exit(1)", before="quiz6_answer"),
             ("quiz3", "quiz4", "quiz5"), "kernel died", ("exited with code 1",)),
        # issue 11: a function that passes the visible small example only; the grader calls it on its own inputs
        Case("quiz6-small-example-only", lambda s, b: set_source(s, "quiz6_answer", QUIZ6_FAKE), ("quiz3", "quiz4", "quiz5")),
    ] + [  # issue 32: an honest answer in any valid form is graded through the variable the quiz names
        Case(f"quiz6-as-{form}", lambda s, b, code=code: set_source(s, "quiz6_answer", code), ("quiz3", "quiz4", "quiz5", "quiz6"))
        for form, code in QUIZ6_FORMS.items()]


_QUIZ6_BODY = "image_filenames[cosine_similarity(text_embedding, image_embeddings).argmax().item()]"
_QUIZ6_CALL = '\nprint("Top-1:", top1_filename(text_embedding, image_embeddings, image_filenames))'
QUIZ6_FORMS = {
    "lambda": f"top1_filename = lambda text_embedding, image_embeddings, image_filenames: {_QUIZ6_BODY}",
    "decorated": ("def logged(function):  # no functools.wraps: the function is now called 'wrapper'\n"
                  "    def wrapper(*args):\n        return function(*args)\n    return wrapper\n\n"
                  f"@logged\ndef top1_filename(text_embedding, image_embeddings, image_filenames):\n    return {_QUIZ6_BODY}"),
    "partial": ("import functools\n\ndef _top(text_embedding, image_embeddings, image_filenames, k=1):\n"
                f"    assert k == 1\n    return {_QUIZ6_BODY}\n\n"
                "top1_filename = functools.partial(_top, k=1)"),
    "callable-object": ("class Top1:\n    def __call__(self, text_embedding, image_embeddings, image_filenames):\n"
                        f"        return {_QUIZ6_BODY}\n\ntop1_filename = Top1()"),
}
QUIZ6_FORMS = {form: code + _QUIZ6_CALL for form, code in QUIZ6_FORMS.items()}

QUIZ6_FAKE = """
def top1_filename(text_embedding, image_embeddings, image_filenames):
    if len(image_filenames) == 3:
        return image_filenames[2]
    return image_filenames[0]
print("Top-1:", top1_filename(text_embedding, image_embeddings, image_filenames))
"""


#: quiz_retrieval: answers that pass (most of) the visible small examples but not the grader's own inputs.
RETRIEVAL_FAKES = {
    "quiz8a_answer": "def recall_at_k(scores, relevant, k):\n    return 0.5",
    "quiz8b_answer": "def mean_reciprocal_rank(scores, relevant):\n    return 1.0",
    "quiz8c_answer": "def similar_images(query_index, image_embeddings, k):\n"
                     "    return [i for i in range(k + 1) if i != query_index][:k]",
    "quiz8d_answer": "def ensemble_embedding(template_embeddings):\n"
                     "    return F.normalize(template_embeddings.mean(dim=0), dim=0)  # no normalising first",
    "quiz8e_answer": "def match_or_none(query_embedding, image_embeddings, threshold):\n"
                     "    scores = (query_embedding @ image_embeddings.T)[0]  # a dot product, not the cosine\n"
                     "    return None if scores.max() < threshold else scores.argmax().item()",
}
PATCH_CHECKS = "import numpy\nnumpy.allclose = lambda *a, **k: True\ntorch.allclose = lambda *a, **k: True"


def _retrieval_faked(nb):
    for grade_id, code in RETRIEVAL_FAKES.items():
        nb = set_source(nb, grade_id, code)
    return nb


def retrieval_cases():
    """quiz_retrieval (quizzes 8-a to 8-e, 2 points each; no model): the student's functions are called by the
    grader on its own small embeddings, so answers made for the visible examples score nothing."""
    return [
        Case("solution", lambda s, b: s, ("quiz8a", "quiz8b", "quiz8c", "quiz8d", "quiz8e")),
        Case("blank", lambda s, b: b, ()),
        Case("partial", lambda s, b: mix(s, b, {"quiz8a_answer", "quiz8b_answer"}), ("quiz8a", "quiz8b")),
        Case("faked-for-the-examples", lambda s, b: _retrieval_faked(s), ()),
        Case("faked-and-patched", lambda s, b: insert(_retrieval_faked(s), PATCH_CHECKS, before="quiz8a_answer"), ()),
        Case("patched-honest", lambda s, b: insert(s, PATCH_CHECKS, before="quiz8a_answer"),
             ("quiz8a", "quiz8b", "quiz8c", "quiz8d", "quiz8e")),
    ]
