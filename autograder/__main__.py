"""Command line: ``python -m autograder grade SUBMISSIONS_DIR`` (and ``check NOTEBOOK``, ``demo``, ``bench``)."""
import argparse
import sys

from .course import CourseError, Settings


def _grade_args(parser):
    parser.add_argument("submissions", help="nbgrader's submitted/ layout (<student>/<assignment>/*.ipynb) "
                                            "or a folder of <student>.ipynb files")
    parser.add_argument("--course", default=".", help="the course folder with nbgrader_config.py (default: .)")
    parser.add_argument("--assignment", help="grade only this assignment; needed for a flat folder when the "
                                             "notebooks do not tell")
    parser.add_argument("--jobs", "-j", type=int, default=0, help="submissions graded at once (default: cores, as many as RAM holds: (RAM - 1 GB) / (--memory-mb + 0.6 GB))")
    parser.add_argument("--cell-timeout", type=int, default=0,
                        help="seconds per cell (default: the course's Execute.timeout)")
    parser.add_argument("--notebook-timeout", type=int, default=1200, help="seconds per notebook (default 1200)")
    # 6144 = 2x a graded quiz kernel's peak address space at the real CLIP's size (autograder/README.md, memory math)
    parser.add_argument("--memory-mb", type=int, default=6144, help="kernel address-space cap (default 6144)")
    parser.add_argument("--cpu-seconds", type=int, default=0,
                        help="kernel CPU-time cap (default: notebook timeout x threads per kernel)")
    parser.add_argument("--force", action="store_true", help="grade again what was already graded")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run kernels without namespaces (no root needed; student code is NOT boxed)")
    parser.add_argument("--no-guard", action="store_true", help="do not repair monkeypatching before tests")
    parser.add_argument("--allow", action="append", default=[], metavar="PATH",
                        help="one more path graded kernels may read (repeatable)")


def settings_from(args):
    return Settings(jobs=args.jobs, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                    memory_mb=args.memory_mb, cpu_seconds=args.cpu_seconds, sandbox=not args.no_sandbox,
                    guard=not args.no_guard, force=args.force, extra_readonly=tuple(args.allow))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _grade_args(sub.add_parser("grade", help="grade a class's submissions"))
    demo = sub.add_parser("demo", help="grade the bundled sample submissions (solution, blank, partial)")
    demo.add_argument("--course", default=".")
    demo.add_argument("--assignment", action="append", help="only this assignment (repeatable; default: all)")
    demo.add_argument("--jobs", "-j", type=int, default=0)
    demo.add_argument("--no-sandbox", action="store_true")
    check = sub.add_parser("check", help="a learner's own notebook graded with the real hidden tests (self-study)")
    check.add_argument("notebook", help="the quiz notebook, e.g. release/quiz_cosine/quiz_cosine.ipynb")
    check.add_argument("--course", default=".")
    check.add_argument("--assignment", help="the quiz, when the notebook's folder or name does not say")
    check.add_argument("--no-sandbox", action="store_true", help="run the kernel without namespaces")
    bench = sub.add_parser("bench", help="seconds per submission, sequential vs parallel, grading overhead")
    bench.add_argument("--course", default=".")
    bench.add_argument("--copies", type=int, default=20)
    bench.add_argument("--assignment", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "grade":
            from .grade import grade_class

            run = grade_class(args.submissions, args.course, args.assignment, settings_from(args))
            return 0 if all(r["status"] != "error" for r in run.results) else 1
        if args.command == "check":
            from .check import check

            result = check(args.notebook, args.course, args.assignment, sandbox=False if args.no_sandbox else None)
            return 0 if result["status"] != "error" else 1
        if args.command == "demo":
            from .samples import demo

            demo(args.course, args.assignment, jobs=args.jobs, sandbox=False if args.no_sandbox else None)
            return 0
        from .bench import main as bench_main

        return bench_main(args.course, args.copies, args.assignment)
    except (CourseError, FileNotFoundError, ValueError) as error:
        print(f"autograder: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
