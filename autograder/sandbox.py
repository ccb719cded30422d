"""Start one student's Jupyter kernel boxed in: no network, a view of only the files it needs, limits.

    python -m autograder.sandbox SPEC.json -- KERNEL ARGV...

Jupyter starts this instead of the kernel (see ``execute.SandboxKernelManager``). Three processes:

* the *launcher* (this process, started by Jupyter) forwards termination, records how the kernel
  ended and copies at most 64 KiB of the kernel's own stdout/stderr into a log file;
* the *namespace init* (PID 1 of a new PID namespace, also in new mount, network, IPC and UTS
  namespaces) builds a new root file system on a tmpfs that holds only the allowed paths
  (read-only), the kernel's connection folder, a fresh ``/tmp``, ``/dev`` and ``/proc``, and a
  working folder on a tmpfs holding copies of the submission's non-notebook files;
* the *kernel*: rlimits (address space, CPU seconds, processes, file size, open files), then it
  drops to an unprivileged uid with ``no_new_privs`` and a clean environment, and execs the kernel.

When the launcher dies (even by SIGKILL) the namespace init gets SIGKILL (``PR_SET_PDEATHSIG``),
and when the namespace init dies the kernel stops too, with everything it started.
Needs Linux and root (CAP_SYS_ADMIN); ``isolate: false`` in the spec keeps only rlimits, the
clean environment and the uid-free parts (for machines where namespaces are not available).
"""
import ctypes
import json
import os
import shutil
import signal
import sys
import threading

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
# System V IPC limits of the kernel's own IPC namespace (the host's are untouched). Shared memory
# segments outlive their process and are not in its address space once detached, so without these a
# kernel could hold any amount of RAM beyond its --memory-mb cap: with shm_rmid_forced a detached
# segment is destroyed, and all segments together hold at most 64 MB; message queues at most 256 KB.
IPC_SYSCTLS = {"shm_rmid_forced": "1", "shmmax": str(64 * 2 ** 20), "shmall": str(64 * 2 ** 20 // 4096),
               "shmmni": "64", "msgmni": "16"}
LOG_LIMIT = 64 * 1024
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(RuntimeError):
    pass


def _check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype=None, flags=0, data=None):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source} on {target}")


def _bind(source, target, readonly, device=False):
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if device else MS_NODEV) | (MS_RDONLY if readonly else 0)
    _mount(None, target, None, flags)


def _prctl(option, value):
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def _inside(root, path):
    return os.path.join(root, os.path.abspath(path).lstrip("/"))


def _make_mountpoint(root, path, is_dir):
    target = _inside(root, path)
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    return target


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


def build_root(spec, root, cwd):
    """Mount the kernel's whole file system view under ``root`` (a fresh tmpfs), shallow paths first."""
    limits, uid, gid = spec["limits"], spec["uid"], spec["gid"]
    _mount("tmpfs", root, "tmpfs", MS_NOSUID, "size=1m,mode=0755")
    mounts = [("/tmp", "tmp"), ("/dev", "dev"), (cwd, "work")]
    mounts += [(path, "ro") for path in set(spec["readonly"])] + [(path, "rw") for path in spec["writable"]]
    for path, kind in sorted(mounts, key=lambda m: (os.path.abspath(m[0]).rstrip("/").count("/"), m[0])):
        if kind == "ro" and os.path.islink(path) and os.path.dirname(path) == "/":
            os.symlink(os.readlink(path), _inside(root, path))  # merged /usr: /lib -> usr/lib
        elif kind in ("ro", "rw"):
            if os.path.exists(path):
                _bind(os.path.realpath(path), _make_mountpoint(root, path, os.path.isdir(path)), readonly=kind == "ro")
        elif kind == "tmp":
            tmp = _make_mountpoint(root, "/tmp", True)
            _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits['tmpfs_mb']}m,mode=1777")
            os.makedirs(os.path.join(tmp, "home"), mode=0o700)
            os.chown(os.path.join(tmp, "home"), uid, gid)
        elif kind == "dev":
            dev = _make_mountpoint(root, "/dev", True)
            _mount("tmpfs", dev, "tmpfs", MS_NOSUID, "size=64k,mode=0755")
            for name in DEVICES:
                _bind(f"/dev/{name}", _make_mountpoint(root, f"/dev/{name}", False), readonly=False, device=True)
            os.makedirs(os.path.join(dev, "shm"))
            _mount("tmpfs", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
                os.symlink(target, os.path.join(dev, name))
        else:
            work = _make_mountpoint(root, cwd, True)
            _mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"size={limits['workdir_mb']}m,mode=0755,uid={uid},gid={gid}")
            _copy_workdir(cwd, work, uid, gid)
    os.makedirs(_inside(root, "/proc"), exist_ok=True)


def set_limits(limits):
    import resource

    mb = 1024 * 1024
    pairs = {
        resource.RLIMIT_AS: limits["memory_mb"] * mb,
        resource.RLIMIT_CPU: limits["cpu_seconds"],
        resource.RLIMIT_FSIZE: limits["file_mb"] * mb,
        resource.RLIMIT_NOFILE: 1024,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in pairs.items():
        hard = value + 5 if which == resource.RLIMIT_CPU else value  # SIGXCPU first, SIGKILL 5 s later
        resource.setrlimit(which, (value, hard))


def _drop_privileges(spec):
    os.setgroups([])
    os.setgid(spec["gid"])
    import resource

    resource.setrlimit(resource.RLIMIT_NPROC, (spec["limits"]["processes"], spec["limits"]["processes"]))
    os.setuid(spec["uid"])
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise SandboxError("could not drop root")


def exec_kernel(spec, argv, cwd, log_fd):
    """In the kernel process: limits, uid, clean environment, then exec (never returns)."""
    try:
        for fd in (0,):
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, fd)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # SIG_IGN would survive exec and break interrupts
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        set_limits(spec["limits"])
        if spec["isolate"]:
            _drop_privileges(spec)
        os.chdir(spec.get("start_dir") or cwd)  # the kernel starts where nothing of the student's is
        env = dict(spec["env"], AUTOGRADER_WORKDIR=cwd)
        os.execve(argv[0], argv, env)
    except BaseException as error:  # report why, the parent records the exit code
        os.write(2, f"sandbox: could not start the kernel: {error}\n".encode())
        os._exit(127)


def _describe(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return {"signal": sig, "text": f"killed by {signal.Signals(sig).name}"}
    code = os.WEXITSTATUS(status)
    return {"exit_code": code, "text": f"exited with code {code}"}


def namespace_init(spec, argv, cwd, report_fd, log_fd):
    """PID 1 of the new namespaces: build the view, start the kernel, reap, report its end."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    root = spec["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks back to the host
    os.makedirs(root, exist_ok=True)
    build_root(spec, root, cwd)
    os.chroot(root)
    os.chdir("/")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name, value in IPC_SYSCTLS.items():  # this IPC namespace only
        with open(f"/proc/sys/kernel/{name}", "w") as f:
            f.write(value)
    for path in spec["chown"]:
        os.chown(path, spec["uid"], spec["gid"])
    kernel = os.fork()
    if kernel == 0:
        os.close(report_fd)
        exec_kernel(spec, argv, cwd, log_fd)
    os.close(log_fd)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(kernel, signal.SIGKILL))
    while True:
        pid, status = os.wait()
        if pid == kernel:
            os.write(report_fd, json.dumps(_describe(status)).encode())
            os._exit(0)  # PID 1 leaving kills whatever the kernel left running


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


def _isolated_child(spec, argv, cwd, report_w, log_w):
    """A single-threaded child (unshare refuses threaded callers) that becomes the namespaces' parent."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    init = os.fork()
    if init == 0:
        namespace_init(spec, argv, cwd, report_w, log_w)
    os.close(log_w)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(init, signal.SIGKILL))
    _, status = os.waitpid(init, 0)
    os._exit(0 if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else 126)


def launch(spec, argv):
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # Jupyter's process gone: so are we
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts reach the kernel through its process group
    cwd = os.getcwd()
    report_r, report_w = os.pipe()
    log_r, log_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(report_r)
        os.close(log_r)
        try:
            if spec["isolate"]:
                _isolated_child(spec, argv, cwd, report_w, log_w)
            else:  # no namespace to take it down: the kernel itself dies with the launcher (kept across exec)
                os.close(report_w)
                _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                exec_kernel(spec, argv, cwd, log_w)
        except BaseException as error:
            os.write(log_w, f"sandbox: could not build the sandbox: {error}\n".encode())
        os._exit(126)
    os.close(report_w)
    os.close(log_w)
    drain = threading.Thread(target=_drain, args=(log_r, spec["log_file"]), daemon=True)
    drain.start()
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    _, status = os.waitpid(child, 0)
    report = os.read(report_r, 4096)
    outcome = json.loads(report) if report else _describe(status)
    with open(spec["status_file"], "w") as out:
        json.dump(outcome, out)
    drain.join(timeout=2)
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
