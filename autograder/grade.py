"""Grade a whole class: collect → gradebook → autograde (N at once) → feedback → CSV → summary.

Each submission is graded by ``job.py`` in its own process and throw-away course; this process
is the only one that writes the class's gradebook, ``autograded/``, ``feedback/`` and results,
one submission at a time, as results arrive. A result file per (assignment, student) under
``build/grades/.state/`` records what was graded (the submission's digest and the assignment's
fingerprint), so a rerun grades only what is missing or changed; interrupting loses at most the
submissions being graded at that moment.
"""
import concurrent.futures
import contextlib
import hashlib
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import collect, forkserver, gradebook, modelcheck, preflight, report, sandbox, untrusted, verdict
import filelock

from .course import (PACKAGE_DIR, Course, CourseError, Settings, cell_timeout, course_paths, jobs_for, resolve_model,
                     read_json, sandbox_spec, unreadable_files, write_json, write_text)

SLACK_S = 300  # on top of the notebook budget: kernel start, nbgrader, feedback
# What every job process imports (job.py's own imports, and what it imports later: nbgrader's converters and
# gradebook, nbconvert's HTML exporter, Jupyter's messaging, PIL for the verdict), imported once in the fork
# server rather than once per job; then the feedback's renderer warmed up on a made-up notebook (feedback.py).
JOB_PRELOAD = ("autograder.job", "nbgrader.converters", "nbgrader.api", "nbconvert.exporters.html", "zmq",
               "sqlite3", "PIL.Image", "PIL.PngImagePlugin", "autograder.feedback:warm_up")


class ClassRun:
    """What one run produced: the results (one per student and assignment) and where files went."""

    def __init__(self, course, results, outputs, seconds=None):
        self.course, self.results, self.outputs = course, results, outputs
        self.seconds = seconds or {}  # "set_up": before the first job could start; "total"


def grade_class(submissions, course_root=".", assignment=None, settings=None, log=print):
    """Grade every submission in ``submissions`` for the course at ``course_root`` (one run per course at once)."""
    course = Course(course_root)
    with one_run(course):
        return _grade_class(submissions, course, assignment, settings or Settings(), log)


@contextlib.contextmanager
def one_run(course):
    """The course's grading lock (``build/grades/.state/grading.lock``, an ``flock`` the kernel drops when the run
    ends, however it ends): a second run on the same course stops at once and says who holds it."""
    state = course.out / ".state"
    state.mkdir(parents=True, exist_ok=True)
    holder = state / "grading.lock.holder"
    lock = filelock.FileLock(state / "grading.lock", timeout=0, fallback_to_soft=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        who = "another process"
        for _ in range(20):   # the holder writes its name just after it takes the lock: give it 2 s to appear
            try:
                name = holder.read_text(encoding="utf-8").strip()
            except OSError:
                name = ""
            if name:
                who = name
                break
            time.sleep(0.1)
        raise CourseError(f"another grading run is working on {course.root} ({who}): nothing was changed; wait for it "
                          "to end (or stop it) and run the command again; what it finished is kept") from None
    try:
        write_text(holder, f"process {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                           f"{' '.join(sys.argv)[:200]}\n")
        yield
    finally:
        holder.unlink(missing_ok=True)   # never names a run that has ended
        lock.release()


def _grade_class(submissions, course, assignment, settings, log):
    started = time.monotonic()
    subs = collect.find(submissions, course, assignment)
    for entry, why in subs.skipped:
        log(f"not graded: {report.printable(entry)} ({report.printable(why)})")
    if not subs:
        raise CourseError(f"no submissions in {submissions}: expected <student>/<assignment>/*.ipynb "
                          "or <student>.ipynb files")
    jobs, why = jobs_for(settings)
    if settings.sandbox:
        check_sandbox()
    course.out.mkdir(parents=True, exist_ok=True)
    model_dir = _readable_model(course, resolve_model(course), log)
    reference_dir = prepare_references(course, model_dir, log)
    _check_readable(course)
    assignments = sorted({s.assignment for s in subs if s.assignment in course.assignments()})
    box = preflight.sandbox_key(course, settings, model_dir, jobs)
    fingerprints, zero_grades = {}, {}
    for a in assignments:
        fingerprints[a] = course.ensure_in_gradebook(a, log) + f"-{_model_key(model_dir)}-{box}"
        zero_grades[a] = course.grade_cells(a)
    snapshot = course.out / ".state" / "gradebook-snapshot.db"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    if course.db_path.exists():
        gradebook.snapshot(course.db_path, snapshot)

    results, todo = {}, []
    for sub in subs:
        previous = read_json(_result_path(course, sub.assignment, sub.student))
        if (previous and not settings.force and previous["status"] != "error"
                and previous.get("digest") == sub.digest
                and previous.get("name", sub.name) == sub.name
                and previous.get("fingerprint") == fingerprints.get(sub.assignment)):
            results[(sub.assignment, sub.student)] = previous
        else:
            todo.append(sub)
    if results:
        log(f"{len(results)} submission(s) already graded (kept; --force grades them again)")
    data_dirs = [p for p in course_paths(course) if os.path.basename(p) == "data"]
    env = dict(settings=settings, course=course, jobs=jobs, snapshot=snapshot, model_dir=model_dir,
               probe_secret=_probe_secret(course), data_dirs=data_dirs,
               images=verdict.image_index(data_dirs, cache=course.out / ".state" / "course-images.json"),
               reference_dir=reference_dir, fingerprints=fingerprints, zero_grades=zero_grades)
    to_run = any(not s.problem for s in todo)
    # The fork server imports what every job needs while the check below runs (another core, where there is one).
    env["forkserver"] = _start_fork_server(env) if to_run else None
    try:
        if to_run:  # before any job starts; nothing to grade, nothing to check
            preflight.check_course_reachable(course, settings, model_dir, jobs, assignments, log)
        if env["forkserver"] and not env["forkserver"].ready():
            env["forkserver"].close()
            env["forkserver"] = None
            log("note: the fork server did not start; each submission's grading process starts afresh")
        set_up = time.monotonic() - started
        for done in _run_all(todo, env, log):
            results[(done["assignment"], done["student"])] = done
    finally:
        if env["forkserver"]:
            env["forkserver"].close()
    outputs = write_reports(course, list(results.values()), settings, log, skipped=subs.skipped)
    log(f"--jobs {jobs}: {why}")
    return ClassRun(course, list(results.values()), outputs,
                    seconds={"set_up": round(set_up, 2), "total": round(time.monotonic() - started, 2)})


# ---- preparation --------------------------------------------------------------------------------------
def sandbox_works():
    """True when the grading sandbox can start here (Linux, root), for the commands that grade with it when they can."""
    try:
        check_sandbox()
        return True
    except CourseError:
        return False


def check_sandbox():
    """Start a trivial command in the sandbox once; a clear error if this machine cannot."""
    try:
        sandbox.tool("bwrap")
    except sandbox.SandboxError as error:
        raise CourseError(str(error)) from None
    spec = {"uid": 61999, "gid": 61999, "isolate": True, "readonly": ["/usr", "/lib", "/lib64", "/bin", "/etc",
            sys.base_prefix, sys.prefix], "env": {"PATH": "/usr/bin:/bin"},
            "limits": {"memory_mb": 512, "cpu_seconds": 10, "processes": 16, "file_mb": 1, "tmpfs_mb": 1, "workdir_mb": 1}}
    with tempfile.TemporaryDirectory(prefix="ag-check-") as tmp:
        done, log = sandbox.run_once(spec, [sys.executable, "-c", "pass"], tmp, timeout=60)
        if done.returncode != 0:
            why = log + done.stderr
            raise CourseError("the grading sandbox cannot start on this machine (it needs Linux, root and "
                              f"bubblewrap): {why.strip()[-400:]}\nRun as root, or pass --no-sandbox to run "
                              "student code with your own permissions (rlimits and the guard still apply).")


def _model_key(model_dir):
    """Changes when the model's files change (a retrained model means grading again)."""
    if not model_dir:
        return "none"
    files = sorted(p for p in Path(model_dir).rglob("*") if p.is_file())
    stamp = "".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns};" for p in files)
    return hashlib.sha256(stamp.encode()).hexdigest()[:12]


def _readable_model(course, model_dir, log):
    """Kernels run as an unprivileged user: if the model files are not world-readable, use a readable copy."""
    if not model_dir or not unreadable_files([model_dir]):
        return model_dir
    copy = course.out / ".model" / Path(model_dir).name
    stamp = copy.parent / f"{copy.name}.from"
    wanted = f"{model_dir} {_model_key(model_dir)}"
    if not (copy.exists() and stamp.exists() and stamp.read_text() == wanted):
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(model_dir, copy)
        for path in copy.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        stamp.write_text(wanted)
    log(f"note: {model_dir} has files only root can read; graded kernels use a readable copy in {copy}")
    return str(copy)


def prepare_references(course, model_dir, log):
    """Fill the quizzes' reference cache once per class; kernels get it read-only (nobody can poison it)."""
    if not model_dir or not (course.root / "clipcourse" / "reference.py").is_file():
        return None
    cache = course.out / ".references"
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CLIP_MODEL=model_dir, CLIP_COURSE_CACHE=str(cache), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "clipcourse.reference", "build", "--model", model_dir],
                          cwd=course.root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise CourseError(f"the reference answers could not be computed:\n{(done.stdout + done.stderr)[-2000:]}")
    log(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else f"references ready in {cache}")
    return cache


def _check_readable(course):
    """What kernels read (the course's package and data) must be world-readable; the reference answers need not
    be: only the job process, outside the box, reads them."""
    bad = unreadable_files(course_paths(course))
    if bad:
        raise CourseError("graded kernels run as an unprivileged user and cannot read: " + ", ".join(bad[:5])
                          + " — make them world-readable (chmod a+r) and run again")


def _probe_secret(course):
    """A random secret kept in build/grades/.state (readable by root only): the same for every run of
    this class, so grades are reproducible, and unknown to students."""
    path = course.out / ".state" / "probe-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(16))
    return path.read_text().strip()


def _result_path(course, assignment, student):
    return course.state_dir(assignment) / "results" / f"{student}.json"


# ---- running the jobs ---------------------------------------------------------------------------------
def _problem_result(sub, env, status, reason):
    return {"student": sub.student, "name": sub.name, "assignment": sub.assignment, "status": status, "reason": reason,
            "grades": [dict(g) for g in env["zero_grades"].get(sub.assignment, [])], "notes": list(sub.notes), "flags": list(sub.flags), "events": {}, "cells": {},
            "digest": sub.digest, "fingerprint": env["fingerprints"].get(sub.assignment), "timing": {}}


def _failed_result(sub, env, what, error):
    """The ``error`` row of a submission the grader itself failed on: names its files, says what to do."""
    files = [str(p) for p in sub.files.values()] or ([str(sub.base)] if sub.base else [sub.name])
    where = ", ".join(collect.display_name(f) for f in files)
    why = f"{type(error).__name__}: {error}".encode("utf-8", "backslashreplace").decode("utf-8")[:300]
    return _problem_result(sub, env, "error", f"{what} ({where}): {why} — nothing was saved for it; run the same "
                           "command again, and if it fails again, rename the file (plain letters and digits) "
                           "and report this line")


def _run_all(todo, env, log):
    """Yield each submission's result after merging it, printing one line per submission."""
    course, settings = env["course"], env["settings"]
    total, count = len(todo), 0
    runnable = []
    for sub in todo:
        if sub.problem:
            count += 1
            result = _problem_result(sub, env, "unreadable", sub.problem)
            _merge(course, result, None)
            log(_line(count, total, result, settings))
            yield result
        else:
            try:
                collect.install(sub, course)
            except Exception as error:  # noqa: BLE001 - one submission never stops the class
                count += 1
                result = _failed_result(sub, env, "could not copy the submission into the course", error)
                log(_line(count, total, result, settings))
                yield result
                continue
            runnable.append(sub)
    if not runnable:
        return
    slots = queue.Queue()
    for slot in range(env["jobs"]):
        slots.put(slot)
    running = {}  # slot -> Popen, for Ctrl-C
    stop = threading.Event()

    def work(sub):
        slot = slots.get()
        try:
            return _run_job(sub, slot, env, running, stop)
        finally:
            slots.put(slot)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=env["jobs"])
    futures = {pool.submit(work, sub): sub for sub in runnable}
    try:
        for future in concurrent.futures.as_completed(futures):
            count += 1
            job_dir = None
            try:
                result, job_dir = future.result()
                _merge(course, result, job_dir)
            except Exception as error:  # noqa: BLE001 - a bug or an odd file: that row says so, the class goes on
                result = _failed_result(futures[future], env, "the grader failed on it", error)
            _discard(job_dir)
            log(_line(count, total, result, settings))
            yield result
    except KeyboardInterrupt:
        stop.set()
        for f in futures:
            f.cancel()
        for proc in list(running.values()):
            _kill(proc)
        pool.shutdown(wait=True, cancel_futures=True)
        for f in futures:  # a job that finished while Ctrl-C was handled is not saved (the next run grades it)
            if f.done() and not f.cancelled() and f.exception() is None:
                _discard(f.result()[1])
        log(f"interrupted: {count} of {total} graded and saved; run the same command again to grade the rest")
        raise SystemExit(130)
    pool.shutdown(wait=True)


def _discard(job_dir):
    """Remove a job's folder once it is merged or given up (``AUTOGRADER_KEEP_JOBS=1`` keeps them all)."""
    if job_dir and not os.environ.get("AUTOGRADER_KEEP_JOBS"):
        shutil.rmtree(job_dir, ignore_errors=True)


def _job_env(env):
    """The environment of every job process of this class (each job adds its own probe seed)."""
    child_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PACKAGE_DIR.parent), str(env["course"].root)]),
                     HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if env["model_dir"]:  # the trusted verdict (verdict.py) computes and reads references in the job process
        child_env.update(CLIP_MODEL=env["model_dir"], CLIP_COURSE_GRADING="1")
    if env["reference_dir"]:
        child_env["CLIP_COURSE_CACHE"] = str(env["reference_dir"])
    child_env.pop("NBGRADER_EXECUTION", None)
    return child_env


def _start_fork_server(env):
    """A fork server for this class's job processes (forkserver.py), starting; None where there is none (not
    Linux, or AUTOGRADER_FORKSERVER=0): each job then starts as a new process."""
    if not sys.platform.startswith("linux") or os.environ.get("AUTOGRADER_FORKSERVER") == "0":
        return None
    try:
        return forkserver.ForkServer(_job_env(env), preload=JOB_PRELOAD + tuple(env["settings"].preload))
    except OSError:
        return None


class _ServerLost(Exception):
    """The fork server ended (killed, out of memory) while this submission's job, forked from it, was running."""


def _run_job(sub, slot, env, running, stop):
    server = env.get("forkserver")
    while True:
        if stop.is_set():
            return _problem_result(sub, env, "error", "interrupted"), None
        job_dir = tempfile.mkdtemp(prefix="ag-")  # short: unix socket paths must stay under 108 bytes
        try:
            return _run_job_in(sub, slot, env, running, stop, job_dir, server)
        except _ServerLost:  # the job died with the server, not of its own accord: once more, as a new process
            shutil.rmtree(job_dir, ignore_errors=True)
            server = None
            sub.notes.append("its grading process died with the grader's fork server (killed: out of memory, "
                             "or by a notebook's code); graded again in a new process")
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise


def _run_job_in(sub, slot, env, running, stop, job_dir, server=None):
    course, settings = env["course"], env["settings"]
    os.chmod(job_dir, 0o755)
    kernel_dir = os.path.join(job_dir, "kernel")
    os.makedirs(kernel_dir)
    spec = sandbox_spec(course, settings, slot, kernel_dir, env["model_dir"], env["jobs"])
    job = {
        "dir": job_dir, "class_root": str(course.root), "student": sub.student, "name": sub.name,
        "assignment": sub.assignment, "course_id": course.course_id,
        "gradebook": str(env["snapshot"]), "source": str(course.source / sub.assignment),
        "files": {name: str(path) for name, path in sub.files.items()},
        "base": str(sub.base) if sub.base else None, "extra": [str(e) for e in sub.extra],
        "notes": sub.notes, "flags": sub.flags, "digest": sub.digest, "fingerprint": env["fingerprints"][sub.assignment],
        "settings": {"cell_timeout": cell_timeout(course, settings), "notebook_timeout": settings.notebook_timeout,
                     "sandbox": settings.sandbox, "guard": settings.guard},
        "data_dirs": env["data_dirs"], "images": env["images"],
        "sandbox_spec": spec,
    }
    write_json(os.path.join(job_dir, "job.json"), job)
    child_env = _job_env(env)
    # quiz 6's grading inputs: drawn from a secret only the grader holds (never in a kernel's environment)
    child_env["CLIP_COURSE_PROBE_SEED"] = hashlib.sha256(
        f"{env['probe_secret']}:{sub.student}:{sub.digest}".encode()).hexdigest()[:16]
    proc = _start_job(server, job_dir, child_env)
    running[slot] = proc
    if stop.is_set():  # Ctrl-C came while it started: the main thread's kill may have missed it
        _kill(proc)
    try:
        proc.wait(timeout=settings.notebook_timeout + SLACK_S)
        killed = False
    except subprocess.TimeoutExpired:
        _kill(proc)
        killed = True
    finally:
        running.pop(slot, None)
    if stop.is_set():  # Ctrl-C: this one was killed half-way; the next run grades it
        shutil.rmtree(job_dir, ignore_errors=True)
        return _problem_result(sub, env, "error", "interrupted"), None
    try:
        result = _read_result(Path(job_dir, "result.json"))
    except (OSError, ValueError):
        if killed:
            result = _problem_result(sub, env, "timed out", f"grading took longer than {settings.notebook_timeout + SLACK_S} s "
                                     "and was stopped; no test ran to the end (scored 0)")
        elif proc.returncode is None and isinstance(proc, forkserver.Job):
            raise _ServerLost()
        else:
            tail = Path(job_dir, "job-output.txt").read_text(errors="replace")[-400:]
            result = _problem_result(sub, env, "error", f"the grading process ended without a result "
                                     f"(exit code {proc.returncode}): {tail.strip()} — nothing was saved for it; "
                                     "run the same command again")
    return result, job_dir


#: A job's result.json is a few kilobytes; text in it that came from the submission (a note naming a cell, a
#: verdict quoting a value) is cut here, in the main process, so no submission can fill the console or reports.
MAX_RESULT_MB = 16
MAX_TEXT = 2000
MAX_LINES = 200


def _read_result(path):
    """A job's result, read with a size cap, its reason, notes and flags cut to MAX_TEXT characters and
    MAX_LINES entries each (ValueError when the file is too large or not a result)."""
    if path.stat().st_size > MAX_RESULT_MB * 2 ** 20:
        raise ValueError(f"result.json is over {MAX_RESULT_MB} MB")
    result = json.loads(path.read_text())
    if not isinstance(result, dict):
        raise ValueError("result.json is not a result")
    result["reason"] = untrusted.label(result.get("reason") or "", MAX_TEXT)
    for key in ("notes", "flags"):
        lines = [untrusted.label(line, MAX_TEXT) for line in result.get(key) or []]
        result[key] = lines if len(lines) <= MAX_LINES else \
            lines[:MAX_LINES] + [f"… and {len(lines) - MAX_LINES} more {key} (the job's logs have them)"]
    return result


def _start_job(server, job_dir, child_env):
    """``python -m autograder.job JOB_DIR/job.json`` in its own session, forked from the fork server when
    there is one; its stdout and stderr go to ``job-output.txt``."""
    argv, output = [os.path.join(job_dir, "job.json")], os.path.join(job_dir, "job-output.txt")
    if server:
        try:
            return server.start("autograder.job", argv, cwd=job_dir, env=child_env, output=output)
        except forkserver.ForkServerError:
            pass  # it stopped: this job starts afresh
    # the job ends with the grader, as a forked one ends with the server (job.main asks the kernel for that)
    env = dict(child_env, AUTOGRADER_PARENT_PID=str(os.getpid()))
    with open(output, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "autograder.job", *argv], cwd=job_dir, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the kernel's launcher dies with it (PR_SET_PDEATHSIG)
    except ProcessLookupError:
        pass
    proc.wait()


def _merge(course, result, job_dir):
    """Copy files, write the gradebook, then the result file (that order: a crash means 'grade again')."""
    student, assignment = result["student"], result["assignment"]
    if job_dir and result["status"] != "graded":
        _keep_logs(course, result, job_dir)
    if job_dir and result["status"] != "error":
        for folder, target in (("autograded", course.autograded), ("feedback", course.feedback)):
            src = Path(job_dir, "course", folder, student, assignment)
            dest = target / student / assignment
            if dest.exists():
                shutil.rmtree(dest)  # never leave an older run's files next to this result
            if src.is_dir():
                shutil.copytree(src, dest)
        result["feedback"] = [str(course.feedback / student / assignment / Path(p).name)
                              for p in result.get("feedback", [])]
    gradebook.merge(course.db_url, result, course.course_id)
    if result["status"] != "error":
        write_json(_result_path(course, assignment, student), result)


def _keep_logs(course, result, job_dir):
    """A row that is not ``graded`` keeps its job's logs (nbgrader's, the kernel's) for the instructor."""
    dest = course.out / "logs" / result["assignment"] / result["student"]
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("log.txt", "job-output.txt", "kernel/kernel.log", "events.json", "result.json"):
        if Path(job_dir, name).is_file():
            shutil.copy(Path(job_dir, name), dest / Path(name).name)
    result.setdefault("notes", []).append(f"job log: {dest.relative_to(course.root)}")


def _line(count, total, result, settings):
    score, max_score, _ = report.totals(result, settings.quiz_pattern)
    seconds = result.get("timing", {}).get("total")
    name = report.printable(result.get("name") or result["student"])  # a newline in a name stays on its line
    head = (f"[{count:>{len(str(total))}}/{total}] {result['assignment']}/{name:<16} "
            f"{score:>5g}/{max_score:<5g} {result['status']:<11}" + (f" {seconds:6.1f} s" if seconds else ""))
    details = [result["reason"]] if result.get("reason") else []
    details += result.get("notes", []) + result.get("flags", [])
    return head + "".join(f"\n      {report.printable(d)}" for d in details)


def write_reports(course, results, settings, log=print, skipped=()):
    """A CSV and a summary table per assignment under build/grades/; returns their paths."""
    outputs = {}
    for assignment in sorted({r["assignment"] for r in results}):
        rows = [r for r in results if r["assignment"] == assignment]
        max_points = {assignment: max((report.totals(r, settings.quiz_pattern)[1] for r in rows), default=0)}
        modelcheck.annotate(rows, course.submitted, course.autograded)  # which model answered
        csv_path = course.out / f"{assignment}.csv"
        write_text(csv_path, report.csv_text(rows, settings.quiz_pattern, max_points))
        table = report.summary_table(rows, settings.quiz_pattern, skipped)
        summary_path = course.out / f"{assignment}-summary.txt"
        write_text(summary_path, table + "\n")
        log(f"\n{assignment}\n{table}\ngrades: {csv_path}")
        outputs[assignment] = {"csv": csv_path, "summary": summary_path}
    return outputs
