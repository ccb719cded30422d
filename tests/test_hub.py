"""The class hub (hub/README.md): `make hub`'s setup, a class round trip through a real JupyterHub with
throw-away Unix users on free ports, what a student's Unix user can read, and the issue's six traps.

Needs root on Linux, npm and useradd (CI has them; .ci/run sets CLIP_COURSE_REQUIRE_HUB=1 so they run,
not skip). Everything is removed afterwards: the users with their homes, every process, the prefix.
The hub's environment is built once per run, from the local wheels, and removed with the rest;
CLIP_HUB_TEST_VENV=/path/to/venv builds (or reuses) it there and keeps it (for working on the tests).
"""
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"
sys.path.insert(0, str(ROOT))
from hub import prepare, settings  # noqa: E402



def _missing():
    if sys.platform != "linux" or os.geteuid() != 0:
        return "the hub tests create Unix users: run them as root on Linux"
    for tool in ("npm", "useradd", "runuser", "chpasswd"):
        if not shutil.which(tool):
            return f"the hub tests need {tool}"
    return None


def _skip_or_fail():
    why = _missing()
    if why:
        if os.environ.get("CLIP_COURSE_REQUIRE_HUB"):
            pytest.fail(why + " (CLIP_COURSE_REQUIRE_HUB is set: CI must run them)")
        pytest.skip(why)


def free_ports(count=3):
    """``count`` consecutive free loopback ports (the hub, its API, the proxy's API)."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(30000)
        try:
            sockets = [socket.create_server(("127.0.0.1", base + i)) for i in range(count)]
        except OSError:
            continue
        for s in sockets:
            s.close()
        return base
    raise RuntimeError("no free ports")


def hidden_test_lines():
    """Every line of every hidden-test block in source/ (long enough to be unmistakable)."""
    lines = set()
    for path in (ROOT / "source").glob("*/*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
                lines.update(line.strip() for line in block.splitlines() if len(line.strip()) >= 16)
    return sorted(lines)


class Class:
    """A running hub under a throw-away prefix, with its users; commands as `make hub*` runs them."""

    def __init__(self, prefix, port, roster):
        self.prefix, self.port, self.roster = Path(prefix), port, roster
        self.env = {**os.environ, "CLIP_HUB_PREFIX": str(prefix)}
        self.instructor = next(n for r, n, _ in roster if r == "instructor")
        self.students = [n for r, n, _ in roster if r == "student"]
        self.demo_students = self.students[:3]     # the fourth uses the browser (test_browser_...)
        self.passwords = {n: p for _, n, p in roster}

    def hub(self, *args, python="/usr/bin/python3", check=True, timeout=900):
        done = subprocess.run([python, "-m", "hub", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode:
            raise AssertionError(f"hub {args} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done

    @property
    def venv(self):
        return Path(self.env.get("CLIP_HUB_VENV", self.prefix / "venv"))

    def venv_hub(self, *args, **kwargs):
        return self.hub(*args, python=str(self.venv / "bin" / "python"), **kwargs)

    def as_student(self, user, code):
        """Python code run as a student's Unix user with the hub's Python; returns its stdout."""
        done = subprocess.run([RUNUSER, "-u", user, "--", str(self.venv / "bin" / "python"), "-c", code],
                              cwd="/", capture_output=True, text=True, timeout=300,
                              env={"PATH": "/usr/bin:/bin", "HOME": pwd.getpwnam(user).pw_dir, "LANG": "C.UTF-8"})
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    @property
    def course(self):
        return Path(pwd.getpwnam(self.instructor).pw_dir) / settings.COURSE_FOLDER

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, token):
        req = urllib.request.Request(self.url(path), headers={"Authorization": f"token {token}"})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, response.read().decode(errors="replace"), _lower(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace"), _lower(error.headers)


@pytest.fixture(scope="module")
def klass():
    _skip_or_fail()
    tag = secrets.token_hex(2)
    roster = [("instructor", f"cht{tag}i", secrets.token_urlsafe(9))] + \
             [("student", f"cht{tag}s{n}", secrets.token_urlsafe(9)) for n in (1, 2, 3, 4)]
    prefix = Path(tempfile.mkdtemp(prefix="clip-hub-test-", dir="/var/tmp"))
    prefix.chmod(0o755)
    roster_file = prefix / "roster.txt"
    roster_file.write_text("".join(f"{r} {n} {p}\n" for r, n, p in roster))
    port = free_ports()
    klass = Class(prefix, port, roster)
    if os.environ.get("CLIP_HUB_TEST_VENV"):
        klass.env["CLIP_HUB_VENV"] = os.environ["CLIP_HUB_TEST_VENV"]
    try:
        started = time.monotonic()
        klass.setup_output = klass.hub("up", "--roster", str(roster_file), "--port", str(port)).stdout
        klass.setup_seconds = time.monotonic() - started
        uids = {pwd.getpwnam(n).pw_uid for _, n, _ in roster}
        hub_pid = int((prefix / "state" / "jupyterhub.pid").read_text())
        yield klass
    finally:
        done = klass.hub("remove", check=False)
        if "uids" in locals():   # `make hub-stop` (inside remove) ended the hub and every process of its users
            assert not Path(f"/proc/{hub_pid}").exists(), "the hub still runs"
            left = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _uid_of(p) in uids]
            assert not left, f"processes of the hub's users left behind: {left}"
        leftovers = [n for _, n, _ in roster if _user_exists(n)]
        assert not leftovers, f"users left behind: {leftovers}\n{done.stdout}{done.stderr}"
        assert not prefix.exists(), f"{prefix} left behind"
        for _, name, _ in roster:
            assert not Path("/home", name).exists(), f"/home/{name} left behind"


def _uid_of(proc):
    try:
        return proc.stat().st_uid
    except OSError:
        return None


def _lower(headers):
    return {key.lower(): value for key, value in headers.items()}


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def graded(klass):
    """The demo's class: release, fetch, submit (solution / blank / partial), collect, grade, feedback."""
    started = time.monotonic()
    klass.demo_output = klass.venv_hub("demo", "--assignment", "quiz_cosine",
                                       "--students", ",".join(klass.demo_students)).stdout
    klass.round_trip_seconds = time.monotonic() - started
    return klass


# ---- the round trip ---------------------------------------------------------------------------------------

def test_round_trip_scores(graded):
    """Every simulated student's score, as the grader's CSV and as their fetched feedback page say it."""
    out = graded.demo_output
    expected = dict(zip(graded.demo_students, [("solution", "4.0", "4.0/4"), ("blank", "0.0", "0.0/4"),
                                          ("partial", "2.0", "2.0/4")]))
    for user, (kind, grader, feedback) in expected.items():
        line = next(line for line in out.splitlines() if line.startswith(user + " "))
        assert line.split() == [user, kind, grader, feedback, grader], line
    assert "WRONG" not in out
    print(f"setup {graded.setup_seconds:.0f} s, round trip {graded.round_trip_seconds:.0f} s")


# ---- trap 1: the boxed grader is the only grading path, and no hidden test reaches a student -----------

def test_stock_autograde_and_feedback_are_refused(graded):
    """Refused before nbgrader touches anything: with --force it would first delete the existing outputs."""
    before = sorted(p.relative_to(graded.course) for p in (graded.course / "feedback").rglob("*"))
    assert before
    for command in (["generate_feedback", "quiz_cosine", "--force"], ["autograde", "quiz_cosine", "--force"],
                    ["generate_feedback", "quiz_cosine"]):
        done = subprocess.run([RUNUSER, "-u", graded.instructor, "--", str(graded.venv / "bin" / "nbgrader"),
                               *command], cwd=graded.course, capture_output=True, text=True, timeout=300,
                              env={"PATH": f"{graded.venv}/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                                   "HOME": pwd.getpwnam(graded.instructor).pw_dir})
        assert done.returncode != 0 and "make hub-grade" in done.stdout + done.stderr, (command, done.stdout[-2000:])
    assert sorted(p.relative_to(graded.course) for p in (graded.course / "feedback").rglob("*")) == before


def test_student_reads_no_hidden_test_anywhere(graded):
    """As a student's Unix user: source/, the gradebook and another student's home are closed, and no file
    they can read (their home with fetched feedback and its checkpoint, the exchange, the hub's prefix,
    /tmp, /var/tmp, other homes) holds a hidden-test line."""
    student, other = graded.students[0], graded.students[1]
    # a checkpoint of the fetched feedback, as JupyterLab makes one when the student opens and saves it
    home = Path(pwd.getpwnam(student).pw_dir)
    feedback = sorted(home.glob("quiz_cosine/feedback/*/quiz_cosine.html"))
    assert feedback, f"{student} has no fetched feedback"
    checkpoints = feedback[0].parent / ".ipynb_checkpoints"
    subprocess.run([RUNUSER, "-u", student, "--", "mkdir", "-p", str(checkpoints)], check=True)
    subprocess.run([RUNUSER, "-u", student, "--", "cp", str(feedback[0]), str(checkpoints / "quiz_cosine-checkpoint.html")],
                   check=True)
    needles = hidden_test_lines()
    assert len(needles) > 10
    closed = [graded.course / "source" / "quiz_cosine" / "quiz_cosine.ipynb", graded.course / "gradebook.db",
              graded.course, Path(pwd.getpwnam(other).pw_dir), graded.prefix / "state" / "service-token"]
    code = f'''
import json, os
closed = {json.dumps([str(p) for p in closed])}
needles = {json.dumps(needles)}
opened = []
for path in closed:
    try:
        (os.listdir if os.path.isdir(path) else lambda p: open(p, 'rb').read(1))(path)
        opened.append(path)
    except PermissionError:
        pass
found, scanned = [], 0
for top in {json.dumps([str(home), str(graded.prefix), "/tmp", "/var/tmp", "/home", "/srv"])}:
    for folder, dirs, files in os.walk(top):
        if folder == "/tmp":
            # job folders of the boxed grader run by someone else on this machine (a shared development
            # machine runs the autograder's own tests): the hub grades under its own 711 folder (below)
            dirs[:] = [d for d in dirs if not (d.startswith("ag-") and os.stat(os.path.join(folder, d)).st_uid == 0)]
        if folder.startswith({str(graded.venv)!r}):
            dirs[:] = []   # the installed packages: no notebook of source/ is in them (checked below)
            continue
        for name in files:
            path = os.path.join(folder, name)
            try:
                if os.path.islink(path) or os.path.getsize(path) > 50_000_000:
                    continue
                text = open(path, 'rb').read().decode('utf-8', 'replace')
            except OSError:
                continue
            scanned += 1
            found += [(path, n) for n in needles if n in text]
print(json.dumps({{"opened": opened, "found": found, "scanned": scanned}}))
'''
    result = json.loads(graded.as_student(student, code))
    assert result["opened"] == [], f"a student could open {result['opened']}"
    assert result["found"] == [], f"hidden-test lines readable by a student: {result['found'][:5]}"
    assert result["scanned"] > 5, result
    # the hub's grading folder (TMPDIR of the boxed grader): nobody else can list it
    grading = graded.prefix / "grading"
    assert grading.stat().st_mode & 0o777 == 0o711 and grading.stat().st_uid == 0
    assert graded.as_student(student, f"import os\ntry:\n    os.listdir({str(grading)!r}); print('listed')\n"
                                       "except PermissionError:\n    print('refused')").strip() == "refused"
    # the installed course package carries no notebook of source/ at all
    site = next((graded.venv / "lib").glob("python3*/site-packages"))
    assert not list(site.glob("clipcourse*/**/*.ipynb")) and not list(site.glob("autograder/**/*.ipynb"))


# ---- trap 2: homes and the course folder are 700, checked ---------------------------------------------

def test_homes_and_course_folder_are_closed(klass):
    for _, name, _ in klass.roster:
        assert Path(pwd.getpwnam(name).pw_dir).stat().st_mode & 0o777 == 0o700, name
    assert klass.course.stat().st_mode & 0o777 == 0o700
    assert (klass.prefix / "state").stat().st_mode & 0o777 == 0o700
    # `make hub` refuses to go on when a mode drifted (checked, not assumed)
    home = Path(pwd.getpwnam(klass.students[0]).pw_dir)
    home.chmod(0o755)
    try:
        with pytest.raises(prepare.SetupError, match="other users could read"):
            prepare.check_modes(klass.roster, klass.course)
    finally:
        home.chmod(0o700)


# ---- trap 3: the formgrader, in its own tab, with the course's settings; students have none -----------

def test_formgrader_for_the_instructor_only(graded):
    code = ("import sys; sys.path.insert(0, %r); from hub.classroom import Hub; h = Hub(); "
            "[print(h.start_server(u) and h.user_token(u)) for u in %r]") % (str(ROOT), [graded.instructor, graded.students[0]])
    done = subprocess.run([str(graded.venv / "bin" / "python"), "-c", code], env=graded.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    instructor_token, student_token = done.stdout.split()
    status, page, headers = graded.get(f"/user/{graded.instructor}/formgrader", instructor_token)
    assert status == 200 and "formgrader" in page.lower()
    # JupyterHub >= 4.1 forbids framing its pages, so the formgrader is opened in its own tab (hub/README.md)
    assert "frame-ancestors" in headers.get("content-security-policy", "")
    status, body, _ = graded.get(f"/user/{graded.instructor}/formgrader/api/assignments", instructor_token)
    assert status == 200, body[:500]
    names = {a["name"]: a for a in json.loads(body)}
    assert set(settings.ASSIGNMENTS) <= set(names), names.keys()   # it read the course folder's config
    assert names["quiz_cosine"]["num_submissions"] >= len(graded.demo_students)
    status, _, _ = graded.get(f"/user/{graded.students[0]}/formgrader", student_token)
    assert status == 404
    for user, token, hidden in ((graded.students[0], student_token, True), (graded.instructor, instructor_token, False)):
        status, page, _ = graded.get(f"/user/{user}/lab", token)
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.S).group(1))
        disabled = config.get("disabledExtensions", {})
        disabled = disabled if isinstance(disabled, dict) else {name: True for name in disabled}
        for plugin in settings.INSTRUCTOR_LAB_PLUGINS:
            assert bool(disabled.get(plugin)) == hidden, (user, plugin, disabled)


# ---- trap 4: the Validate button uses the course's timeouts ---------------------------------------------

def test_students_validate_with_the_course_timeout(klass):
    """The configuration exactly as the Validate button's handler loads it, as a student in their home."""
    code = ("import os; os.chdir(os.path.expanduser('~')); "
            "from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler as H; "
            "c = H.load_config(None); print(c.Execute.timeout, c.Exchange.root, c.CourseDirectory.course_id)")
    timeout, exchange, course_id = klass.as_student(klass.students[0], code).split()
    from traitlets.config.loader import PyFileConfigLoader
    course = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert int(timeout) == course.Execute.timeout and exchange == str(klass.prefix / "exchange") and course_id == settings.COURSE_ID


# ---- trap 5: a Python every user can run ------------------------------------------------------------------

def test_venv_python_runs_for_students(klass, tmp_path):
    closed = tmp_path / "private"
    closed.mkdir()
    closed.chmod(0o700)
    copy = closed / "python-copy"
    shutil.copy("/usr/bin/true", copy)
    assert "cannot be entered by other users" in prepare.runnable_by_everyone(str(copy))
    with pytest.raises(prepare.SetupError, match="every user can run"):
        prepare.pick_python([str(copy)])
    home = (klass.venv / "pyvenv.cfg").read_text()
    base = re.search(r"^home = (.*)$", home, re.M).group(1).strip()
    assert not base.startswith("/root") and prepare.runnable_by_everyone(base + "/python3") == ""


# ---- trap 6: kernels import the installed course, no checkout on PYTHONPATH ------------------------------

def test_students_import_the_installed_course(klass):
    code = ("import clipcourse, autograder, clipcourse.paths as p; from clipcourse import data; "
            "print(p.IN_CHECKOUT, p.data_dir().is_dir(), (p.OFFLINE_MODEL_DIR / 'config.json').is_file(), "
            "clipcourse.__file__.startswith(%r))") % str(klass.venv)
    assert klass.as_student(klass.students[0], code).split() == ["False", "True", "True", "True"]


# ---- in Chromium: the Assignments panel and the formgrader in its own tab -----------------------------

def test_browser_student_submits_and_sees_feedback_instructor_sees_submissions(graded):
    """A student logs in, fetches and submits from the Assignments panel, and after `make hub-grade` fetches
    the feedback and sees its score; the instructor opens the formgrader in its own tab and sees every
    submission. Screenshots in build/hub-browser/."""
    browserlab = pytest.importorskip("browserlab")
    why = browserlab.missing_reason()
    if why:
        if os.environ.get("CLIP_COURSE_REQUIRE_BROWSER"):
            pytest.fail(why)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    shots = ROOT / "build" / "hub-browser"
    shots.mkdir(parents=True, exist_ok=True)
    student = graded.students[3]
    origin = graded.url("")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browserlab.chromium_path(), headless=True,
                                             args=browserlab.CHROMIUM_FLAGS)
        try:
            page = _logged_in(browser, origin, student, graded.passwords[student])
            page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
            page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
            released = page.locator("#released_assignments_list")
            released.get_by_role("button", name="Fetch").first.click()
            downloaded = page.locator("#fetched_assignments_list")
            downloaded.get_by_role("button", name="Submit").first.wait_for(timeout=120_000)
            page.screenshot(path=str(shots / "1-student-fetched.png"))
            # the student's answers (typing into cells is tests/test_browser.py's part), saved through their server
            code = ("import sys; sys.path.insert(0, %r); from hub.classroom import Hub, Student, answered; "
                    "h = Hub(); u = %r; s = Student(h, u, h.user_token(u)); p = 'quiz_cosine/quiz_cosine.ipynb'; "
                    "s.save_notebook(p, answered(s.read(p), 'quiz_cosine', 'quiz_cosine', 'solution'))") % (str(ROOT), student)
            subprocess.run([str(graded.venv / "bin" / "python"), "-c", code], env=graded.env, cwd=ROOT, check=True,
                           timeout=300)
            downloaded.get_by_role("button", name="Submit").first.click()
            submitted = page.locator("#submitted_assignments_list")
            submitted.get_by_text("UTC").first.wait_for(timeout=120_000)
            page.screenshot(path=str(shots / "2-student-submitted.png"))

            graded.venv_hub("grade", "quiz_cosine")

            submitted.get_by_role("button", name="Fetch Feedback").first.click()
            link = submitted.get_by_text("view feedback").last
            link.wait_for(timeout=120_000)
            link.click()   # the panel opens the feedback folder in the file browser
            page.locator(".jp-DirListing-item", has_text="quiz_cosine.html").dblclick()
            viewer = page.frame_locator(".jp-HTMLViewer iframe")
            viewer.get_by_text("Score:").first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "3-student-feedback.png"))
            text = viewer.locator("body").inner_text()
            score = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", text)
            assert score and (score.group(1), score.group(2)) == ("4.0", "4.0"), score and score.group(0)

            teacher = _logged_in(browser, origin, graded.instructor, graded.passwords[graded.instructor])
            teacher.goto(f"{origin}/user/{graded.instructor}/formgrader/manage_submissions/quiz_cosine")
            for user in graded.students:
                teacher.get_by_text(user, exact=True).first.wait_for(timeout=60_000)
            teacher.screenshot(path=str(shots / "4-instructor-formgrader.png"))
        finally:
            browser.close()


def _logged_in(browser, origin, user, password):
    """A fresh browser context logged in through the hub's login form, JupyterLab open; no other host."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route(re.compile(r"^(?!" + re.escape(origin) + r"|data:|blob:).*"), lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{origin}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_selector(".jp-DirListing-content", timeout=180_000)
    return page


# ---- no root needed -------------------------------------------------------------------------------------

def test_listening_beyond_loopback_needs_tls(tmp_path):
    """Passwords cross the network: another address without a certificate and key is refused, first thing."""
    with pytest.raises(prepare.SetupError, match="needs TLS"):
        prepare.set_up(port=free_ports(), ip="0.0.0.0", roster_path=tmp_path / "none.txt")
    state = {"ip": "0.0.0.0", "port": 8000, "ssl_cert": "/c.pem", "ssl_key": "/k.pem"}
    from hub.control import base_url
    assert base_url(state) == "https://127.0.0.1:8000"


def test_roster_errors_name_the_line(tmp_path):
    roster = tmp_path / "roster.txt"
    roster.write_text("instructor teach1\nstudent Bad!Name\n")
    with pytest.raises(prepare.SetupError, match=r"roster.txt:2: 'Bad!Name'"):
        prepare.read_roster(roster)
    roster.write_text("student s1\nstudent s2\n")
    with pytest.raises(prepare.SetupError, match="exactly one 'instructor'"):
        prepare.read_roster(roster)
    roster.write_text("# a class\ninstructor t1 secret\nstudent s1\n")
    assert prepare.read_roster(roster) == [("instructor", "t1", "secret"), ("student", "s1", None)]
