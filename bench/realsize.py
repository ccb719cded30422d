"""The real-size rehearsal (``make real-size``): the whole course at the real CLIP's size.

    python -m bench.realsize [--model standin|course|FOLDER] [--students 5] [--skip PART ...]

With ``--model standin`` (the default) it first writes the random-weight ViT-B/32 stand-in
(clipcourse/standin.py: the real model's shape, 224 px, ~600 MB) into ``build/real-size/``, then runs
everything through ``CLIP_MODEL``, as an instructor with the real model would:

1. ``references``: the quizzes' reference cache built once (``python -m clipcourse.reference build``);
   ``textproc``: the process the hidden tests start to embed a student's texts, its own peak memory;
2. ``notebooks``: the four lecture notebooks;
3. ``solutions``: the four quiz solutions (source/, hidden tests included, references from the cache);
4. ``check``: ``make check-quizzes`` — with random weights quizzes 2 and 7 cannot be reached, which is
   expected and said so; what is checked is that the command runs to the end at this size;
5. ``grade``: a class graded with ``make grade`` (default settings: jobs = cores, the default memory
   cap and timeouts): ``--students`` students × the four quizzes (solutions, one partial and one
   blank per quiz from autograder.samples), i.e. 20 submissions with the default 5.

Every kernel reports its peak address space (what the grader's ``--memory-mb`` caps) and peak
resident memory through a last cell appended to the run copy. The figures go to
``build/real-size/rehearsal-<model>.json`` and are printed as they come. With the stand-in it took
84 minutes on a 2-core machine that was busy with other work (load 10); ``--model course`` rehearses
the course model for comparison.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from .common import (MEASURE_CELL, OFFLINE, OUT, ROOT, kernel_memory, machine, model_facts, model_folder,
                     run_notebook, say, with_measure_cell, write_json)

PARTS = ("references", "textproc", "notebooks", "solutions", "check", "grade")
ASSIGNMENTS = ("quiz_cosine", "quiz_topk", "quiz_search", "quiz_guess")
ROLES = ("solution", "solution", "solution", "partial", "blank")  # student i gets ROLES[i % 5]


def _child_peak_mb():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def references(env, record):
    """Build the reference cache from nothing, timed (a fresh Python process, as the grader does)."""
    cache = Path(env["CLIP_COURSE_CACHE"])
    if cache.exists():
        shutil.rmtree(cache)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "clipcourse.reference", "build"], cwd=ROOT,
                          env=dict(os.environ, **env), capture_output=True, text=True)
    seconds = time.monotonic() - started
    record["references"] = {"seconds": round(seconds, 1), "ok": done.returncode == 0,
                            "output": (done.stdout + done.stderr).strip()[-600:]}
    say(f"reference cache built in {seconds:.1f} s" if done.returncode == 0
        else f"reference cache FAILED:\n{done.stdout}{done.stderr}")


TEXT_PROCESS = r"""
import io, json, sys
from clipcourse import reference
sys.stdin = io.StringIO(json.dumps(["a photo of a running dog"]))
sys.stdout, real = io.StringIO(), sys.stdout
reference.main(["embed-texts"])
sys.stdout = real
status = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith(("VmPeak", "VmHWM")))
print(json.dumps({k: int(v.split()[0]) // 1024 for k, v in status.items()}))
"""


def textproc(env, record):
    """The process the hidden tests start to embed a student's texts (quizzes 2, 5 and 7): its own peak
    memory, which the grader caps separately (the cap is per process)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", TEXT_PROCESS], cwd=ROOT, env=dict(os.environ, **env),
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    try:
        memory = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        memory = {}
    record["text_process"] = {"seconds": round(seconds, 1), "address_space_peak_mb": memory.get("VmPeak"),
                              "rss_peak_mb": memory.get("VmHWM"), "ok": done.returncode == 0}
    say(f"the hidden tests' text-embedding process: {seconds:.1f} s, peak address space {memory.get('VmPeak')} MB, "
        f"peak RSS {memory.get('VmHWM')} MB" + ("" if done.returncode == 0 else f"; FAILED: {done.stderr[-800:]}"))


def notebooks(env, record, folder, pattern):
    record[folder] = {}
    for path in sorted(ROOT.glob(pattern)):
        extra = dict(env, CLIP_COURSE_GRADING="1") if folder == "solutions" else env
        result = run_notebook(path, extra)
        nb_errors = result.pop("errors")
        result["failed_cells"] = nb_errors
        record[folder][path.stem] = result
        say(f"{path.name}: {result['seconds']:.1f} s, kernel peak address space {result['address_space_peak_mb']} MB, "
            f"peak RSS {result['rss_peak_mb']} MB" + (f", child process peak RSS {result['child_rss_peak_mb']} MB"
                                                      if result.get("child_rss_peak_mb") else "")
            + (f"; cells that raised: {nb_errors}" if nb_errors else ""))


def check(env, record, standin):
    started = time.monotonic()
    done = subprocess.run(["make", "--no-print-directory", "check-quizzes"], cwd=ROOT, env=dict(os.environ, **env),
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    lines = done.stdout.splitlines()
    rows = [line.strip() for line in lines if line.strip().startswith(("ok ", "MISS "))]
    missed = sum(row.startswith("MISS") for row in rows)
    crashed = "Traceback" in done.stderr or len(rows) != 6
    record["check_quizzes"] = {"seconds": round(seconds, 1), "returncode": done.returncode, "targets": len(rows),
                               "missed": missed, "crashed": crashed, "output": done.stdout.strip()[-2000:]}
    say("\n".join("  " + line for line in lines))
    if crashed:
        say(f"make check-quizzes did not run to the end:\n{done.stderr[-2000:]}")
    elif missed and standin:
        say(f"make check-quizzes: {missed} of {len(rows)} targets missed, as expected — the stand-in has random "
            "weights, so quizzes 2 and 7 cannot be reached with it. The command itself ran to the end at this size "
            f"in {seconds:.1f} s; with the real model every target must be 'ok'.")
    else:
        say(f"make check-quizzes: {len(rows) - missed} of {len(rows)} targets reached in {seconds:.1f} s")


def _class(course, dest, students):
    """dest/<student>/<assignment>/<assignment>.ipynb, each with the memory cell appended."""
    from autograder.samples import write_samples

    samples = write_samples(course, dest.parent / "samples", ASSIGNMENTS)
    roles = {}
    for i in range(students):
        student = f"student-{i + 1:02d}"
        for assignment in ASSIGNMENTS:
            role = ROLES[i % len(ROLES)]
            source = samples / f"sample-{role}" / assignment / f"{assignment}.ipynb"
            if not source.exists():  # a quiz with one answer cell has no partial sample
                role, source = "solution", samples / "sample-solution" / assignment / f"{assignment}.ipynb"
            target = dest / student / assignment / f"{assignment}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(with_measure_cell(nbformat.read(source, as_version=4)), target)
            roles[(student, assignment)] = role
    return roles


def grade(env, record, key, students):
    from autograder.course import Course, threads_per_kernel
    from autograder.samples import course_copy

    work = OUT / f"class-{key}"
    if work.exists():
        shutil.rmtree(work)
    course = Course(course_copy(ROOT, work / "course"))
    roles = _class(course, work / "submitted", students)
    command = ["make", "--no-print-directory", "grade", f"SUBMISSIONS={work / 'submitted'}",
               f"GRADE_ARGS=--course {course.root}"]
    say(f"grading {len(roles)} submissions: {' '.join(command)}")
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=dict(os.environ, **env), capture_output=True, text=True)
    wall = time.monotonic() - started
    (work / "grade-output.txt").write_text(done.stdout + done.stderr)
    jobs = os.cpu_count() or 1
    threads = threads_per_kernel(jobs)
    rows, by_assignment = [], {}
    for (student, assignment), role in sorted(roles.items()):
        path = course.state_dir(assignment) / "results" / f"{student}.json"
        result = json.loads(path.read_text()) if path.is_file() else {"status": "missing", "grades": []}
        autograded = course.autograded / student / assignment / f"{assignment}.ipynb"
        memory = kernel_memory(nbformat.read(autograded, as_version=4)) if autograded.is_file() else {}
        score = sum(g.get("auto_score") or 0 for g in result.get("grades", []))
        top = sum(g.get("max_score") or 0 for g in result.get("grades", []) if g.get("max_score"))
        row = {"student": student, "assignment": assignment, "role": role, "status": result["status"],
               "score": score, "max_score": top, "seconds": (result.get("timing") or {}).get("total"),
               "notebook_seconds": (result.get("timing") or {}).get("notebook"),
               "address_space_peak_mb": memory.get("VmPeak"), "rss_peak_mb": memory.get("VmHWM"),
               "child_rss_peak_mb": memory.get("children_maxrss"), "kernel_cpu_s": memory.get("cpu_s"),
               "reason": result.get("reason", "")}
        rows.append(row)
        by_assignment.setdefault(assignment, []).append(row)
    summary = {}
    for assignment, items in by_assignment.items():
        solved = [r for r in items if r["role"] == "solution" and r["seconds"]]
        summary[assignment] = {
            "solution_seconds_mean": round(statistics.mean(r["seconds"] for r in solved), 1) if solved else None,
            "core_seconds_per_solution": round(statistics.mean(r["seconds"] for r in solved) * threads, 1) if solved else None,
            "address_space_peak_mb": max((r["address_space_peak_mb"] or 0 for r in items), default=None),
            "rss_peak_mb": max((r["rss_peak_mb"] or 0 for r in items), default=None),
            "child_rss_peak_mb": max((r["child_rss_peak_mb"] or 0 for r in items), default=None),
            "statuses": sorted({r["status"] for r in items})}
    reference_line = next((line for line in done.stdout.splitlines() if line.startswith("references for")), "")
    record["grade"] = {"command": " ".join(command), "returncode": done.returncode, "submissions": len(rows),
                       "jobs": jobs, "threads_per_kernel": threads, "wall_seconds": round(wall, 1),
                       "seconds_per_submission": round(wall / max(1, len(rows)), 1),
                       "reference_line": reference_line, "by_assignment": summary, "rows": rows,
                       "output_tail": (done.stdout + done.stderr)[-3000:]}
    say(f"graded {len(rows)} submissions in {wall:.0f} s ({wall / max(1, len(rows)):.1f} s per submission, "
        f"--jobs {jobs}); make grade exit status {done.returncode}")
    for assignment, s in summary.items():
        say(f"  {assignment:<12} solution {s['solution_seconds_mean']} s per job, kernel peak address space "
            f"{s['address_space_peak_mb']} MB, peak RSS {s['rss_peak_mb']} MB, child peak RSS {s['child_rss_peak_mb']} MB, "
            f"statuses {s['statuses']}")
    bad = [r for r in rows if r["status"] not in ("graded",)]
    if bad:
        say("  not graded to the end: " + "; ".join(f"{r['assignment']}/{r['student']}: {r['status']} {r['reason']}"
                                                   for r in bad))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="standin", help="standin (default), course, or a model folder")
    parser.add_argument("--students", type=int, default=5, help="students; each submits the four quizzes (default 5)")
    parser.add_argument("--skip", nargs="*", default=[], choices=PARTS,
                        help="parts not to run; their figures from the last run's JSON are kept")
    parser.add_argument("--out", help="JSON file (default build/real-size/rehearsal-<model>.json)")
    args = parser.parse_args(argv)
    key = args.model if args.model in ("standin", "course") else Path(args.model).name
    started = time.monotonic()
    folder = model_folder(args.model)
    say(f"real-size rehearsal with {folder} (load average {os.getloadavg()[0]:.1f})")
    out = Path(args.out) if args.out else OUT / f"rehearsal-{key}.json"
    record = {}
    if args.skip and out.is_file():  # a partial rerun keeps the parts it skips from the last run
        record = json.loads(out.read_text())
        record.setdefault("earlier_machine", record.get("machine"))
    record.update(model=model_facts(folder), machine=machine())
    env = dict(OFFLINE, CLIP_MODEL=folder, CLIP_COURSE_CACHE=str(OUT / f"cache-{key}"))
    steps = {"references": lambda: references(env, record), "textproc": lambda: textproc(env, record),
             "notebooks": lambda: notebooks(env, record, "notebooks", "notebooks/0*.ipynb"),
             "solutions": lambda: notebooks(env, record, "solutions", "source/*/*.ipynb"),
             "check": lambda: check(env, record, args.model == "standin"),
             "grade": lambda: grade(env, record, key, args.students)}
    for part in PARTS:
        if part in args.skip:
            continue
        say(f"\n== {part}")
        steps[part]()
        write_json(out, record)  # what is measured so far survives an interruption
    record["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    record["total_seconds"] = round(time.monotonic() - started)
    say(f"\nrehearsal done in {record['total_seconds'] / 60:.0f} min: {write_json(out, record)}")
    failed = ([n for part in ("notebooks",) for n, r in record.get(part, {}).items() if r.get("failed_cells")]
              + (["references"] if record.get("references", {}).get("ok") is False else [])
              + (["check-quizzes"] if record.get("check_quizzes", {}).get("crashed") else [])
              + (["grade"] if record.get("grade", {}).get("returncode") not in (None, 0) else []))
    if failed:
        say(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
