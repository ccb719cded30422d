"""Grading processes forked from one that has already imported what every job needs.

A job process started fresh spends about two CPU seconds importing nbgrader, nbconvert, Jupyter's client and torch;
the fork server imports them once per class. Each job is a fork of it, still its own process with its own memory,
in its own session (``killpg`` ends it with everything it started), with exactly the environment, working folder
and output file it would have had, running the module as ``python -m`` would (``runpy``, ``__name__ ==
"__main__"``, ``sys.path[0]`` its working folder). Nothing of a submission is ever seen by the server: it only forks.

    server = ForkServer(env, preload=("autograder.job", "torch", "autograder.feedback:warm_up"))  # starts
    server.ready()                  # True once it has
    job = server.start("autograder.job", ["job.json"], cwd=..., env=..., output=".../job-output.txt")
    job.wait(timeout=60)            # raises subprocess.TimeoutExpired, like Popen.wait
    job.returncode                  # as Popen's: the exit code, or -N for signal N
    server.close()

The server is ``python -m autograder.forkserver``, talking JSON lines over its stdin and stdout; it
dies with the grader (``PR_SET_PDEATHSIG``) and its jobs die with it. Linux only; elsewhere, or when
the server cannot start, ``grade.py`` starts each job as a fresh process, as before.

Why not ``multiprocessing.get_context("forkserver")`` (checked for issue 28, Python 3.11): its server
inherits the grader's environment and folder (``main()`` ignores the ``sys_path`` it is given), skips a
failed preload silently with no sign of being ready, only imports (no warm-up), and its children hold its
"alive" pipe, so closing it waits for every running job and a killed server leaves its jobs running.
"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

PR_SET_PDEATHSIG = 1
STARTUP_TIMEOUT = 600  # seconds to import the preloaded modules (torch on a loaded machine)


def _die_with_parent(expected_parent=None):
    """SIGKILL when the process that started us ends (Linux); nothing elsewhere. With ``expected_parent``
    (a PID), end at once if that parent is already gone: it died before we could ask."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if expected_parent and os.getppid() != int(expected_parent):
        os._exit(1)


# ---- the server (python -m autograder.forkserver MODULE ...) ------------------------------------------
def _send(fd, message):
    os.write(fd, (json.dumps(message) + "\n").encode())


def _child(request, reply_fd, in_session_fd):
    """In the forked child: become the job process ``python -m MODULE ARGV`` would have been."""
    os.close(reply_fd)
    os.setsid()  # its own session and process group, as Popen(start_new_session=True)
    os.close(in_session_fd)  # tells the server: killpg(pid) now reaches this job
    _die_with_parent()
    out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if not sys.flags.safe_path:
        sys.path[0] = os.getcwd()  # what python -m puts first (the server's was its own folder)
    sys.argv = [request["module"], *request["argv"]]
    sys.modules.pop(request["module"], None)  # imported by the server: run afresh as __main__, as python -m does
    import runpy

    # SystemExit (the module's sys.exit) or an exception leaves through the server's frames, which
    # catch neither: the child ends like any Python process (atexit, flushing), with the module's code.
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    sys.exit(0)


def serve(preload):
    _die_with_parent()
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print() of an imported module must not reach the protocol
    for name in preload:  # "module", or "module:function" to call once imported (a warm-up)
        module, _, function = name.partition(":")
        try:
            __import__(module)
            if function:
                getattr(sys.modules[module], function)()
        except Exception as error:  # a job that needs it then fails there, with its own message
            print(f"forkserver: could not preload {name}: {error}", file=sys.stderr)
    home = os.getcwd()  # the empty folder it was started in: not needed any more
    os.chdir("/")
    try:
        os.rmdir(home)
    except OSError:
        pass
    _send(reply_fd, {"ready": os.getpid()})
    buffer, children = b"", set()
    while True:
        readable, _, _ = select.select([0], [], [], 0.05 if children else None)
        if readable:
            chunk = os.read(0, 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                in_session_r, in_session_w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(in_session_r)
                    _child(request, reply_fd, in_session_w)
                os.close(in_session_w)
                os.read(in_session_r, 1)  # returns when the child has its own session (or has died)
                os.close(in_session_r)
                children.add(pid)
                _send(reply_fd, {"started": request["id"], "pid": pid})
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            _send(reply_fd, {"ended": pid, "returncode": os.waitstatus_to_exitcode(status)})
    for pid in children:  # the grader is gone or closed us: so are its jobs, and what they started
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    os._exit(0)  # nothing to flush: Python's teardown of what it preloaded would only make the grader wait


# ---- the grader's side ------------------------------------------------------------------------------
class Job:
    """A started job, used like a ``subprocess.Popen``: ``pid``, ``wait(timeout)``, ``returncode``."""

    def __init__(self, pid, args):
        self.pid, self.args, self.returncode = pid, args, None
        self._ended = threading.Event()

    def _end(self, returncode):
        self.returncode = returncode
        self._ended.set()

    def wait(self, timeout=None):
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode


class ForkServerError(RuntimeError):
    """The fork server could not start, or stopped: a job then starts as a new process."""


class ForkServer:
    """The grader's handle on a fork server started with ``env`` (the jobs' common environment), which
    imports ``preload`` before it forks anything."""

    def __init__(self, env, preload=()):
        # An empty folder of its own to start in: python -m puts it first on sys.path while it imports.
        self._home = tempfile.mkdtemp(prefix="ag-fork-")
        self._proc = subprocess.Popen([sys.executable, "-m", "autograder.forkserver", *preload], cwd=self._home,
                                      env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        self._lock = threading.Lock()
        self._started = {}   # request id -> [event, pid]
        self._jobs = {}      # pid -> Job
        self._ended = {}     # pid -> returncode, for an end read before its Job was registered
        self._next = 0
        self._alive = True
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def ready(self, timeout=STARTUP_TIMEOUT):
        """Wait until the server has imported what it preloads; False when it did not start."""
        return self._ready.wait(timeout) and self._alive

    def _read(self):
        for line in self._proc.stdout:
            message = json.loads(line)
            with self._lock:
                if "ready" in message:
                    self._ready.set()
                elif "started" in message:
                    waiting = self._started.pop(message["started"])
                    waiting[1] = message["pid"]
                    waiting[0].set()
                elif "ended" in message:
                    job = self._jobs.pop(message["ended"], None)
                    if job:
                        job._end(message["returncode"])
                    else:
                        self._ended[message["ended"]] = message["returncode"]
        with self._lock:  # the server is gone (and its jobs with it)
            self._alive = False
            for waiting in self._started.values():
                waiting[0].set()
            for job in self._jobs.values():
                job._end(None)
            self._jobs.clear()
        self._ready.set()

    def start(self, module, argv, cwd, env, output):
        """Fork ``python -m module argv`` in ``cwd`` with exactly ``env``, stdout and stderr to ``output``."""
        if not self.ready():
            raise ForkServerError("the fork server did not start or has stopped")
        with self._lock:
            if not self._alive:
                raise ForkServerError("the fork server has stopped")
            self._next += 1
            request_id = self._next
            waiting = self._started[request_id] = [threading.Event(), None]
            request = {"id": request_id, "module": module, "argv": list(argv), "cwd": str(cwd), "env": dict(env),
                       "output": str(output)}
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            self._proc.stdin.flush()
        waiting[0].wait()
        with self._lock:
            pid = waiting[1]
            if pid is None:
                raise ForkServerError("the fork server stopped before it started the job")
            job = Job(pid, [module, *argv])
            if pid in self._ended:
                job._end(self._ended.pop(pid))
            elif self._alive:
                self._jobs[pid] = job
            else:
                job._end(None)
        return job

    def close(self):
        """Stop the server; jobs still running are killed with it. A server still importing what it preloads
        has started no job and reads no request yet: it is killed at once (Ctrl-C or a failed check before the
        first job must not wait for torch to finish importing)."""
        if not self._ready.is_set():
            self._proc.kill()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)
        shutil.rmtree(self._home, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1:])
