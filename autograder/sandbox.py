"""Start one student's Jupyter kernel boxed in by bubblewrap: no network, a view of only the files it needs, limits.

    python -m autograder.sandbox SPEC.json -- KERNEL ARGV...     (``command()`` builds this line)

Jupyter starts this *launcher* instead of the kernel (``execute.SandboxKernelManager``). It stages copies of the
submission's non-notebook files, then execs one chain of tools (``_isolated``): ``unshare --ipc`` and a line of ``sh``
(an IPC namespace with the limits of ``IPC_SYSCTLS``, set before bwrap mounts ``/proc/sys`` read-only); ``bwrap``
(mount, PID, network and UTS namespaces, a root of only the allowed paths, ``--die-with-parent``); a line of ``sh``,
still root in the box (the staged files into the working folder, a home in ``/tmp``); ``setpriv`` (an unprivileged
uid, no groups or capabilities, ``no_new_privs``); ``prlimit`` (the rlimits); then the kernel. The launcher keeps at
most 64 KiB of the kernel's own output in the log, records how it ended in the status file, and dies with the process
that started it (``setpriv --pdeathsig``). ``isolate: false`` keeps only the limits, the clean environment and that
death (where namespaces are not available). autograder/README.md, *The sandbox*, says what the kernel sees.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading

# System V IPC limits of the kernel's own IPC namespace (the host's are untouched). Shared memory
# segments outlive their process and are not in its address space once detached, so without these a
# kernel could hold any amount of RAM beyond its --memory-mb cap: with shm_rmid_forced a detached
# segment is destroyed, and all segments together hold at most 64 MB; message queues at most 256 KB.
IPC_SYSCTLS = {"shm_rmid_forced": "1", "shmmax": str(64 * 2 ** 20), "shmall": str(64 * 2 ** 20 // 4096),
               "shmmni": "64", "msgmni": "16"}
LOG_LIMIT = 64 * 1024
SHM_MB = 64
STAGED = "/run/autograder-files"  # where the staged copies are shown to the box's root step, then unmounted
MISSING = ("the grading sandbox needs bubblewrap (`bwrap`), which is not installed: on Debian or Ubuntu run "
           "`apt-get install bubblewrap` (as root), or grade with --no-sandbox")


class SandboxError(RuntimeError):
    pass


def tool(name):
    """The path of a program the sandbox runs; SandboxError naming its Debian package when it is missing."""
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise SandboxError(MISSING if name == "bwrap" else
                           f"the grading sandbox needs `{name}` (Debian package util-linux), which is not installed")
    return path


def command(spec_path, argv):
    """The command line that starts ``argv`` in the sandbox described by the JSON file ``spec_path``."""
    return [tool("setpriv"), "--pdeathsig", "KILL", "--", sys.executable, os.path.abspath(__file__), str(spec_path),
            "--", *argv]


def run_once(spec, argv, folder, timeout):
    """Run ``argv`` to its end in the box ``spec`` describes, its files (root, status, log, a ``work`` folder it
    starts in) in ``folder``: ``(subprocess.CompletedProcess, the log: what the command printed)``."""
    path = os.path.join(folder, "spec.json")
    spec = dict(spec, root=os.path.join(folder, "root"), writable=[], chown=[],
                status_file=os.path.join(folder, "status"), log_file=os.path.join(folder, "log"))
    with open(path, "w") as f:
        json.dump(spec, f)
    os.makedirs(os.path.join(folder, "work"))
    done = subprocess.run(command(path, argv), cwd=os.path.join(folder, "work"), capture_output=True, text=True,
                          errors="replace", timeout=timeout)
    try:
        with open(spec["log_file"], errors="replace") as f:
            return done, f.read()
    except OSError:
        return done, ""


def _copy_workdir(cwd, work, uid, gid):
    """The working folder: copies of the submission's other files, never the notebooks
    (nbgrader's copy there already holds the hidden tests)."""
    for name in sorted(os.listdir(cwd)):
        source = os.path.join(cwd, name)
        if name.endswith(".ipynb") or name.startswith(".") or os.path.islink(source):
            continue
        target = os.path.join(work, name)
        try:
            if os.path.isdir(source):
                shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("*.ipynb"))
            elif os.path.isfile(source):
                shutil.copy(source, target)
        except OSError as error:  # e.g. more than the working folder holds: the notebook will say so
            print(f"sandbox: {name} not copied into the working folder: {error}", file=sys.stderr)
            if os.path.isdir(target) and not os.path.islink(target):  # never a file cut off part-way
                shutil.rmtree(target, ignore_errors=True)
            elif os.path.lexists(target):
                os.unlink(target)
    for dirpath, dirnames, filenames in os.walk(work):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid)


def _limits(limits, processes=True):
    """prlimit's options: soft and hard limits (CPU: SIGXCPU first, SIGKILL 5 s later)."""
    mb = 2 ** 20
    options = [f"--as={limits['memory_mb'] * mb}", f"--cpu={limits['cpu_seconds']}:{limits['cpu_seconds'] + 5}",
               f"--fsize={limits['file_mb'] * mb}", "--nofile=1024", "--core=0"]
    return [tool("prlimit"), *options] + ([f"--nproc={limits['processes']}"] if processes else []) + ["--"]


def _mounts(spec, cwd, staged):
    """bwrap's options for the kernel's whole file system view, shallow paths first. The folders above a mount
    point are made world-readable (0755), never copies of the host's modes (``/root`` is 0700)."""
    limits, mb = spec["limits"], 2 ** 20
    places = [("/tmp", "tmp"), ("/dev", "dev"), (cwd, "work")]
    places += [(path, "ro") for path in set(spec["readonly"])] + [(path, "rw") for path in spec["writable"]]
    options, made, binds = ["--proc", "/proc"], set(), []
    for path, kind in sorted(places, key=lambda m: (os.path.abspath(m[0]).rstrip("/").count("/"), m[0])):
        path = os.path.abspath(path)
        if kind in ("ro", "rw") and not os.path.lexists(path):
            continue
        parts = path.split("/")[1:-1]
        for above in ("/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1)):
            if above not in made and not any(above == b or above.startswith(b + "/") for b in binds):
                options += ["--perms", "0755", "--dir", above]  # inside a bind it is the host's own folder
                made.add(above)
        if kind in ("ro", "rw"):
            binds.append(path.rstrip("/"))
        if kind == "ro" and os.path.islink(path) and os.path.dirname(path) == "/":
            options += ["--symlink", os.readlink(path), path]  # merged /usr: /lib -> usr/lib
        elif kind in ("ro", "rw"):
            options += ["--ro-bind" if kind == "ro" else "--bind", os.path.realpath(path), path]
        elif kind == "tmp":
            options += ["--size", str(limits["tmpfs_mb"] * mb), "--perms", "1777", "--tmpfs", "/tmp"]
        elif kind == "dev":
            options += ["--dev", "/dev", "--size", str(SHM_MB * mb), "--perms", "1777", "--tmpfs", "/dev/shm"]
        else:
            options += ["--size", str(limits["workdir_mb"] * mb), "--tmpfs", cwd]
    return options + ["--ro-bind", staged, STAGED]


def _isolated(spec, argv, cwd, staged):
    uid, gid = spec["uid"], spec["gid"]
    ipc = "; ".join(f"echo {value} > /proc/sys/kernel/{name}" for name, value in IPC_SYSCTLS.items())
    prepare = (f'cp -a {STAGED}/. "$0"/ || echo "sandbox: not every file fits in the working folder" >&2; '
               f'umount {STAGED} && mkdir -m 700 /tmp/home && chown {uid}:{gid} /tmp/home "$0" '
               '&& exec "$@"')
    return [tool("unshare"), "--ipc", "--", "/bin/sh", "-ec", f'{ipc}; exec "$@"', "sh",
            tool("bwrap"), "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-uts",
            *_mounts(spec, cwd, staged), "--chdir", spec.get("start_dir") or cwd,
            "--", "/bin/sh", "-c", prepare, cwd,
            tool("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--", *_limits(spec["limits"]), *argv]


def _describe(returncode, isolated):
    """How the kernel ended; bwrap reports a command killed by signal N as exit code 128 + N."""
    sig = -returncode if returncode < 0 else returncode - 128 if isolated and returncode > 128 else None
    if sig in set(signal.Signals):
        return {"signal": sig, "text": f"killed by {signal.Signals(sig).name}"}
    return {"exit_code": returncode, "text": f"exited with code {returncode}"}


def _drain(read_fd, path):
    """Copy the kernel's raw stdout/stderr into ``path``, at most LOG_LIMIT bytes, discard the rest."""
    written = 0
    with open(path, "ab") as log:
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            if written < LOG_LIMIT:
                log.write(chunk[: LOG_LIMIT - written])
                log.flush()
                written += len(chunk)


def launch(spec, argv):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts reach the kernel through its process group
    cwd = os.getcwd()
    env = dict(spec["env"], AUTOGRADER_WORKDIR=cwd)
    staged = spec["root"]
    log_r, log_w = os.pipe()
    try:
        if spec["isolate"]:
            os.makedirs(staged, mode=0o755, exist_ok=True)
            _copy_workdir(cwd, staged, spec["uid"], spec["gid"])
            for path in spec["chown"]:
                os.chown(path, spec["uid"], spec["gid"])
            chain, start = _isolated(spec, argv, cwd, staged), "/"
        else:  # no namespace to take it down: the kernel itself dies with the launcher
            chain = [tool("setpriv"), "--pdeathsig", "KILL", "--", *_limits(spec["limits"], processes=False), *argv]
            start = spec.get("start_dir") or cwd
        child = subprocess.Popen(chain, cwd=start, env=env, stdin=subprocess.DEVNULL, stdout=log_w, stderr=log_w)
    except (OSError, SandboxError) as error:
        os.write(log_w, f"sandbox: could not start the kernel: {error}\n".encode())
        child = None
    os.close(log_w)
    drain = threading.Thread(target=_drain, args=(log_r, spec["log_file"]), daemon=True)
    drain.start()
    if child is None:
        outcome = {"exit_code": 126, "text": "exited with code 126"}
    else:
        signal.signal(signal.SIGTERM, lambda *_: child.kill())
        outcome = _describe(child.wait(), spec["isolate"])
    with open(spec["status_file"], "w") as out:
        json.dump(outcome, out)
    drain.join(timeout=2)
    if spec["isolate"]:
        shutil.rmtree(staged, ignore_errors=True)
    os._exit(outcome["exit_code"] if "exit_code" in outcome else 128 + outcome["signal"])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m autograder.sandbox SPEC.json -- KERNEL ARGV...")
    with open(argv[0]) as f:
        spec = json.load(f)
    launch(spec, argv[2:])


if __name__ == "__main__":
    main()
