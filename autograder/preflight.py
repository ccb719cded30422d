"""Before grading a class: can a graded kernel reach the course's own package and data?

A kernel that cannot import the course's helper package, or imports another checkout's copy (a
second clone sharing one virtual environment, whose editable install points at the first), or
cannot read the course's data, would fail every test cell: a whole class graded 0 with status
``graded``. ``check_course_reachable`` starts one process exactly as a kernel is started (same
sandbox, uid, environment and start folder), imports every module the instructor's cells import,
runs the course's own data check, and stops grading with a clear message when anything is off.

``sandbox_key`` is the part of the sandbox's settings that can change a grade (what kernels see, their
limits, the timeouts, sandbox and guard on or off): it is part of every result's resume key, so a
rerun with other settings grades again instead of keeping results made under the old ones.
"""
import ast
import hashlib
import json
import os
import subprocess
import sys
import tempfile

from . import sandbox
from .collect import read_notebook
from .course import PACKAGE_DIR, CourseError, cell_timeout, sandbox_spec
from .verdict import is_instructor_cell, parse_code

#: "module:function" checks run in the probe when the module is the course's own (a missing or
#: damaged course image then stops grading instead of failing every student).
COURSE_CHECKS = ("clipcourse.data:verify",)
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

PROBE = r"""
import importlib, json, os, sys
report = {"modules": {}, "checks": {}, "cwd": os.getcwd(), "path": sys.path}
for name in MODULES:
    try:
        module_name, _, attribute = name.partition(":")
        module = importlib.import_module(module_name)
        if attribute and not hasattr(module, attribute):
            module = importlib.import_module(f"{module_name}.{attribute}")
        report["modules"][name] = {"file": os.path.realpath(getattr(module, "__file__", None) or "")}
    except BaseException as error:
        report["modules"][name] = {"error": f"{type(error).__name__}: {error}"}
for check in CHECKS:
    module, function = check.split(":")
    try:
        getattr(importlib.import_module(module), function)()
        report["checks"][check] = "ok"
    except BaseException as error:
        report["checks"][check] = f"{type(error).__name__}: {error}"
print("PREFLIGHT " + json.dumps(report))
"""


def instructor_imports(course, assignments):
    """Top-level modules imported by the instructor's (read-only and test) cells of ``assignments``."""
    names = set()
    for assignment in assignments:
        for notebook in course.notebooks(assignment):
            nb, _ = read_notebook(course.source / assignment / f"{notebook}.ipynb")
            for cell in nb.cells if nb else []:
                tree = parse_code(cell.source) if is_instructor_cell(cell) else None
                for node in ast.walk(tree) if tree else []:
                    if isinstance(node, ast.Import):
                        names.update(alias.name for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        names.add(node.module)
                        names.update(f"{node.module}:{alias.name}" for alias in node.names)
    return sorted(names)


def _own_module(course, name):
    """The course's own copy of a module (``<root>/<package>``), or None when it is an installed library."""
    top = name.split(".")[0]
    for candidate in (course.root / top, course.root / f"{top}.py"):
        if candidate.exists():
            return os.path.realpath(candidate)
    return None


def check_course_reachable(course, settings, model_dir, jobs, assignments, log=print):
    modules = instructor_imports(course, assignments)
    checks = [c for c in COURSE_CHECKS if _own_module(course, c.split(":")[0])]
    code = PROBE.replace("MODULES", repr(modules)).replace("CHECKS", repr(checks))
    with tempfile.TemporaryDirectory(prefix="ag-pre-") as tmp:
        os.chmod(tmp, 0o755)
        spec = dict(sandbox_spec(course, settings, jobs, os.path.join(tmp, "kernel"), model_dir, jobs),
                    isolate=settings.sandbox)
        try:
            _, output = sandbox.run_once(spec, [sys.executable, "-c", code], tmp, timeout=600)
        except subprocess.TimeoutExpired:
            raise CourseError("a graded kernel could not even import the course's modules in 10 minutes") from None
    line = next((ln for ln in output.splitlines() if ln.startswith("PREFLIGHT ")), None)
    if line is None:
        raise CourseError("a process started like a graded kernel failed before it could check the course "
                          f"(its output: {output.strip()[-800:] or 'none'})")
    report = json.loads(line[len("PREFLIGHT "):])
    problems = []
    for name, found in report["modules"].items():
        module_name, _, attribute = name.partition(":")
        statement = f"from {module_name} import {attribute}" if attribute else f"import {name}"
        if "error" in found:
            problems.append(f"`{statement}` fails there: {found['error']}")
            continue
        own = _own_module(course, module_name)
        if own and not (found["file"] + os.sep).startswith(own + os.sep) and found["file"] != own:
            problems.append(f"`{name}` comes from {found['file']}, not from this course's {own} "
                            "(another checkout's package, e.g. an editable install of a second clone sharing "
                            "this virtual environment)")
    for check, outcome in report["checks"].items():
        if outcome != "ok":
            problems.append(f"the course's data check {check} fails there: {outcome}")
    if problems:
        raise CourseError("graded kernels cannot reach this course's package or data, so every test would fail "
                          "and the whole class would score 0. Nothing was graded.\n  - " + "\n  - ".join(problems)
                          + "\nInstall this checkout into its own virtual environment (make venv) or run the "
                            "command from the checkout the environment belongs to; --allow PATH adds a folder "
                            "kernels may read.")
    log(f"checked: graded kernels import what the instructor's cells import ({len(modules)} names) and read the "
        "course's data")


def sandbox_key(course, settings, model_dir, jobs):
    """A short hash of the settings that decide what a graded kernel sees and may do."""
    with tempfile.TemporaryDirectory(prefix="ag-key-") as tmp:
        spec = sandbox_spec(course, settings, 0, tmp, model_dir, jobs)
    env = {k: v for k, v in spec["env"].items() if tmp not in v and k not in _THREAD_VARS}
    limits = {k: v for k, v in spec["limits"].items() if k != "cpu_seconds"}
    key = {"readonly": sorted(p for p in spec["readonly"] if not p.startswith(tmp)), "env": env, "limits": limits,
           "sandbox": settings.sandbox, "guard": settings.guard, "cell_timeout": cell_timeout(course, settings),
           "notebook_timeout": settings.notebook_timeout, "preload": list(settings.preload),
           "code": _code_key()}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def _code_key():
    """The grader's own code that runs around the kernel (a fix there means grading again)."""
    digest = hashlib.sha256()
    for name in ("guard.py", "start.py", "values.py", "verdict.py", "sandbox.py", "execute.py"):
        digest.update((PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()[:12]
