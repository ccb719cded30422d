"""Regression tests for the hostile and broken submissions of the grader's attack report (42 cases):
file names that are not UTF-8, lone surrogates in a notebook, kernel replies that claim huge images,
two notebooks for one quiz, one student in both layouts, huge notebooks, odd student names; then the fork
server's round: the server killed mid-run, a grader killed without one, a kernel closing its own sockets,
Ctrl-C while a job starts.

Unit-level (no kernel, seconds), except three tiny classes of one or two submissions (under a minute each):
the whole-class runs are in test_autograder_class.py.
"""
import json
import os

import nbformat
import pytest

from autograder import collect, grade
from autograder.course import Course, Settings, write_json

from autograder_cases import TINY, tiny_course, tiny_notebook

BAD_NAME = os.fsdecode(b"bad\xb0\xa1name")  # a zip from a Korean (CP949) Windows: not UTF-8 on Linux


@pytest.fixture
def course(tmp_path):
    return Course(tiny_course(tmp_path / "course"))


# ---- 1. a file name that is not UTF-8 never stops the class ----------------------------------------------
def test_json_with_a_non_utf8_file_name_is_written_and_reads_back_the_same(tmp_path):
    path = tmp_path / "lms" / f"{BAD_NAME}.ipynb"
    job = {"files": {TINY: str(path)}, "name": collect.display_name(BAD_NAME), "text": "김철수 \ud83d"}
    write_json(tmp_path / "job.json", job)
    assert json.loads((tmp_path / "job.json").read_text()) == job
    write_json(tmp_path / "plain.json", {"name": "김철수"})
    assert "김철수" in (tmp_path / "plain.json").read_text(encoding="utf-8")  # still readable when it can be


def _env(course, jobs=1):
    return {"course": course, "settings": Settings(jobs=jobs), "jobs": jobs, "zero_grades": {TINY: []},
            "fingerprints": {TINY: "f"}}


def test_one_submission_failing_in_the_grader_is_an_error_row_and_the_class_goes_on(course, tmp_path, monkeypatch):
    lms = tmp_path / "lms"
    lms.mkdir()
    for name in ("alice", BAD_NAME, "bob"):
        nbformat.write(tiny_notebook(), lms / f"{name}.ipynb")
    subs = collect.find(lms, course)
    assert len(subs) == 3

    def run_job(sub, slot, env, running, stop):
        if sub.name != "alice":
            raise UnicodeEncodeError("utf-8", "x\udcb0", 1, 2, "surrogates not allowed")
        return grade._problem_result(sub, env, "graded", ""), None

    merged = []
    monkeypatch.setattr(grade, "_run_job", run_job)
    monkeypatch.setattr(grade, "_merge", lambda course, result, job_dir: merged.append(result["name"]))
    lines = []
    results = list(grade._run_all(list(subs), _env(course, jobs=2), lines.append))
    rows = {r["name"]: r for r in results}
    assert sorted(rows) == sorted(["alice", "bob", collect.display_name(BAD_NAME)])
    assert rows["alice"]["status"] == "graded" and merged == ["alice"]
    bad = rows[collect.display_name(BAD_NAME)]
    assert bad["status"] == "error"
    assert "bad\\xb0\\xa1name.ipynb" in bad["reason"] and "surrogates not allowed" in bad["reason"]
    assert "run the same command again" in bad["reason"]
    assert len(lines) == 3
    "\n".join(lines).encode("utf-8")  # the console lines are printable text


def test_the_grading_job_caps_its_own_address_space(tmp_path, monkeypatch):
    import subprocess
    import sys
    from pathlib import Path

    from autograder import job as job_module
    from autograder.course import job_memory_mb

    assert job_memory_mb(2) == 4096 and job_memory_mb(16) == 4096 + 14 * 256
    code = ("from autograder.job import cap_memory\ncap_memory(400)\ntry:\n    bytearray(800 * 2**20)\n"
            "except MemoryError:\n    print('MemoryError')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == "MemoryError", done.stderr[-2000:]
    seen = []  # and job.main applies the cap before it grades anything
    monkeypatch.setattr(job_module, "cap_memory", seen.append)
    monkeypatch.setattr(job_module, "run", lambda job: {"status": "graded"})
    (tmp_path / "job.json").write_text(json.dumps({"dir": str(tmp_path)}))
    assert job_module.main([str(tmp_path / "job.json")]) == 0 and seen == [job_memory_mb()]


# ---- 4. a lone surrogate in a notebook is repaired, with the cell named ---------------------------------
def test_a_lone_surrogate_is_replaced_and_its_cell_named(course, tmp_path):
    from autograder import job as job_module

    nb = tiny_notebook()
    nb.cells[0].source = "# Tiny quiz \ud83d done"
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="half an emoji: \udc00")]
    path = tmp_path / f"{TINY}.ipynb"
    path.write_text(json.dumps(nb))  # ensure_ascii: "\ud83d" in the JSON, as the tester's file had it
    (tmp_path / "gradebook.db").write_bytes(b"")
    job = {"assignment": TINY, "student": "s1", "gradebook": str(tmp_path / "gradebook.db"),
           "source": str(course.source / TINY), "files": {TINY: str(path)}, "base": None, "extra": []}
    notes = job_module._build_course(job, tmp_path / "job-course")
    assert "cell 1, a markdown cell, held text that is not valid Unicode (a lone surrogate, such as half an " \
           "emoji): replaced by \ufffd (1x)" in notes
    assert any(n.startswith("cell 3 ('q1_answer'), a code cell") for n in notes)
    written = (tmp_path / "job-course" / "submitted" / "s1" / TINY / f"{TINY}.ipynb").read_text(encoding="utf-8")
    graded = nbformat.reads(written, as_version=4)
    assert graded.cells[0].source == "# Tiny quiz \ufffd done"
    assert graded.cells[3].source == nb.cells[3].source  # nothing else changed


# ---- 2. the grader never allocates for a size or count the kernel claims --------------------------------
def _image(width, height, digest="0" * 64):
    return {"t": "image", "size": [width, height], "sha256": digest}


def test_a_claimed_huge_image_fails_the_test_without_allocating_it():
    import resource

    from autograder import verdict
    from PIL import Image  # noqa: F401 - imported before measuring

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(verdict.Malformed, match="An image of 20000 x 20000 pixels is larger than the grader reads"):
        verdict.Decoder().value(_image(20000, 20000))  # the tester's 150-byte reply: 1.2 GB of RGB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # kB: nothing big was built
    picture = verdict.Decoder().value(_image(256, 256))
    assert picture.size == (256, 256)  # an honest size still gets its stand-in (no course picture matches)


def test_images_lists_and_replies_are_counted_against_limits(monkeypatch):
    from autograder import verdict

    decoder = verdict.Decoder()
    same = decoder.value({"t": "list", "items": [_image(256, 256)] * 500})
    assert len(same) == 500 and len({id(i) for i in same}) == 1 and decoder.pixels == 256 * 256  # built once
    with pytest.raises(verdict.Malformed, match="More than 1000 images"):
        verdict.Decoder().value({"t": "list", "items": [_image(8, 8)] * 1001})
    monkeypatch.setattr(verdict, "MAX_NEW_PIXELS", 3 * 100 * 100)
    with pytest.raises(verdict.Malformed, match="pixels in all"):
        verdict.Decoder().value({"t": "list", "items": [_image(100, 100 + i, f"{i:064x}") for i in range(4)]})
    with pytest.raises(verdict.Malformed, match="A list of 100001 items is more than the grader reads"):
        verdict.Decoder().value({"t": "list", "items": [{"t": "none"}] * 100_001})
    monkeypatch.setattr(verdict, "MAX_NODES", 1000)
    nested = {"t": "list", "items": [{"t": "list", "items": [{"t": "int", "v": 1}] * 600}] * 2}
    with pytest.raises(verdict.Malformed, match="more than 1000 items"):
        verdict.Decoder().value(nested)
    with pytest.raises(verdict.Malformed, match="more than 1000 items"):
        verdict.parse_reply(repr(json.dumps({"x": nested})))  # refused before json builds the objects


# ---- 5. two notebooks for one quiz, both layouts, another assignment, .IPYNB, huge files --------------------
def _released_and_answered():
    """(blank, answered): the blank as nbgrader releases it (checksums of the stub answers); the answered one
    is the same file with the answers written in, as a student's Jupyter saves it."""
    from nbgrader.utils import compute_checksum

    blank, answered = tiny_notebook(), tiny_notebook()
    for cell in blank.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "# YOUR CODE HERE\nraise NotImplementedError()"
            cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    for done, cell in zip(answered.cells, blank.cells):
        if "checksum" in cell.metadata.get("nbgrader", {}):
            done.metadata.nbgrader["checksum"] = cell.metadata.nbgrader["checksum"]
    return blank, answered


def _write(nb, path, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    if mtime:
        os.utime(path, (mtime, mtime))
    return path


def test_of_two_notebooks_for_one_quiz_the_answered_one_is_graded_and_the_row_flagged(course, tmp_path):
    blank, answered = _released_and_answered()
    folder = tmp_path / "submitted" / "dupnb" / TINY
    _write(blank, folder / f"{TINY}.ipynb", mtime=2_000_000_000)  # the blank one is even newer
    done = _write(answered, folder / f"{TINY} (1).ipynb", mtime=1_900_000_000)
    (sub,) = collect.find(tmp_path / "submitted", course)
    assert sub.files == {TINY: done} and not sub.problem
    assert "graded tiny (1).ipynb as tiny.ipynb" in sub.notes
    assert not any("not a notebook of" in n for n in sub.notes)
    (flag,) = sub.flags
    assert flag.startswith("2 notebooks for tiny.ipynb: graded 'tiny (1).ipynb' (3 answer cells edited, saved ")
    assert "over 'tiny.ipynb' (0 answer cells edited, saved " in flag and "check which one" in flag
    # equally answered: the newest wins, whichever its name
    _write(answered, folder / f"{TINY}.ipynb", mtime=2_000_000_000)
    (sub,) = collect.find(tmp_path / "submitted", course)
    assert sub.files == {TINY: folder / f"{TINY}.ipynb"} and "graded 'tiny.ipynb' (3 answer" in sub.flags[0]


def test_one_student_in_both_layouts_gets_the_answered_submission_flagged(course, tmp_path):
    blank, answered = _released_and_answered()
    lms = tmp_path / "lms"
    _write(blank, lms / "bob" / TINY / f"{TINY}.ipynb", mtime=2_000_000_000)
    flat = _write(answered, lms / "bob.ipynb", mtime=1_900_000_000)
    (sub,) = collect.find(lms, course)
    assert sub.files == {TINY: flat}
    (flag,) = sub.flags
    assert flag.startswith("2 submissions for bob: graded bob.ipynb (3 answer cells edited, saved ")
    assert "over bob/tiny/ (0 answer cells edited" in flag


def _second_assignment(course):
    other = nbformat.v4.new_notebook()
    other.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {
        "grade": False, "solution": True, "locked": False, "schema_version": 3, "grade_id": "o1_answer"}}),
        nbformat.v4.new_code_cell("assert x == 1", metadata={"nbgrader": {
            "grade": True, "solution": False, "locked": True, "schema_version": 3, "grade_id": "o1_test", "points": 1}})]
    return _write(other, course.source / "other" / "other.ipynb")


def test_a_notebook_of_another_assignment_is_named_as_such(course, tmp_path):
    other = nbformat.read(_second_assignment(course), as_version=4)
    subs = tmp_path / "submitted"
    _write(other, subs / "carol" / TINY / "homework.ipynb")
    _write(other, subs / "dave" / TINY / f"{TINY}.ipynb")
    rows = {s.name: s for s in collect.find(subs, course)}
    assert rows["carol"].problem == "no notebook of tiny found (expected tiny.ipynb)"
    assert "ignored homework.ipynb: it has the grade cells of other, not of tiny" in rows["carol"].notes
    assert not rows["dave"].problem
    assert "tiny.ipynb has the grade cells of other, not of tiny: graded as it is (is it the right notebook?)" \
        in rows["dave"].notes


def test_upper_case_extensions_are_notebooks_and_huge_notebooks_are_refused_up_front(course, tmp_path):
    lms = tmp_path / "lms"
    _write(tiny_notebook(), lms / "UPPER.IPYNB")
    _write(tiny_notebook(), lms / "erin" / TINY / "Quiz.IpYnB")
    giant = lms / "giant.ipynb"
    with open(giant, "wb") as f:
        f.truncate((collect.MAX_NOTEBOOK_MB + 1) * 2 ** 20)  # sparse: no disk used, never read
    found = collect.find(lms, course)
    rows = {s.name: s for s in found}
    assert sorted(rows) == ["UPPER", "erin", "giant"] and found.skipped == []
    assert rows["UPPER"].files == {TINY: lms / "UPPER.IPYNB"} and not rows["UPPER"].problem
    assert rows["erin"].files == {TINY: lms / "erin" / TINY / "Quiz.IpYnB"}
    assert rows["giant"].problem.startswith("giant.ipynb is 51 MB, more than the 50 MB a notebook may have (not read)")
    assert "clear all outputs" in rows["giant"].problem and rows["giant"].digest


# ---- 7. names that break lines or look alike ---------------------------------------------------------------
def test_names_equal_after_nfc_are_flagged_and_console_lines_escape_control_characters(course, tmp_path):
    import unicodedata

    from autograder import report

    lms = tmp_path / "lms"
    nfc, nfd = unicodedata.normalize("NFC", "José"), unicodedata.normalize("NFD", "José")
    for name in (nfc, nfd, "new\nline", "Jose"):
        _write(tiny_notebook(), lms / f"{name}.ipynb")
    rows = {s.name: s for s in collect.find(lms, course)}
    assert len(rows) == 4 and len({s.student for s in rows.values()}) == 4
    assert rows[nfc].flags == ["the name 'Jos\\xe9' looks the same as 'Jose\\u0301' (equal after Unicode NFC "
                               "normalisation): check whether they are one student or two"]
    assert len(rows[nfd].flags) == 1 and not rows["Jose"].flags and not rows["new\nline"].flags
    result = grade._problem_result(rows["new\nline"], _env(course), "unreadable", "bad\x1b[2J")
    line = grade._line(1, 1, result, Settings())
    assert "tiny/new\\nline" in line and "bad\\x1b[2J" in line and line.count("\n") == 1 + len(result["notes"])
    summary = report.summary_table([result], Settings().quiz_pattern, skipped=[("odd\rname", "why")])
    assert "  new\\nline: unreadable: bad\\x1b[2J" in summary and "  odd\\rname: why" in summary


# ---- 6. a text too long for CLIP fails in the grader as it fails in the student's notebook ---------------
def _flat(error):
    return " ".join(str(error).split())  # _fail wraps its lines


def test_a_text_too_long_for_clip_fails_the_check_with_a_clear_message_never_a_traceback(capsys, monkeypatch):
    import io

    from clipcourse import grading, reference
    from clipcourse.paths import OFFLINE_MODEL_DIR

    with pytest.raises(AssertionError) as refused:  # the tester's 9 MB query: refused before any tokenizing
        grading._texts(["a dog " * 1_500_000], 1, "퀴즈 2", "text")
    assert "text[0]이(가) 9000000자로, CLIP이 읽는 77토큰" in _flat(refused.value)
    assert "text[0] is 9000000 characters long, more than the 77 tokens CLIP reads" in _flat(refused.value)

    model, processor = reference._load_model(str(OFFLINE_MODEL_DIR))
    fits, long = "a photo of a dog running on the grass", "a small brown dog running fast on green grass " * 10
    with pytest.raises(reference.TextTooLong) as too_long:
        reference._embed_texts(model, processor, [fits, long])
    assert (too_long.value.index, too_long.value.limit) == (1, 77) and too_long.value.tokens > 77
    inputs = processor(text=[long], return_tensors="pt", padding=True)  # the quiz cell's own code fails too
    with pytest.raises(Exception):
        model.get_text_features(**inputs)
    assert reference._embed_texts(model, processor, [fits]).shape[0] == 1

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps([fits, long])))
    reference.main(["embed-texts", "--model", str(OFFLINE_MODEL_DIR)])
    reply = json.loads(capsys.readouterr().out)
    assert reply["too_long"] == {"index": 1, "limit": 77, "tokens": too_long.value.tokens, "chars": None}

    saved = dict(grading._STATE)
    try:
        grading._STATE["texts"] = {(fits, long): reply["too_long"]}
        with pytest.raises(AssertionError) as failed:
            grading._embed_texts([fits, long], "퀴즈 7-2")
        tokens = too_long.value.tokens
        assert f"texts[1]이(가) {tokens}토큰으로" in _flat(failed.value)
        assert f"texts[1] is {tokens} tokens long, more than the 77 tokens CLIP reads" in _flat(failed.value)
        lines = str(failed.value).splitlines()  # both halves survive nbgrader validate's 87-column cut
        assert all(len(line) <= grading.MESSAGE_WIDTH for line in lines) and lines[0].startswith("[퀴즈 7-2]")
        assert any(line.startswith("[quiz 7-2]") for line in lines[1:])
    finally:
        grading._STATE.clear()
        grading._STATE.update(saved)


# ---- the fork server (forkserver.py) killed in the middle of a class ---------------------------------------
# Only a kernel outside the sandbox (--no-sandbox) can reach it; the out-of-memory killer can too. It walks
# up from its own process to the server of *this* run: never another run's server on the same machine.
KILL_MY_FORK_SERVER = """
import os, signal, time
open({pids!r}, "a").write(f"{{os.getpid()}}\\n")
time.sleep(2)

def _stat(pid):
    cmd = open(f"/proc/{{pid}}/cmdline", "rb").read()
    return cmd, int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])

pid, server = os.getpid(), None
while pid > 1:
    cmd, parent = _stat(pid)
    if b"autograder.forkserver" in cmd:
        server = pid  # the last one up the chain is the server (its jobs are forks of it, same command line)
    pid = parent
if server:
    os.kill(server, signal.SIGKILL)
"""


def _alive(pid):
    try:
        return "ipykernel" in open(f"/proc/{pid}/cmdline").read()
    except OSError:
        return False


def test_a_killed_fork_server_loses_no_grade_and_leaves_no_kernel_behind(tmp_path):
    """The job running next to the killer died with the server: it is graded again in a new process in the
    same run (a rerun would pair it with the killer again), and the kernels of both killed jobs end."""
    import time

    from autograder_cases import insert

    course = Course(tiny_course(tmp_path / "course"))
    solution = nbformat.read(course.source / TINY / f"{TINY}.ipynb", as_version=4)
    pids = tmp_path / "kernel-pids.txt"
    notebooks = {"aa-killer": insert(solution, KILL_MY_FORK_SERVER.format(pids=str(pids)), after="q1_test"),
                 "bb-victim": insert(solution, f"import os, time\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')"
                                               "\ntime.sleep(6)", after="q1_test")}
    for student, nb in notebooks.items():
        (tmp_path / "subs" / student / TINY).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / student / TINY / f"{TINY}.ipynb")
    lines = []
    run = grade.grade_class(tmp_path / "subs", course.root, log=lines.append,
                            settings=Settings(jobs=2, sandbox=False, cell_timeout=20, notebook_timeout=60,
                                              memory_mb=1500, preload=("numpy",)))
    rows = {r["student"]: r for r in run.results}
    assert {s: (r["status"], sum(g["auto_score"] or 0 for g in r["grades"])) for s, r in rows.items()} == \
        {"aa-killer": ("graded", 6), "bb-victim": ("graded", 6)}, "\n".join(lines)
    assert any("died with the grader's fork server" in n for n in rows["bb-victim"]["notes"])
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 4  # both first kernels, killed with their jobs, and both second ones
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in started if _alive(p)] == []  # a kernel outside the sandbox dies with its launcher too


def _parent(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])


def test_a_grader_killed_outright_without_a_fork_server_leaves_no_job_running(tmp_path):
    """AUTOGRADER_FORKSERVER=0 (or no fork server): each job is the grader's own child. SIGKILLed, the grader
    left its job and the job's kernel running to their hard limit; now they end with it."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from autograder_cases import insert

    course = Course(tiny_course(tmp_path / "course"))
    solution = nbformat.read(course.source / TINY / f"{TINY}.ipynb", as_version=4)
    pids = tmp_path / "kernel-pid.txt"
    (tmp_path / "subs" / "sleeper" / TINY).mkdir(parents=True)
    nbformat.write(insert(solution, f"import os, time\nopen({str(pids)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)",
                          after="q1_test"), tmp_path / "subs" / "sleeper" / TINY / f"{TINY}.ipynb")
    root = Path(__file__).resolve().parents[1]
    scratch = tmp_path / "tmp"   # the killed grader cannot remove its job folder: it lands here, which pytest removes
    scratch.mkdir()
    grader = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(tmp_path / "subs"), "--course",
                               str(course.root), "--jobs", "1", "--no-sandbox", "--cell-timeout", "120"], cwd=root,
                              env=dict(os.environ, PYTHONPATH=str(root), AUTOGRADER_FORKSERVER="0", TMPDIR=str(scratch)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pids.exists() and pids.read_text(), "the submission's kernel never started"
        kernel = job = int(pids.read_text())
        while "autograder.job" not in open(f"/proc/{job}/cmdline").read():  # kernel <- its launcher <- the job
            job = _parent(job)
        assert _parent(job) == grader.pid
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    deadline = time.monotonic() + 10
    while (os.path.exists(f"/proc/{job}") or _alive(kernel)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{job}") and not _alive(kernel)
    assert [p.name[:3] for p in scratch.iterdir()] == ["ag-"]   # its job folder was there, not in /tmp


# ---- a kernel that closes its own descriptors ---------------------------------------------------------------
CLOSE_EVERY_DESCRIPTOR = """
import os
for fd in range(3, 1024):
    try:
        os.write(fd, b'{"ended": 1, "returncode": 0}\\n')  # nothing of the grader's is there to write to
    except OSError:
        pass
os.closerange(3, 1024)
"""


def test_a_kernel_closing_its_sockets_keeps_the_points_already_earned(tmp_path, monkeypatch):
    """Its heartbeat socket gone, jupyter_client's heartbeat thread never stopped and the job hung until its
    hard limit (notebook budget + 5 min), then scored 0 with 'no test ran to the end'."""
    from autograder_cases import insert

    try:
        grade.check_sandbox()
        sandbox = True
    except Exception:
        sandbox = False
    monkeypatch.setattr(grade, "SLACK_S", 30)  # a hang shows as 'timed out' in a minute, not five
    course = Course(tiny_course(tmp_path / "course"))
    solution = nbformat.read(course.source / TINY / f"{TINY}.ipynb", as_version=4)
    (tmp_path / "subs" / "closer" / TINY).mkdir(parents=True)
    nbformat.write(insert(solution, CLOSE_EVERY_DESCRIPTOR, after="q1_test"),
                   tmp_path / "subs" / "closer" / TINY / f"{TINY}.ipynb")
    run = grade.grade_class(tmp_path / "subs", course.root, log=lambda line: None,
                            settings=Settings(jobs=1, sandbox=sandbox, cell_timeout=10, notebook_timeout=30,
                                              memory_mb=1500, preload=("numpy",)))
    (row,) = run.results
    assert row["status"] == "kernel died", row["reason"]
    assert {g["grade_id"]: g["auto_score"] for g in row["grades"]} == {"q1_test": 2, "q2_test": 0, "q3_test": 0}
    assert row["timing"]["total"] < 30


# ---- Ctrl-C while a job is starting ---------------------------------------------------------------------
def test_ctrl_c_while_a_job_starts_does_not_wait_for_that_job(course, tmp_path, monkeypatch):
    """The main thread kills the jobs it sees running; one started by a worker just then was not among them
    and ran to its end (up to the hard limit, 25 min by default) before the interrupted run could stop."""
    import subprocess
    import threading
    import time

    lms = tmp_path / "lms"
    lms.mkdir()
    nbformat.write(tiny_notebook(), lms / "alice.ipynb")
    (sub,) = collect.find(lms, course)
    stop, started = threading.Event(), []

    def start_job(server, job_dir, child_env):  # Ctrl-C arrives, and the main thread's kill loop runs, meanwhile
        stop.set()
        started.append(subprocess.Popen(["sleep", "600"], start_new_session=True))
        return started[-1]

    monkeypatch.setattr(grade, "_start_job", start_job)
    monkeypatch.setattr(grade, "SLACK_S", 10)  # unfixed, the job would be killed at its hard limit: 30 s here
    env = dict(_env(course), settings=Settings(jobs=1, notebook_timeout=20), model_dir=None, reference_dir=None, probe_secret="s", data_dirs=[], images=[],
               forkserver=None, snapshot=tmp_path / "gradebook.db")
    t0 = time.monotonic()
    result, job_dir = grade._run_job(sub, 0, env, {}, stop)
    assert (result["status"], result["reason"], job_dir) == ("error", "interrupted", None)
    assert started[0].returncode is not None and time.monotonic() - t0 < 15


def test_closing_a_fork_server_that_is_still_importing_does_not_wait_for_it(tmp_path):
    """Ctrl-C (or a failed course check) while the server still imports torch: the grader waited up to 30 s
    for a server that could not read its closed stdin yet, then killed it."""
    import time
    from pathlib import Path

    from autograder.forkserver import ForkServer

    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(120)\n")
    root = str(Path(__file__).resolve().parents[1])
    server = ForkServer(dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), root])),
                        preload=("slow_to_import",))
    time.sleep(1)
    t0 = time.monotonic()
    server.close()
    assert time.monotonic() - t0 < 10 and server._proc.returncode is not None


# ---- the grader's calls of a student's function (quiz 6) are charged to the notebook's budget ------------
def test_reading_from_the_kernel_waits_no_longer_than_the_notebooks_time_left(monkeypatch):
    """A function the grader calls runs in the kernel: each call waited up to 30 s (or the cell limit) even
    with the notebook's budget spent, so a slow function could stretch a job well past its limit."""
    import time

    from autograder import verdict
    from autograder.execute import SafeExecute

    waited = []

    async def no_reply(self, expression, timeout):
        waited.append(timeout)
        return None

    class FakeKernel:
        async def is_alive(self):
            return True

        async def interrupt_kernel(self):
            waited.append("interrupted")

    monkeypatch.setattr(SafeExecute, "_async_expression", no_reply)
    ex = SafeExecute(notebook_timeout=100, timeout=60)
    ex.km = FakeKernel()
    ex._started = time.monotonic() - 90  # 10 s of the budget left
    with pytest.raises(verdict.Malformed, match=r"did not answer within (9|10) s \(the rest of the notebook's time limit\)"):
        ex._call_in_kernel("top1_filename", "[]")
    assert waited[0] in (9, 10) and waited[1] == "interrupted"
    ex._started = time.monotonic() - 101  # spent: nothing is asked any more
    with pytest.raises(verdict.Malformed, match=r"time limit \(100 s\) was reached before the grader could read"):
        ex._call_in_kernel("top1_filename", "[]")
    assert len(waited) == 2
    ex._started = time.monotonic()  # plenty left: the cell limit (60 s) bounds the wait, as before
    with pytest.raises(verdict.Malformed, match=r"within 60 s$"):
        ex._call_in_kernel("top1_filename", "[]")
    assert waited[2] == 60
