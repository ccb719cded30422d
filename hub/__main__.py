"""The class hub's commands (hub/README.md); the Makefile's hub targets call these.

    python3 -m hub up [--roster FILE] [--port N] [--ip ADDR --ssl-cert F --ssl-key F]   # make hub
    python3 -m hub stop                                                                 # make hub-stop
    python3 -m hub remove                                                               # make hub-remove
    python3 -m hub demo | grade ASSIGNMENT | bench                                      # the hub's own Python
"""
import argparse
import sys
import time

from . import settings as S
from .prepare import SetupError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m hub", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="set up the class and start the hub")
    up.add_argument("--roster", default=None, help=f"roster file (default {S.ROSTER})")
    up.add_argument("--port", type=int, default=S.PORT, help="public port (the next two are the hub's and proxy's APIs)")
    up.add_argument("--ip", default=S.LOOPBACK, help="address to listen on; anything but 127.0.0.1 needs TLS")
    up.add_argument("--ssl-cert", default=None)
    up.add_argument("--ssl-key", default=None)
    commands.add_parser("stop", help="stop the hub, the proxy and every user server")
    commands.add_parser("remove", help="stop, then delete the hub's users, their homes and the prefix")
    demo = commands.add_parser("demo", help="a class of simulated students through the hub")
    demo.add_argument("--assignment", default="quiz_cosine")
    demo.add_argument("--students", default=None, help="comma-separated roster students (default: all)")
    grade = commands.add_parser("grade", help="collect, boxed grading, hand back, release feedback")
    grade.add_argument("assignment")
    bench = commands.add_parser("bench", help="30 simulated students at once")
    bench.add_argument("--students", type=int, default=30)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            from . import control, prepare
            started = time.monotonic()
            roster, course, passwords = prepare.set_up(args.port, args.ip, args.ssl_cert, args.ssl_key, args.roster)
            control.start()
            print(f"hub: set up and started in {time.monotonic() - started:.0f} s")
            for role, name, password in passwords:
                print(f"  {role:10} {name:16} password {password}   (shown once; not stored)")
            url = control.base_url()
            print(f"  students: {url}/  ->  Assignments tab ({S.COURSE_ID})")
            print(f"  instructor: {url}/user/{prepare.instructor_of(roster)}/formgrader  (open it in its own tab)")
        elif args.command == "stop":
            from . import control
            control.stop()
        elif args.command == "remove":
            from . import control
            control.remove()
        elif args.command in ("demo", "grade"):
            from . import classroom
            if args.command == "demo":
                classroom.demo(args.assignment, args.students.split(",") if args.students else None)
            else:
                classroom.grade(args.assignment)
        elif args.command == "bench":
            from . import bench
            bench.main(args.students)
    except SetupError as error:
        print(f"hub: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
