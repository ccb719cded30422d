"""A class through the hub: what students do in the Assignments panel, what the instructor does, and
the one way this hub grades (`make hub-grade`, `make hub-demo`). Runs with the hub's own Python.

Students act through the hub exactly as the panel does: their own server's nbgrader handlers
(``/user/<name>/assignments/fetch|submit|fetch_feedback``) and the contents API, with a token the hub
issues them. The instructor's steps run as the instructor's Unix user, in the course folder.
"""
import csv
import html
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import nbformat

from . import settings as S
from .control import base_url, hub_state
from .prepare import as_user, course_folder, run

KINDS = ("solution", "blank", "partial")


class Hub:
    """The hub's REST API as the make-hub service (its token is root-only)."""

    def __init__(self, state=None):
        self.state = state or hub_state()
        self.url = base_url(self.state)
        self.token = (S.STATE / "service-token").read_text().strip()

    def request(self, method, path, data=None, token=None, form=None, timeout=300):
        headers = {"Authorization": f"token {token or self.token}"}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: HTTP {error.code} {error.read().decode()[:500]}") from None
        return json.loads(text) if text.strip() else None

    def start_server(self, user, timeout=180):
        """Spawn ``user``'s server (if needed) and wait until it answers; returns seconds taken."""
        started = time.monotonic()
        try:
            self.request("POST", f"/hub/api/users/{user}/server")
        except RuntimeError as error:
            if "HTTP 400" not in str(error):  # 400: already running
                raise
        while time.monotonic() - started < timeout:
            server = (self.request("GET", f"/hub/api/users/{user}")["servers"] or {}).get("")
            if server and server.get("ready"):
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"{user}'s server did not start within {timeout} s (see {S.STATE}/jupyterhub.log)")

    def user_token(self, user):
        return self.request("POST", f"/hub/api/users/{user}/tokens",
                            {"note": "make hub-demo", "expires_in": 3600})["token"]

    def student(self, user):
        self.start_server(user)
        return Student(self, user, self.user_token(user))


class Student:
    """One student's Assignments panel and file browser, through the hub."""

    def __init__(self, hub, user, token):
        self.hub, self.user, self.token = hub, user, token

    def _call(self, method, path, **kwargs):
        return self.hub.request(method, f"/user/{self.user}{path}", token=self.token, **kwargs)

    def assignments(self):
        return self._call("GET", f"/assignments?course_id={S.COURSE_ID}")

    def action(self, action, assignment):
        """fetch, submit or fetch_feedback, as the panel's buttons do."""
        out = self._call("POST", f"/assignments/{action}", form={"course_id": S.COURSE_ID, "assignment_id": assignment})
        if isinstance(out, dict) and out.get("success") is False:
            raise RuntimeError(f"{self.user}: {action} {assignment} failed: {out.get('value') or out}")
        return out

    def read(self, path):
        return self._call("GET", f"/api/contents/{urllib.parse.quote(path)}?content=1")["content"]

    def save_notebook(self, path, nb):
        self._call("PUT", f"/api/contents/{urllib.parse.quote(path)}", data={"type": "notebook", "content": nb})

    def feedback_score(self, assignment):
        """(score, max) from the feedback the student fetched for their newest submission, or None."""
        submissions = [sub for a in self.assignments()["value"] if a["assignment_id"] == assignment
                       and a["status"] == "submitted" for sub in a.get("submissions", [])
                       if sub.get("has_local_feedback")]
        if not submissions:
            return None
        folder = sorted(submissions, key=lambda sub: sub["timestamp"])[-1]["local_feedback_path"]
        total = [0.0, 0.0]
        for item in self._call("GET", f"/api/contents/{urllib.parse.quote(folder)}")["content"]:
            if item["name"].endswith(".html"):
                page = self._call("GET", f"/api/contents/{urllib.parse.quote(item['path'])}?type=file&format=text")
                got = score_of_feedback(page["content"])
                total = [total[0] + got[0], total[1] + got[1]]
        return tuple(total)


def score_of_feedback(text):
    """nbgrader's feedback page says "Score: X / Y" for the whole notebook first, then per cell."""
    plain = html.unescape(re.sub(r"<[^>]+>", " ", text))
    found = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", plain)
    if not found:
        raise RuntimeError("a feedback page without a score")
    return float(found.group(1)), float(found.group(2))


# ---- what the simulated students hand in ------------------------------------------------------------

def strip_solution(source):
    """The answer as a student would type it: the source's solution without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def answered(released, assignment, notebook, kind):
    """The released notebook with all (solution), none (blank) or the first half (partial) of its answers."""
    nb = nbformat.from_dict(released)
    if kind == "blank":
        return nb
    solution = nbformat.read(S.REPO / "source" / assignment / f"{notebook}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    keep = ids if kind == "solution" else ids[: max(1, len(ids) // 2)]
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in keep and grade_id in answers:
            cell.source = strip_solution(answers[grade_id])
    return nb


def expected_score(assignment, kind):
    """The points of the answered tests: each quiz's test cell follows its answer cell."""
    solution = nbformat.read(next((S.REPO / "source" / assignment).glob("*.ipynb")), as_version=4)
    tests = [c.metadata["nbgrader"].get("points", 0) for c in solution.cells
             if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
    answers = [c for c in solution.cells if c.metadata.get("nbgrader", {}).get("solution")]
    answered_count = {"solution": len(answers), "blank": 0, "partial": max(1, len(answers) // 2)}[kind]
    return float(sum(tests[:answered_count])), float(sum(tests))


# ---- the instructor ------------------------------------------------------------------------------------

def instructor():
    return hub_state()["instructor"]


def nbgrader_as_instructor(*args):
    return as_user(instructor(), ["nbgrader", *args, "--log-level=ERROR"], cwd=course_folder(instructor()))


def release(assignment):
    nbgrader_as_instructor("release_assignment", assignment, "--force")


def grade(assignment, log=print):
    """The hub's only grading path (trap 1): collect as the instructor, grade in the boxed grader as
    root, hand the files back to the instructor, release the feedback. Returns {student: score}."""
    course = course_folder(instructor())
    started = time.monotonic()
    nbgrader_as_instructor("collect", assignment, "--update")
    S.GRADING_TMP.mkdir(exist_ok=True)
    S.GRADING_TMP.chmod(0o711)
    run([S.VENV / "bin" / "python", "-m", "autograder", "grade", "submitted", "--assignment", assignment,
         "--course", course], cwd=course,
        env={"PATH": f"{S.VENV}/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/root", "TMPDIR": str(S.GRADING_TMP),
             "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    hand_back(course, assignment)
    nbgrader_as_instructor("release_feedback", assignment)
    scores = read_scores(course, assignment)
    log(f"grade: {assignment}: {len(scores)} graded, feedback released ({time.monotonic() - started:.0f} s)")
    return scores


def hand_back(course, assignment):
    """What nbgrader's release_feedback needs beside each feedback page, then everything to the instructor."""
    for feedback in (course / "feedback").glob(f"*/{assignment}"):
        submitted = course / "submitted" / feedback.parent.name / assignment
        for name in ("timestamp.txt", "submission_secret.txt"):
            if (submitted / name).is_file() and not (feedback / name).is_file():
                (feedback / name).write_bytes((submitted / name).read_bytes())
    owner = f"{instructor()}:{instructor()}"
    run(["chown", "-R", owner, course])
    course.chmod(S.COURSE_MODE)


def read_scores(course, assignment):
    with open(course / "build" / "grades" / f"{assignment}.csv", newline="") as fh:
        return {row["student"]: float(row["score"] or 0) for row in csv.DictReader(fh)}


# ---- the demo --------------------------------------------------------------------------------------------

def play_class(assignment, students, log=print):
    """Release, then each student fetches, answers (solution / blank / partial in turn) and submits."""
    hub = Hub()
    release(assignment)
    kinds = {}
    for number, user in enumerate(students):
        kind = KINDS[number % len(KINDS)]
        student = hub.student(user)
        student.action("fetch", assignment)
        for item in student.read(assignment):
            if item["name"].endswith(".ipynb"):
                notebook = item["name"][:-len(".ipynb")]
                released = student.read(item["path"])
                student.save_notebook(item["path"], answered(released, assignment, notebook, kind))
        student.action("submit", assignment)
        kinds[user] = kind
        log(f"  {user}: fetched, answered ({kind}), submitted")
    return hub, kinds


def demo(assignment="quiz_cosine", students=None, log=print):
    started = time.monotonic()
    students = students or hub_state()["students"]
    log(f"demo: {assignment} for {len(students)} students through {base_url()}")
    hub, kinds = play_class(assignment, students, log)
    scores = grade(assignment, log)
    failures = 0
    log(f"{'student':16} {'handed in':10} {'grader':>7} {'feedback':>9} {'expected':>9}")
    for user in students:
        student = Student(hub, user, hub.user_token(user))
        student.action("fetch_feedback", assignment)
        seen = student.feedback_score(assignment)
        expected = expected_score(assignment, kinds[user])
        ok = seen is not None and abs(seen[0] - expected[0]) < 1e-6 and abs(scores.get(user, -1) - expected[0]) < 1e-6
        failures += not ok
        log(f"{user:16} {kinds[user]:10} {scores.get(user, float('nan')):7.1f} "
            f"{(f'{seen[0]:.1f}/{seen[1]:.0f}' if seen else 'none'):>9} {expected[0]:9.1f}{'' if ok else '  WRONG'}")
    log(f"demo: done in {time.monotonic() - started:.0f} s")
    if failures:
        sys.exit(f"demo: {failures} students did not get the expected score")
