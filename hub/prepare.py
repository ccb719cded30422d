"""`make hub`: set up a class on a local JupyterHub from this repository (hub/README.md).

Each step is idempotent: running it again repairs what drifted (modes, configs) and reinstalls the
environment only when hub/requirements.txt, requirements.txt or the course package changed.
Standard library only (it runs with the system Python before the hub's environment exists).
"""
import hashlib
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from . import settings as S


class SetupError(RuntimeError):
    """Something the instructor must fix; the message says what."""


def run(command, **kwargs):
    kwargs.setdefault("check", True)
    return subprocess.run([str(c) for c in command], **kwargs)


def as_user(user, command, cwd=None, **kwargs):
    """A command as ``user`` with a login-like environment and the hub's venv first on PATH."""
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "USER": user, "LOGNAME": user, "LANG": "C.UTF-8",
           "PATH": f"{S.VENV}/bin:/usr/local/bin:/usr/bin:/bin", **S.USER_ENVIRONMENT}
    return run(["runuser", "-u", user, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()], *command],
               cwd=cwd or home, **kwargs)


# ---- 5: the Python every user can run ------------------------------------------------------------

def runnable_by_everyone(path):
    """Why ``path`` (resolved) cannot be run by every user, or "" when it can."""
    real = Path(os.path.realpath(path))
    if not real.is_file():
        return f"{path} does not exist"
    mode = real.stat().st_mode
    if not mode & stat.S_IXOTH:
        return f"{real} is not executable by other users"
    for folder in real.parents:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return f"{folder} (a folder above {real}) cannot be entered by other users"
    return ""


def python_version(path):
    out = run([path, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True).stdout
    return tuple(int(x) for x in out.split())


def pick_python(candidates=None):
    """The interpreter the hub's venv is built from: Python 3.11 that every user can run.

    A venv keeps a link to its base interpreter, so a venv built from /root/.pyenv/... cannot be run by
    students (trap 5): it is refused with the reason, never used."""
    wanted = os.environ.get("CLIP_HUB_PYTHON")
    reasons = []
    for candidate in ([wanted] if wanted else list(candidates or S.PYTHON_CANDIDATES)):
        why = runnable_by_everyone(candidate)
        if not why:
            version = python_version(candidate)
            why = "" if version == S.PYTHON_VERSION else f"{candidate} is Python {'.'.join(map(str, version))}"
        if not why:
            return candidate
        reasons.append(why)
    need = ".".join(map(str, S.PYTHON_VERSION))
    raise SetupError(f"no Python {need} that every user can run: " + "; ".join(reasons)
                     + f". Install one (Debian: apt-get install python{need} python{need}-venv) or set "
                       "CLIP_HUB_PYTHON to one outside /root.")


# ---- the environment --------------------------------------------------------------------------------

def course_fingerprint():
    """What the venv was built from: its requirement files and the course package's files."""
    digest = hashlib.sha256()
    files = [S.HUB_DIR / "requirements.txt", S.REPO / "requirements.txt", S.REPO / "pyproject.toml"]
    for package in S.PACKAGE_FILES[1:]:
        files += sorted(p for p in (S.REPO / package).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(S.REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build_venv(log):
    stamp = S.VENV / ".clip-hub-built"
    fingerprint = course_fingerprint()
    if stamp.is_file() and stamp.read_text() == fingerprint:
        log(f"environment: {S.VENV} is up to date")
        return
    python = pick_python()
    log(f"environment: building {S.VENV} from {python} (a few minutes the first time)")
    if not (S.VENV / "bin" / "python").exists():
        run([python, "-m", "venv", S.VENV])
    pip = [S.VENV / "bin" / "python", "-m", "pip", "-qq", "--disable-pip-version-check"]
    run([*pip, "install", "-r", S.HUB_DIR / "requirements.txt"])
    # The course as an installed package (not editable): kernels need no checkout on PYTHONPATH (trap 6).
    # Built from a copy, so the checkout gets no build/ or egg-info and two builds never share a folder.
    with tempfile.TemporaryDirectory(prefix="clip-hub-package-") as copy:
        for name in S.PACKAGE_FILES:
            (shutil.copytree if (S.REPO / name).is_dir() else shutil.copy)(S.REPO / name, Path(copy) / name)
        run([*pip, "install", "--no-deps", "--force-reinstall", "--no-build-isolation", copy])
    make_world_readable(S.VENV)
    stamp.write_text(fingerprint)


def make_world_readable(*folders):
    """Every user runs the venv and reads the site config; nobody but root writes them."""
    run(["chmod", "-R", "a+rX,go-w", *folders])


def install_proxy(log):
    lock = (S.HUB_DIR / "package-lock.json").read_bytes()
    if (S.PROXY_DIR / "package-lock.json").is_file() and (S.PROXY_DIR / "package-lock.json").read_bytes() == lock \
            and proxy_command().exists():
        log("proxy: up to date")
        return
    if not shutil.which("npm"):
        raise SetupError("npm is missing: apt-get install npm (the proxy is configurable-http-proxy from npm)")
    S.PROXY_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(S.HUB_DIR / name, S.PROXY_DIR / name)
    log("proxy: npm ci (configurable-http-proxy at the version of hub/package-lock.json)")
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=S.PROXY_DIR, stdout=subprocess.DEVNULL)


def proxy_command():
    return S.PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy"


# ---- users -----------------------------------------------------------------------------------------------

def read_roster(path=None):
    """[(role, user, password or None)] with exactly one instructor; errors name the line."""
    path = Path(path or S.ROSTER)
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] not in ("instructor", "student") or len(words) not in (2, 3):
            raise SetupError(f"{path}:{number}: expected 'instructor NAME [PASSWORD]' or 'student NAME [PASSWORD]'")
        name = words[1]
        if not name.replace("-", "").replace("_", "").isalnum() or not name[0].isalpha() or name != name.lower():
            raise SetupError(f"{path}:{number}: {name!r} is not a usable Unix user name (lower case, letters first)")
        entries.append((words[0], name, words[2] if len(words) == 3 else None))
    names = [e[1] for e in entries]
    if sorted(set(names)) != sorted(names):
        raise SetupError(f"{path}: a user is listed twice")
    if [e[0] for e in entries].count("instructor") != 1:
        raise SetupError(f"{path}: the roster needs exactly one 'instructor' line")
    return entries


def instructor_of(roster):
    return next(name for role, name, _ in roster if role == "instructor")


def students_of(roster):
    return [name for role, name, _ in roster if role == "student"]


def created_users():
    path = S.STATE / "created-users.json"
    return json.loads(path.read_text()) if path.is_file() else []


def create_users(roster, log):
    """Unix users for the roster; new passwords are printed once and stored nowhere."""
    created = created_users()
    printed = []
    for role, name, password in roster:
        try:
            pwd.getpwnam(name)
            if name not in created:
                raise SetupError(f"user {name!r} already exists and was not made by `make hub`: "
                                 "pick another name in the roster (an existing account is never taken over)")
            new = False
        except KeyError:
            run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name])
            created.append(name)
            (S.STATE / "created-users.json").write_text(json.dumps(created))
            new = True
        if password or new:
            password = password or secrets.token_urlsafe(S.PASSWORD_BYTES)
            run(["chpasswd"], input=f"{name}:{password}\n", text=True)
            if new and not any(p for r, n, p in roster if n == name):
                printed.append((role, name, password))
        home = Path(pwd.getpwnam(name).pw_dir)
        os.chmod(home, S.HOME_MODE)        # trap 2: useradd -m made it 755
    log(f"users: {len(roster)} ({instructor_of(roster)} instructs), homes mode {oct(S.HOME_MODE)[2:]}")
    return printed


def readable_by_others(path):
    """True when users other than the owner can read ``path`` (every folder above it enterable)."""
    path = Path(path)
    return bool(path.stat().st_mode & stat.S_IROTH) and all(p.stat().st_mode & stat.S_IXOTH for p in path.parents)


def warn_about_checkout(log):
    """The checkout's source/ holds the hidden tests: students must not read it either."""
    exposed = [p for p in sorted((S.REPO / "source").glob("*/*.ipynb")) if readable_by_others(p)]
    if exposed:
        log(f"WARNING: students can read {exposed[0]} (hidden tests) in this checkout: "
            f"chmod 700 {S.REPO} or keep the checkout in a folder only you can enter (hub/README.md)")


def check_modes(roster, course):
    """Trap 2, checked rather than assumed: every home and the course folder must be closed to others."""
    wrong = [str(p) for p in [Path(pwd.getpwnam(n).pw_dir) for _, n, _ in roster] + [course]
             if p.stat().st_mode & 0o077]
    if wrong:
        raise SetupError("other users could read " + ", ".join(wrong) + ": chmod 700 them")


# ---- the course folder and the exchange ----------------------------------------------------------------

def course_folder(instructor):
    return Path(pwd.getpwnam(instructor).pw_dir) / S.COURSE_FOLDER


def set_up_course(roster, log):
    instructor = instructor_of(roster)
    course = course_folder(instructor)
    user = pwd.getpwnam(instructor)
    course.mkdir(exist_ok=True)
    os.chmod(course, S.COURSE_MODE)
    shutil.copytree(S.REPO / "source", course / "source", dirs_exist_ok=True)
    shutil.copy(S.REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", course])
    # The instructor's own Jupyter config: formgrader and course list back, and the course's settings (trap 3).
    write_instructor_config(instructor, course)
    for assignment in S.ASSIGNMENTS:
        as_user(instructor, ["nbgrader", "generate_assignment", assignment, "--force", "--log-level=ERROR"],
                cwd=course, stdout=subprocess.DEVNULL)
    for student in students_of(roster):
        as_user(instructor, ["nbgrader", "db", "student", "add", student, "--log-level=ERROR"],
                cwd=course, stdout=subprocess.DEVNULL)
    log(f"course: {course} (mode {oct(S.COURSE_MODE)[2:]}), {len(S.ASSIGNMENTS)} quizzes generated")
    return course


def set_up_exchange(log):
    S.EXCHANGE.mkdir(parents=True, exist_ok=True)
    os.chmod(S.EXCHANGE, 0o1777)  # nbgrader's exchange: everyone writes; sticky, so no one removes another's
    log(f"exchange: {S.EXCHANGE}")


# ---- configuration -----------------------------------------------------------------------------------------

def course_timeouts():
    """Execute.timeout and startup_timeout as the course's nbgrader_config.py sets them (trap 4)."""
    code = ("import json; from traitlets.config.loader import PyFileConfigLoader as L; "
            f"c = L('nbgrader_config.py', path={str(S.REPO)!r}).load_config(); "
            "print(json.dumps({k: c.Execute[k] for k in ('timeout', 'startup_timeout') if k in c.Execute}))")
    out = run([S.VENV / "bin" / "python", "-c", code], capture_output=True, text=True, cwd="/").stdout
    return json.loads(out)


def write_site_config(log):
    """Read by every Jupyter process of the venv: students' Validate button and Assignments panel."""
    timeouts = course_timeouts()
    lines = ["# Written by `make hub` (hub/setup.py): site-wide nbgrader settings for every user of this hub.",
             "c = get_config()  # noqa: F821",
             f"c.CourseDirectory.course_id = {S.COURSE_ID!r}",
             f"c.Exchange.root = {str(S.EXCHANGE)!r}",
             "# The course's own timeouts (its nbgrader_config.py): the Validate button would otherwise use 30 s.",
             *[f"c.Execute.{k} = {v!r}" for k, v in sorted(timeouts.items())]]
    S.SITE_JUPYTER.mkdir(parents=True, exist_ok=True)
    (S.SITE_JUPYTER / "nbgrader_config.py").write_text("\n".join(lines) + "\n")
    # Students never see the instructor's menus or reach the formgrader's handlers.
    (S.SITE_JUPYTER / "labconfig").mkdir(exist_ok=True)
    write_json(S.SITE_JUPYTER / "labconfig" / "page_config.json",
               {"disabledExtensions": {name: True for name in S.INSTRUCTOR_LAB_PLUGINS}})
    write_json(S.SITE_JUPYTER / "jupyter_server_config.json",
               {"ServerApp": {"jpserver_extensions": {name: False for name in S.INSTRUCTOR_SERVER_EXTENSIONS}}})
    # JupyterLab's "official Jupyter news?" pop-up would ask every student on their first login.
    settings_dir = S.VENV / "share" / "jupyter" / "lab" / "settings"
    settings_dir.mkdir(parents=True, exist_ok=True)
    write_json(settings_dir / "overrides.json",
               {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}})
    make_world_readable(S.SITE_JUPYTER, settings_dir)
    log(f"site config: {S.SITE_JUPYTER} (course {S.COURSE_ID}, Execute.timeout {timeouts.get('timeout')} s)")


INSTRUCTOR_NBGRADER_CONFIG = '''\
# Written by `make hub` (hub/prepare.py). The formgrader reads the course's settings only through here.
from nbgrader.converters.autograde import Autograde
from nbgrader.converters.generate_feedback import GenerateFeedback

c = get_config()  # noqa: F821
load_subconfig({course_config!r})  # noqa: F821
c.CourseDirectory.root = {course!r}


def use_the_boxed_grader(converter, *args, **kwargs):
    """Stock autograde runs student code as you, next to the gradebook and source/, and stock
    generate_feedback copies the hidden tests into every student's feedback (nbgrader #917/#1363).
    On this hub grading is `make hub-grade` (collect, the boxed grader, release_feedback). Refused
    before nbgrader touches anything (with --force it would first delete the existing outputs)."""
    raise RuntimeError("on this hub, grade with `make hub-grade ASSIGNMENT=...` as root (hub/README.md): "
                       "nbgrader's own autograde and generate_feedback are switched off")


Autograde.start = use_the_boxed_grader
GenerateFeedback.start = use_the_boxed_grader
'''


def write_instructor_config(instructor, course):
    user = pwd.getpwnam(instructor)
    jupyter = Path(user.pw_dir) / ".jupyter"
    (jupyter / "labconfig").mkdir(parents=True, exist_ok=True)
    (jupyter / "nbgrader_config.py").write_text(
        INSTRUCTOR_NBGRADER_CONFIG.format(course_config=str(course / "nbgrader_config.py"), course=str(course)))
    write_json(jupyter / "labconfig" / "page_config.json",
               {"disabledExtensions": {name: False for name in S.INSTRUCTOR_LAB_PLUGINS}})
    write_json(jupyter / "jupyter_server_config.json",
               {"ServerApp": {"jpserver_extensions": {name: True for name in S.INSTRUCTOR_SERVER_EXTENSIONS}}})
    run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", jupyter])


def write_json(path, data):
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def write_hub_state(roster, port, ip, ssl_cert, ssl_key):
    """What hub/jupyterhub_config.py reads (root only)."""
    token_file = S.STATE / "service-token"
    if not token_file.is_file():
        token_file.write_text(secrets.token_hex(32))
    os.chmod(token_file, 0o600)
    write_json(S.STATE / "hub.json", {
        "ip": ip, "port": port, "ssl_cert": ssl_cert, "ssl_key": ssl_key,
        "instructor": instructor_of(roster), "students": students_of(roster),
        "venv": str(S.VENV), "proxy": str(proxy_command()), "state": str(S.STATE),
    })


def set_up(port=S.PORT, ip=S.LOOPBACK, ssl_cert=None, ssl_key=None, roster_path=None, log=print):
    """Everything but starting; returns (roster, course folder, passwords to print)."""
    if ip != S.LOOPBACK and not (ssl_cert and ssl_key):
        raise SetupError(f"listening on {ip} needs TLS: pass --ssl-cert and --ssl-key (hub/README.md)")
    if os.geteuid() != 0 or sys.platform != "linux":
        raise SetupError("`make hub` sets up Unix users: run it as root on Linux")
    if not shutil.which("bwrap"):
        raise SetupError("bubblewrap is missing: apt-get install bubblewrap (the course's grader boxes each kernel with it)")
    roster = read_roster(roster_path)
    S.PREFIX.mkdir(parents=True, exist_ok=True)
    os.chmod(S.PREFIX, 0o755)
    S.STATE.mkdir(exist_ok=True)
    os.chmod(S.STATE, 0o700)
    build_venv(log)
    install_proxy(log)
    passwords = create_users(roster, log)
    set_up_exchange(log)
    write_site_config(log)
    course = set_up_course(roster, log)
    check_modes(roster, course)
    warn_about_checkout(log)
    write_hub_state(roster, port, ip, ssl_cert, ssl_key)
    return roster, course, passwords
