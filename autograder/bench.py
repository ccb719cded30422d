"""Benchmarks (``make bench``; not a test): how long grading takes and what it costs beyond the notebook.

    python -m autograder bench [--copies 20] [--assignment quiz_search]

1. the notebook's own run time: the solution executed by nbclient, no nbgrader, no sandbox, with the
   same model, references and threads as a sequential grading run (median of 3);
2. a class of N copies of the solution graded sequentially (``--jobs 1``) and in parallel
   (``--jobs`` = cores): seconds per submission and the speed-up;
3. the grading overhead per submission: sequential seconds per submission minus (1), and where it
   goes (job process start, nbgrader, kernel start in the sandbox, feedback); also without the class's
   one-off set-up (the kernels' reachability check, the references, the fork server's imports), which a
   class of 20 shares and a class of 300 hardly notices.

Everything runs offline on the model the course's picker chooses, in ``build/bench/`` (a separate
course folder). Results are printed and written to ``build/bench/bench.json``.
"""
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from unittest import mock

import nbformat

from .course import Course, Settings, threads_per_kernel
from .samples import course_copy


def environ(values):
    """``os.environ`` with ``values`` set (empty ones left out) inside the block, then as it was
    (``bench/ratios.py`` grades with it too)."""
    return mock.patch.dict(os.environ, {k: v for k, v in values.items() if v})


def plain_run_seconds(course, assignment, model_dir, reference_dir, repeats=3):
    """The solution notebook executed as a student would run it (nbclient), timed."""
    from nbclient import NotebookClient

    path = course.source / assignment / f"{assignment}.ipynb"
    env = {"CLIP_MODEL": model_dir or "", "CLIP_COURSE_CACHE": str(reference_dir or ""), "CLIP_COURSE_GRADING": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": str(threads_per_kernel(1))}
    times = []
    with environ(env):
        for _ in range(repeats):
            nb = nbformat.read(path, as_version=4)
            started = time.monotonic()
            NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            times.append(time.monotonic() - started)
    return statistics.median(times)


def grade_copies(course_root, submissions, jobs):
    from .grade import grade_class

    started = time.monotonic()
    run = grade_class(submissions, course_root, settings=Settings(jobs=jobs, force=True), log=lambda line: None)
    return time.monotonic() - started, run


def main(root=".", copies=20, assignment=None):
    from .grade import prepare_references, _readable_model
    from .course import resolve_model

    root = Path(root).resolve()
    out = root / "build" / "bench"
    if out.exists():
        shutil.rmtree(out)
    course = Course(course_copy(root, out / "course"))
    assignment = assignment or ("quiz_search" if "quiz_search" in course.assignments() else course.assignments()[0])
    solution = nbformat.read(course.source / assignment / f"{assignment}.ipynb", as_version=4)
    for i in range(copies):
        path = out / "class" / f"student-{i + 1:02d}" / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(solution, path)
    warm = out / "warm-up" / "student-00" / assignment
    warm.mkdir(parents=True)
    nbformat.write(solution, warm / f"{assignment}.ipynb")
    cores = os.cpu_count() or 1
    print(f"benchmark: {copies} copies of the {assignment} solution, {cores} cores, load {os.getloadavg()[0]:.1f}")

    grade_copies(course.root, out / "warm-up", 1)  # the class set-up (gradebook, references) once
    model_dir = _readable_model(course, resolve_model(course), lambda line: None)
    reference_dir = prepare_references(course, model_dir, lambda line: None)
    plain = plain_run_seconds(course, assignment, model_dir, reference_dir)
    print(f"notebook's own run time (nbclient, no grading): {plain:.1f} s")
    sequential, run = grade_copies(course.root, out / "class", 1)
    set_up = run.seconds.get("set_up", 0.0)
    print(f"sequential (--jobs 1): {sequential:.0f} s, {sequential / copies:.1f} s per submission "
          f"(the class's set-up {set_up:.1f} s of it)")
    parallel, _ = grade_copies(course.root, out / "class", cores)
    print(f"parallel (--jobs {cores}): {parallel:.0f} s, {parallel / copies:.1f} s per submission")
    inside = [r["timing"] for r in run.results]
    per_job = {k: statistics.mean(t.get(k) or 0 for t in inside) for k in ("total", "notebook", "autograde", "feedback")}
    results = {
        "assignment": assignment, "copies": copies, "cores": cores, "load_average": os.getloadavg()[0],
        "plain_notebook_s": round(plain, 2),
        "sequential_s": round(sequential, 1), "sequential_per_submission_s": round(sequential / copies, 2),
        "parallel_s": round(parallel, 1), "parallel_per_submission_s": round(parallel / copies, 2),
        "speed_up": round(sequential / parallel, 2),
        "overhead_per_submission_s": round(sequential / copies - plain, 2),
        "overhead_share": round((sequential / copies - plain) / plain, 3),
        "class_set_up_s": round(set_up, 2),
        "overhead_per_submission_beyond_set_up_s": round((sequential - set_up) / copies - plain, 2),
        "overhead_share_beyond_set_up": round(((sequential - set_up) / copies - plain) / plain, 3),
        "boxed_notebook_s": round(per_job["notebook"], 2),
        "overhead_beyond_boxed_run_s": round(sequential / copies - per_job["notebook"], 2),
        "job_breakdown_s": {k: round(v, 2) for k, v in per_job.items()},
    }
    print(f"speed-up: {results['speed_up']}x")
    print(f"grading overhead per submission: {results['overhead_per_submission_s']:.1f} s beyond the notebook's own "
          f"{plain:.1f} s ({100 * results['overhead_share']:.0f}%); without the class's one-off set-up "
          f"{results['overhead_per_submission_beyond_set_up_s']:.1f} s "
          f"({100 * results['overhead_share_beyond_set_up']:.0f}%); the same notebook in the sandbox (kernel start, guard, all cells) took "
          f"{per_job['notebook']:.1f} s, so grading adds {results['overhead_beyond_boxed_run_s']:.1f} s around it "
          f"(nbgrader {per_job['autograde'] - per_job['notebook']:.1f} s, feedback {per_job['feedback']:.1f} s, "
          f"the rest: process start, gradebook, copying)")
    (out / "bench.json").write_text(json.dumps(results, indent=1))
    print(f"written to {out / 'bench.json'}")
    return 0
