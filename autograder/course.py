"""The class's nbgrader course folder and what grading needs from it (one place for each decision).

* where things are: the course root (with ``nbgrader_config.py``), its gradebook, our state and
  outputs under ``build/grades/`` (git-ignored);
* the course configuration (the root ``nbgrader_config.py``, which the quizzes own) and our
  grading settings on top of it;
* the model every kernel uses, resolved once per class, and the reference-answer cache;
* what the sandbox lets a kernel see and use (``sandbox_spec``).
"""
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

PACKAGE_DIR = Path(__file__).resolve().parent
SYSTEM_READONLY = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")
UID_BASE = 61000  # kernels of slot k run as uid/gid UID_BASE + k (no passwd entry needed)


@dataclasses.dataclass
class Settings:
    """What the instructor can choose on the command line (see ``__main__``)."""
    jobs: int = 0                     # 0: cores, as many as RAM holds (default_jobs)
    cell_timeout: int = 0             # 0: the course config's Execute.timeout, else 300 s
    notebook_timeout: int = 1200      # whole notebook, seconds
    # Address-space cap of each kernel process. 6144: twice the peak of a graded quiz kernel at the real CLIP's
    # size (2615 MB boxed, 3054 MB unboxed with the ViT-B/32 stand-in, `make real-size`); 4096 left 1.3-1.6x.
    memory_mb: int = 6144
    cpu_seconds: int = 0              # 0: notebook_timeout x threads per kernel
    sandbox: bool = True
    guard: bool = True
    force: bool = False
    quiz_pattern: str = r"(?i)q(?:uiz)?[_\- ]?0*(\d+)"
    extra_readonly: tuple = ()
    preload: tuple = ("numpy", "torch")  # imported at kernel start so the guard knows them untouched


def venv_on_path():
    """nbgrader runs ``alembic`` from PATH when it creates a gradebook: make it this Python's."""
    bindir = os.path.join(sys.prefix, "bin")
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


class CourseError(RuntimeError):
    """A problem with the course folder itself (not with one submission)."""


class Course:
    def __init__(self, root):
        venv_on_path()
        self.root = Path(root).absolute()
        if not (self.root / "nbgrader_config.py").is_file():
            raise CourseError(f"{self.root} has no nbgrader_config.py: run the command from the course folder "
                              "or pass --course DIR")
        self.config = load_config(self.root)
        from nbgrader.coursedir import CourseDirectory

        folders = CourseDirectory(config=self.config)  # nbgrader's own names, as the course configures them
        self.source = self.root / folders.source_directory
        self.submitted = self.root / folders.submitted_directory
        self.autograded = self.root / folders.autograded_directory
        self.feedback = self.root / folders.feedback_directory
        self.out = self.root / "build" / "grades"
        self.db_path = self.root / "gradebook.db"
        db_url = self.config.CourseDirectory.get("db_url")
        if db_url:
            if not str(db_url).startswith("sqlite:///"):
                raise CourseError("autograder supports a SQLite gradebook only (CourseDirectory.db_url)")
            self.db_path = Path(str(db_url)[len("sqlite:///"):])

    @property
    def db_url(self):
        return f"sqlite:///{self.db_path}"

    @property
    def course_id(self):
        """nbgrader's ``CourseDirectory.course_id`` (every ``Gradebook`` is opened with it: none adds a
        spurious ``default_course`` row)."""
        return str(self.config.CourseDirectory.get("course_id", "") or "default_course")

    def assignments(self):
        if not self.source.is_dir():
            return []
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def notebooks(self, assignment):
        return sorted(p.stem for p in (self.source / assignment).glob("*.ipynb"))

    def source_fingerprint(self, assignment):
        digest = hashlib.sha256()
        for path in sorted((self.source / assignment).rglob("*")):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts:
                digest.update(str(path.relative_to(self.source)).encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:16]

    def state_dir(self, assignment):
        return self.out / ".state" / assignment

    def grade_cells(self, assignment):
        """The assignment's grade cells in the gradebook, as zero grades (the row of an ungradable submission)."""
        from nbgrader.api import Gradebook

        rows = []
        with Gradebook(self.db_url, course_id=self.course_id) as gb:
            for notebook in gb.find_assignment(assignment).notebooks:
                answers = {c.name for c in notebook.solution_cells}
                rows += [{"notebook": notebook.name, "grade_id": c.name, "auto_score": 0.0, "max_score": c.max_score,
                          "needs_manual_grade": False, "test": c.cell_type == "code" and c.name not in answers}
                         for c in notebook.grade_cells]
        return rows

    def ensure_in_gradebook(self, assignment, log=print):
        """Put the assignment's notebooks and grade cells in the gradebook when source/ changed.

        Runs ``nbgrader generate_assignment`` with a throw-away release folder, so the committed
        ``release/`` is never touched here.
        """
        stamp = self.state_dir(assignment) / "source-fingerprint"
        fingerprint = self.source_fingerprint(assignment)
        if self.db_path.exists() and stamp.exists() and stamp.read_text() == fingerprint:
            return fingerprint
        log(f"updating the gradebook from source/{assignment} ...")
        with tempfile.TemporaryDirectory(prefix="ag-release-") as release:
            self.generate_assignment(assignment, release)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)
        return fingerprint

    def generate_assignment(self, assignment, release, *options):
        """``nbgrader generate_assignment`` into the folder ``release`` (never the committed ``release/``)."""
        command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", *options,
                   f"--CourseDirectory.release_directory={release}", f"--CourseDirectory.root={self.root}"]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True)
        if done.returncode != 0:
            raise CourseError(f"nbgrader generate_assignment {assignment} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def load_config(root):
    """The course's nbgrader configuration (the root nbgrader_config.py) as a traitlets Config."""
    config = Config()
    try:
        config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config())
    except Exception as error:
        raise CourseError(f"{root}/nbgrader_config.py could not be loaded: {error}") from error
    return config


def cell_timeout(course, settings):
    if settings.cell_timeout:
        return settings.cell_timeout
    configured = course.config.get("Execute", {}).get("timeout")
    return int(configured) if configured else 300


# RAM a job needs beyond its kernel's --memory-mb (job.py, nbgrader, the hidden tests' text process), and
# what the system and the grader keep: autograder/README.md, "Memory math" at the real CLIP's size.
JOB_EXTRA_MB = 600
SYSTEM_MB = 1024


def job_memory_mb(cores=None):
    """Address-space cap of a job's own process (job.py: nbgrader, the trusted verdict), which the hidden
    tests' text process it starts inherits: never reached by an honest job, it stops data from a hostile
    kernel from taking the machine's memory through the grader. 4096 MB on 2 cores: about 3x job.py's
    peak (1.4 GB, quiz_search) and 2x the text process's at the real CLIP's size (2.1 GB); each further
    core adds 256 MB (threads' stacks and buffers are address space too)."""
    cores = cores or os.cpu_count() or 1
    return 4096 + 256 * max(0, cores - 2)


def ram_mb():
    """This machine's RAM in MB (psutil's total: ``MemTotal`` on Linux), or None where it cannot be read."""
    try:
        import psutil

        return psutil.virtual_memory().total // 2 ** 20
    except Exception:  # noqa: BLE001 - unknown RAM: the cores decide (default_jobs)
        return None


def default_jobs(cores, ram, memory_mb):
    """``(jobs, why)``: as many jobs as cores, but no more than RAM holds if every kernel filled its cap.

    ``ram`` is the machine's RAM in MB (None: unknown, then cores decide); each job is counted at
    ``memory_mb + JOB_EXTRA_MB``, the system at ``SYSTEM_MB``; always at least 1.
    """
    cores = max(1, cores or 1)
    if not ram:
        return cores, f"{cores} cores, RAM unknown"
    per_job = memory_mb + JOB_EXTRA_MB
    jobs = max(1, min(cores, (ram - SYSTEM_MB) // per_job))
    return jobs, f"{cores} cores, {ram / 1024:.1f} GB RAM / {per_job / 1024:.1f} GB per job"


def jobs_for(settings):
    """``(jobs, why)`` for this run: ``--jobs`` when given, else ``default_jobs`` on this machine."""
    jobs, why = default_jobs(os.cpu_count(), ram_mb(), settings.memory_mb)
    if settings.jobs:
        return settings.jobs, f"as given (the default here: {jobs}, {why})"
    return jobs, why


def threads_per_kernel(jobs):
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def resolve_model(course):
    """The local folder of the CLIP model every kernel will load, or None when the course has no model.

    ``clipcourse.models.choose_model`` decides (CLIP_MODEL, the real model, the offline one); a hub
    id is downloaded once here, because graded kernels have no network.
    """
    if not (course.root / "clipcourse" / "models.py").is_file():
        return None
    sys.path.insert(0, str(course.root))
    try:
        from clipcourse.models import choose_model
        name = choose_model(verbose=False)
    finally:
        sys.path.remove(str(course.root))
    if Path(name).is_dir():
        return str(Path(name).resolve())
    from huggingface_hub import snapshot_download

    return snapshot_download(name, allow_patterns=["*.json", "*.txt", "*.safetensors"])


def unreadable_files(paths):
    """Files under ``paths`` that an unprivileged user could not read (the sandbox runs as one)."""
    bad = []
    for top in paths:
        for dirpath, _, filenames in os.walk(top):
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    mode = os.stat(path).st_mode
                except OSError:
                    continue
                if not mode & 0o004:
                    bad.append(path)
    return bad


def course_paths(course):
    """The course's own read-only folders a kernel needs: the helper package and the data, where the
    kernel's Python will really find them (an editable install points at the real folder)."""
    found = []
    for name in ("clipcourse", "data"):
        if (course.root / name).is_dir():
            found.append(os.path.realpath(course.root / name))
    try:
        import importlib.util

        spec = importlib.util.find_spec("clipcourse")
        if spec and spec.origin:
            package = os.path.dirname(os.path.realpath(spec.origin))
            found.append(package)
            data = os.path.join(os.path.dirname(package), "data")
            if os.path.isdir(data):
                found.append(data)
    except (ImportError, ValueError):
        pass
    return sorted(set(found))


def sandbox_spec(course, settings, slot, job_dir, model_dir, jobs):
    """What sandbox.py needs: uid, limits, environment and the read-only paths (never the reference answers: only the
    job process, outside the box, reads those)."""
    threads = threads_per_kernel(jobs)
    support = os.path.join(job_dir, "support")
    os.makedirs(support, exist_ok=True)
    shutil.copy(PACKAGE_DIR / "guard.py", os.path.join(support, "_autograder_guard.py"))
    shutil.copy(PACKAGE_DIR / "start.py", os.path.join(support, "_autograder_start.py"))
    shutil.copy(PACKAGE_DIR / "values.py", os.path.join(support, "_autograder_values.py"))
    start = os.path.join(job_dir, "start")  # an empty folder the kernel starts in (see start.py)
    os.makedirs(start, exist_ok=True)
    home = "/tmp/home" if settings.sandbox else os.path.join(job_dir, "home")
    os.makedirs(os.path.join(job_dir, "home"), exist_ok=True)
    env = {
        "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": home, "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([support, str(course.root)]), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "PYTHONSAFEPATH": "1",
        "IPYTHONDIR": f"{home}/.ipython", "MPLCONFIGDIR": f"{home}/.matplotlib",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "HF_HOME": f"{home}/hf", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads), "MALLOC_ARENA_MAX": "2",
    }
    readonly = list(SYSTEM_READONLY) + [sys.base_prefix, sys.prefix, support, start] + course_paths(course)
    if os.environ.get("CLIP_COURSE_DATA"):
        env["CLIP_COURSE_DATA"] = os.environ["CLIP_COURSE_DATA"]
        readonly.append(os.environ["CLIP_COURSE_DATA"])
    if model_dir:
        env["CLIP_MODEL"] = model_dir
        readonly.append(model_dir)
    readonly += [str(Path(p).resolve()) for p in settings.extra_readonly]
    env["AUTOGRADER_TRUSTED"] = os.pathsep.join(p for p in readonly if p not in SYSTEM_READONLY or p == "/usr")
    env["AUTOGRADER_PRELOAD"] = ",".join(settings.preload)
    uid = UID_BASE + slot
    return {
        "uid": uid, "gid": uid,
        "start_dir": start,
        "readonly": readonly,
        "env": env,
        "limits": {
            "memory_mb": settings.memory_mb,
            "cpu_seconds": settings.cpu_seconds or settings.notebook_timeout * threads,
            "processes": 256, "file_mb": 512, "tmpfs_mb": 512, "workdir_mb": 512,
        },
    }


def read_json(path):
    """The JSON in the file ``path``, or None when it cannot be read or is not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def json_bytes(data, indent=None):
    """``data`` as JSON, never an error: readable UTF-8 when the text can be UTF-8; text with lone surrogates (a
    file name that is not UTF-8, read with ``surrogateescape``; a broken emoji in a notebook) as ``\\u`` escapes,
    which is still valid JSON and reads back to the same strings."""
    try:
        return json.dumps(data, indent=indent, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, indent=indent, ensure_ascii=True).encode("ascii")


def write_bytes(path, raw):
    """Write a file atomically (a rename): a run killed while writing leaves the previous file whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, path)


def write_json(path, data):
    write_bytes(path, json_bytes(data, indent=1))


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))
