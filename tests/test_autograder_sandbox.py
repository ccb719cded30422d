"""The grading sandbox on its own (autograder/sandbox.py): what a boxed process can and cannot do.

These start plain Python processes in the sandbox (no Jupyter), so they take seconds. They need
Linux, root and unshare, as grading does; elsewhere they are skipped (``--no-sandbox`` grading).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.course import SYSTEM_READONLY, CourseError
from autograder.grade import check_sandbox

SANDBOX = Path(__file__).resolve().parents[1] / "autograder" / "sandbox.py"
REPO = Path(__file__).resolve().parents[1]
UID = 61990

try:
    check_sandbox()
    AVAILABLE, WHY = True, ""
except CourseError as error:
    AVAILABLE, WHY = False, str(error)
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"sandbox unavailable: {WHY[:200]}")


def boxed(tmp_path, code, memory_mb=1024, cpu_seconds=30, readonly=(), files=None, wait=True):
    """Run ``code`` with the venv's Python in the sandbox; returns (completed process, status, log)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (work / name).write_text(text)
    spec = {
        "uid": UID, "gid": UID, "isolate": True, "root": str(tmp_path / "root"),
        "readonly": list(SYSTEM_READONLY) + [sys.base_prefix, sys.prefix, *readonly],
        "writable": [], "chown": [], "env": {"PATH": f"{sys.prefix}/bin:/usr/bin:/bin", "HOME": "/tmp"},
        "status_file": str(tmp_path / "status.json"), "log_file": str(tmp_path / "log.txt"),
        "limits": {"memory_mb": memory_mb, "cpu_seconds": cpu_seconds, "processes": 64, "file_mb": 16,
                   "tmpfs_mb": 16, "workdir_mb": 16},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    command = [sys.executable, str(SANDBOX), str(tmp_path / "spec.json"), "--", sys.executable, "-c", code]
    if not wait:
        return subprocess.Popen(command, cwd=work)
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=120)
    status = json.loads((tmp_path / "status.json").read_text())
    return done, status, (tmp_path / "log.txt").read_text()


def test_no_network_not_even_loopback(tmp_path):
    code = """
import socket
for host, port in (("1.1.1.1", 53), ("127.0.0.1", 22), ("localhost", 8888)):
    try:
        socket.create_connection((host, port), timeout=3)
        print("OPEN", host)
    except OSError as error:
        print("blocked", host, error.errno)
"""
    _, status, log = boxed(tmp_path, code)
    assert status == {"exit_code": 0, "text": "exited with code 0"}, log
    assert log.count("blocked") == 3 and "OPEN" not in log


def test_sees_only_allowed_paths_and_runs_unprivileged(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden test")
    code = f"""
import os
print("uid", os.getuid(), "gid", os.getgid())
for path in ({str(secret)!r}, {str(REPO / 'README.md')!r}, "/root/.bashrc", {str(tmp_path / 'spec.json')!r}):
    print("exists" if os.path.exists(path) else "absent", path)
print("here", sorted(os.listdir(".")))
try:
    open({sys.prefix + '/pyvenv.cfg'!r}, "a")
except OSError as error:
    print("read-only", error.errno)
print("pids", sorted(p for p in os.listdir("/proc") if p.isdigit()))
"""
    _, _, log = boxed(tmp_path, code, files={"data.csv": "1,2", "answer.ipynb": "{}"})
    assert f"uid {UID} gid {UID}" in log
    assert log.count("absent") == 4, log
    assert "here ['data.csv']" in log  # the submission's files, never a notebook
    assert "read-only 30" in log or "read-only 13" in log  # EROFS or EACCES: never written
    assert "pids ['1', '2']" in log   # its own PID namespace: the init and itself


def test_memory_cap_raises_in_the_box_only(tmp_path):
    code = """
blocks = []
try:
    while True:
        blocks.append(bytearray(50 * 2**20))
except MemoryError:
    print("MemoryError after", len(blocks) * 50, "MB")
"""
    _, status, log = boxed(tmp_path, code, memory_mb=512)
    assert "MemoryError after" in log and status["exit_code"] == 0
    assert int(log.split("after")[1].split()[0]) < 512


def test_shared_memory_cannot_hold_ram_beyond_the_cap(tmp_path):
    """System V segments outlive their process and leave its address space when detached: without the
    IPC namespace's limits, 12 x 32 MB stayed alive past a 512 MB cap (and any amount more)."""
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
for size_mb in (128, 32, 32, 32):
    sid = libc.shmget(0, size_mb * 2**20, 0o1600)
    if sid < 0:
        print("refused", size_mb, os.strerror(ctypes.get_errno()))
        continue
    addr = libc.shmat(sid, None, 0)
    ctypes.memset(addr, 1, size_mb * 2**20)
    libc.shmdt(ctypes.c_void_p(addr))
print("alive", len(open("/proc/sysvipc/shm").read().splitlines()) - 1)
try:
    fd = os.memfd_create("m")
    for _ in range(17):
        os.write(fd, bytes(2**20))
except OSError as error:
    print("memfd", error.errno)
"""
    _, status, log = boxed(tmp_path, code, memory_mb=512)
    assert status["exit_code"] == 0, log
    assert "refused 128 Invalid argument" in log  # one segment: at most 64 MB
    assert "alive 0" in log  # a detached segment is destroyed at once
    assert "memfd 27" in log  # EFBIG: one memfd file is capped by the file-size limit (16 MB here); see the README


def test_cpu_cap_stops_a_busy_loop(tmp_path):
    started = time.monotonic()
    _, status, _ = boxed(tmp_path, "while True: pass", cpu_seconds=2)
    assert status.get("signal") in (signal.SIGXCPU, signal.SIGKILL)
    assert time.monotonic() - started < 60


def test_killing_the_launcher_kills_everything_inside(tmp_path):
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '600'])\ntime.sleep(600)"
    launcher = boxed(tmp_path, code, wait=False)

    def boxed_processes():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.stat(f"/proc/{pid}").st_uid == UID:
                    found.append(pid)
            except FileNotFoundError:
                pass
        return found

    deadline = time.monotonic() + 30
    while len(boxed_processes()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(boxed_processes()) >= 2  # the kernel stand-in and its child
    launcher.kill()
    launcher.wait()
    deadline = time.monotonic() + 10
    while boxed_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert boxed_processes() == []


def test_grading_stops_when_kernels_cannot_reach_the_course_package(tmp_path):
    """A course package the kernels cannot import (here one the sandbox does not show them, as with a
    second checkout sharing a virtual environment) stops grading with the reason: no class of zeros."""
    import nbformat

    from autograder.course import Settings
    from autograder.grade import grade_class

    sys.path.insert(0, str(REPO / "tests"))
    import autograder_cases as cases

    root = cases.tiny_course(tmp_path / "course")
    (root / "tinyhelp").mkdir()
    (root / "tinyhelp" / "__init__.py").write_text("VALUE = 1\n")
    path = root / "source" / cases.TINY / f"{cases.TINY}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = "import numpy as np\nimport tinyhelp"
    nbformat.write(nb, path)
    (tmp_path / "class" / "ann").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "class" / "ann" / f"{cases.TINY}.ipynb")
    with pytest.raises(CourseError) as raised:
        grade_class(tmp_path / "class", root, settings=Settings(jobs=1, preload=("numpy",)), log=lambda line: None)
    message = str(raised.value)
    assert "cannot reach this course's package or data" in message and "`import tinyhelp` fails" in message
    assert not (root / "build" / "grades" / f"{cases.TINY}.csv").exists()
