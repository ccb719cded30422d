"""nbgrader's Execute step, made safe for a class: boxed kernel, guard, caps, and no lost grades.

``SafeExecute`` replaces nbgrader's ``Execute`` in the autograde pipeline (``job.py`` sets that up):

* the kernel starts through ``sandbox.py`` (``SandboxKernelManager``: unix-socket transport, so it
  works with no network at all);
* before every instructor cell (locked or graded test) the guard (``guard.py``) repairs and
  reports monkeypatching; if it cannot run, the kernel's machinery was subverted and grading stops;
* each cell's output is capped while it arrives (50 MB of printing never reaches memory);
* the whole notebook has a time budget on top of nbgrader's per-cell timeout;
* when the kernel dies, does not stop after the time limit, runs out of memory or the budget ends,
  the cells not run get an error output that says why, so the test cells after it score 0 and
  those before keep their points: nbgrader then saves the grades instead of dropping the
  submission (nbgrader #1033).
"""
import ast
import json
import os
import secrets
import sys
from queue import Empty
from time import monotonic

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Integer, Unicode

SANDBOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox.py")
GUARD_TIMEOUT = 60


class SandboxKernelManager(AsyncKernelManager):
    """Starts the kernel through the sandbox launcher, talking over unix sockets in ``job_dir/ipc``."""

    sandbox_spec = Dict(help="sandbox.py spec: uid, limits, env, read-only paths").tag(config=True)
    job_dir = Unicode(help="folder for the connection file, sockets and the kernel's log").tag(config=True)
    guard = Bool(True).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ipc_dir = os.path.join(self.job_dir, "ipc")
        os.makedirs(self.ipc_dir, exist_ok=True)
        self.transport = "ipc"
        self.connection_file = os.path.join(self.ipc_dir, "kernel.json")
        self.ip = os.path.join(self.ipc_dir, "k")

    @property
    def status_file(self):
        return os.path.join(self.job_dir, "kernel-status.json")

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.guard:
            cmd.append("--IPKernelApp.extensions=['_autograder_guard']")
        spec = dict(self.sandbox_spec)
        spec.update(
            root=os.path.join(self.job_dir, "root"),
            writable=[self.ipc_dir],
            chown=[self.ipc_dir, self.connection_file],
            status_file=self.status_file,
            log_file=os.path.join(self.job_dir, "kernel.log"),
        )
        path = os.path.join(self.job_dir, "sandbox.json")
        with open(path, "w") as f:
            json.dump(spec, f, indent=1)
        return [sys.executable, SANDBOX, path, "--"] + cmd

    def lock_ipc(self):
        """Once the kernel is up it needs no new files here: take the folder back, so that this host
        folder cannot be filled (everything else it can write is a size-limited tmpfs)."""
        for path in (self.ipc_dir, self.connection_file):
            os.chown(path, os.getuid(), os.getgid())
        os.chmod(self.ipc_dir, 0o755)

    def kernel_end(self):
        """How the kernel process ended, in words (from the launcher's status file)."""
        try:
            with open(self.status_file) as f:
                status = json.load(f)
        except (OSError, ValueError):
            return "the kernel stopped"
        limits = self.sandbox_spec.get("limits", {})
        signal_name = status.get("text", "")
        if "SIGXCPU" in signal_name:
            return f"the CPU-time cap ({limits.get('cpu_seconds')} s) was reached"
        if "SIGKILL" in signal_name:
            return "the kernel was killed (SIGKILL: hard CPU-time cap or out of memory)"
        if "exit_code" in status:
            return f"the kernel process exited with code {status['exit_code']} (os._exit(), a crash or a failed start)"
        return f"the kernel was {signal_name}"


class GuardMissing(RuntimeError):
    """Our own set-up failed (not the student's doing): the job ends as an error and is retried."""


def _error_output(ename, evalue):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _nbgrader(cell):
    return cell.metadata.get("nbgrader", {})


def is_test_cell(cell):
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def is_instructor_cell(cell):
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and (is_test_cell(cell) or (meta.get("locked", False) and not meta.get("solution", False)))


class SafeExecute(Execute):
    sandbox_spec = Dict(help="passed on to SandboxKernelManager").tag(config=True)
    sandbox = Bool(True, help="start kernels through the sandbox launcher").tag(config=True)
    guard = Bool(True, help="run the integrity guard around instructor cells").tag(config=True)
    job_dir = Unicode(help="this submission's private working folder").tag(config=True)
    events_file = Unicode(help="where to write what happened (timeouts, tampering, ...)").tag(config=True)
    notebook_timeout = Integer(1800, help="seconds for the whole notebook").tag(config=True)
    output_limit = Integer(2_000_000, help="bytes of output kept per cell").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.kernel_manager_class = SandboxKernelManager

    # -- kernel --------------------------------------------------------------------------
    def create_kernel_manager(self):
        kernel_name = self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name") or "python3"
        spec = dict(self.sandbox_spec, isolate=self.sandbox)
        self.km = SandboxKernelManager(kernel_name=kernel_name, config=self.config, sandbox_spec=spec,
                                       job_dir=self.job_dir, guard=self.guard)
        return self.km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if self.sandbox:
            self.km.lock_ipc()
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # the sync name nbconvert calls

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        left = self.notebook_timeout - (monotonic() - self._started)
        self._budget_binds = timeout is None or left < timeout
        return max(1, int(min(timeout or left, left)))

    def _kill(self):
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as error:  # already gone
            self.log.warning("could not shut the kernel down: %s", error)

    # -- the notebook ------------------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        self._started = monotonic()
        self._stop = None
        self._output_bytes = {}
        self._guard_seen = False
        self._truncated = set()
        self._events = {"timeouts": [], "tamper": [], "truncated": [], "stopped": None, "threads": 0}
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._events["run_seconds"] = round(monotonic() - self._started, 2)  # kernel start + all cells
            self._write_events()

    def _write_events(self):
        if self.events_file:
            with open(self.events_file, "w") as f:
                json.dump(self._events, f, indent=1)

    @staticmethod
    def _where(cell, index):
        gid = _nbgrader(cell).get("grade_id")
        return f"cell {index + 1}" + (f" ({gid})" if gid else "")

    def _stop_here(self, kind, reason, index):
        self._stop = reason
        self._events["stopped"] = {"kind": kind, "reason": reason, "cell": index}

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if self._stop:
            cell.outputs = [_error_output("NotRun", f"not run: {self._stop}")]
            return cell, self.resources
        instructor = is_instructor_cell(cell)
        if self.guard and instructor:
            self._run_guard(cell, index, "before")
            if self._stop:
                cell.outputs = [_error_output("NotRun", f"not run: {self._stop}")]
                return cell, self.resources
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            reason = self.km.kernel_end() if self.sandbox else "the kernel died"
            cell.outputs.append(_error_output("KernelDied", reason))
            self._stop_here("kernel-died", f"{reason} in {self._where(cell, index)}", index)
            return cell, self.resources
        except CellTimeoutError:  # interrupted after the time limit but never answered
            cell.outputs.append(_error_output("CellTimeoutError", "the cell did not stop after its time limit"))
            self._events["timeouts"].append(self._where(cell, index))
            self._stop_here("timeout", f"{self._where(cell, index)} did not stop after its time limit", index)
            self._kill()
            return cell, self.resources
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if any(o.ename == "CellTimeoutError" for o in errors):
            self._events["timeouts"].append(self._where(cell, index))
            if self._budget_binds:
                self._stop_here("timeout", f"the notebook's time limit ({self.notebook_timeout} s) was reached "
                                f"in {self._where(cell, index)}", index)
                self._kill()
        elif any(o.ename == "MemoryError" for o in errors):
            limit = self.sandbox_spec.get("limits", {}).get("memory_mb")
            self._stop_here("memory", f"the memory cap ({limit} MB) was reached in {self._where(cell, index)}", index)
            self._kill()
        elif self.guard and instructor:
            self._run_guard(cell, index, "after")
        return cell, self.resources

    # -- output cap ----------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values()) \
            + sum(len(line) for line in content.get("traceback", []))
        used = self._output_bytes.get(cell_index, 0) + size
        self._output_bytes[cell_index] = used
        if used > self.output_limit and msg.get("msg_type") != "error":
            if cell_index not in self._truncated:
                self._truncated.add(cell_index)
                self._events["truncated"].append(self._where(self.nb.cells[cell_index], cell_index))
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n[output cut by the autograder after {self.output_limit} bytes]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    # -- guard ---------------------------------------------------------------------------------
    async def _async_guard_reply(self, mode):
        nonce = secrets.token_hex(8)
        expression = f"__import__('_autograder_guard').check({nonce!r}, {mode!r})"
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"g": expression},
                                 allow_stdin=False, stop_on_error=False)
        deadline = monotonic() + GUARD_TIMEOUT
        while monotonic() < deadline:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=deadline - monotonic()))
            except Empty:
                break
            if msg["parent_header"].get("msg_id") == msg_id:
                return nonce, msg
        return nonce, None

    def _run_guard(self, cell, index, mode):
        try:
            nonce, msg = run_sync(self._async_guard_reply)(mode)
            value = msg["content"]["user_expressions"]["g"]
            if not self._guard_seen and value.get("ename") == "ModuleNotFoundError":
                raise GuardMissing("the guard was not loaded in the kernel (see kernel.log in the job folder)")
            report = json.loads(ast.literal_eval(value["data"]["text/plain"]))
            if report["nonce"] != nonce:
                raise ValueError("wrong nonce")
        except GuardMissing:
            raise
        except Exception:
            alive = run_sync(self.km.is_alive)()
            if not alive:
                reason = self.km.kernel_end() if self.sandbox else "the kernel died"
                self._stop_here("kernel-died", f"{reason} before {self._where(cell, index)}", index)
            else:
                self._stop_here("tamper", "the notebook changed how the kernel runs code, so the tests could "
                                f"not be trusted (integrity check failed before {self._where(cell, index)})", index)
                self._kill()
            return
        self._guard_seen = True
        if report["findings"]:
            self._events["tamper"].append({"cell": index, "grade_id": _nbgrader(cell).get("grade_id"),
                                           "findings": report["findings"], "more": report["more"]})
        self._events["threads"] = max(self._events["threads"], report["threads"])
