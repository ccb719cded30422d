"""nbgrader's Execute step, made safe for a class: boxed kernel, guard, caps, and no lost grades.

``SafeExecute`` replaces nbgrader's ``Execute`` in the autograde pipeline (``job.py`` sets that up): the kernel starts
through ``sandbox.py``, over unix sockets (``SandboxKernelManager``); the guard (``guard.py``) repairs and reports
monkeypatching before every instructor cell, and grading stops if it cannot run where the kernel decides the test;
a test cell the grader decides sends only its visible part to the kernel (``verdict.py``); each cell's output is
capped as it arrives; the notebook has a time budget on top of nbgrader's per-cell timeout. When the kernel dies,
does not stop, runs out of memory or the budget ends, the cells not run get an error output that says why, so the
test cells before keep their points and nbgrader saves the grades instead of dropping the submission (#1033).
"""
import ast
import json
import os
import secrets
from queue import Empty
from time import monotonic

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import HBChannel
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Integer, List, Type, Unicode, default

from . import sandbox, verdict
from .verdict import grade_id, is_instructor_cell, is_test_cell
from .feedback import visible

GUARD_TIMEOUT = 60
#: The guard names at most MAX_FINDINGS repairs (guard.py): an honest reply is a few KB; a kernel that answers more
#: is not running the guard's code, and its text is never parsed.
GUARD_REPLY_MAX = 2 ** 20
HEARTBEAT_STOP_TIMEOUT = 5  # seconds to wait for the heartbeat thread when the channels stop
ERROR_TEXT, ERROR_LINE, ERROR_LINES = 4000, 2000, 40  # an error's message, one traceback line, lines kept


def _shorten(text, limit):
    return text if len(text) <= limit else text[: limit - 40] + f" … [{len(text) - limit + 40} characters cut]"


def _size(content):
    """Bytes an output message would add to the notebook (its text, data, metadata and traceback)."""
    size = len(str(content.get("text", ""))) + len(str(content.get("evalue", "")))
    for table in (content.get("data"), content.get("metadata")):
        if isinstance(table, dict):
            size += sum(len(str(key)) + len(str(value)) for key, value in table.items())
    return size + sum(len(str(line)) for line in content.get("traceback", []) or [])


class _HeartbeatChannel(HBChannel):
    """jupyter_client's heartbeat thread, but stopping it never waits for ever. A kernel that closes its own
    descriptors (``os.close`` on each) leaves the thread awaiting a ping that never goes out; stopping the
    channels after the last cell then joined it for good, and the job hung until its hard time limit killed it,
    losing the points its earlier cells had earned. The thread is a daemon, and the job ends with os._exit."""

    def stop(self):
        self._running = False
        self._exit.set()
        self.join(HEARTBEAT_STOP_TIMEOUT)
        if not self.is_alive():
            self.close()


class SandboxKernelClient(AsyncKernelClient):
    hb_channel_class = Type(_HeartbeatChannel)


class SandboxKernelManager(AsyncKernelManager):
    """Starts the kernel through the sandbox launcher, talking over unix sockets in ``job_dir/ipc``."""

    sandbox_spec = Dict(help="sandbox.py spec: uid, limits, env, read-only paths").tag(config=True)
    job_dir = Unicode(help="folder for the connection file, sockets and the kernel's log").tag(config=True)
    guard = Bool(True).tag(config=True)

    @default("client_factory")
    def _client_factory_default(self):
        return SandboxKernelClient

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
        extensions = ["_autograder_start"] + (["_autograder_guard"] if self.guard else [])
        cmd.append(f"--IPKernelApp.extensions={extensions!r}")
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
        return sandbox.command(path, cmd)

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


class SafeExecute(Execute):
    sandbox_spec = Dict(help="passed on to SandboxKernelManager").tag(config=True)
    sandbox = Bool(True, help="start kernels through the sandbox launcher").tag(config=True)
    guard = Bool(True, help="run the integrity guard around instructor cells").tag(config=True)
    job_dir = Unicode(help="this submission's private working folder").tag(config=True)
    events_file = Unicode(help="where to write what happened (timeouts, tampering, ...)").tag(config=True)
    notebook_timeout = Integer(1800, help="seconds for the whole notebook").tag(config=True)
    output_limit = Integer(2_000_000, help="bytes of output kept per cell").tag(config=True)
    notebook_output_limit = Integer(10_000_000, help="bytes of output kept for the whole notebook").tag(config=True)
    source_dir = Unicode("", help="the assignment's source folder: test cells whose hidden tests are calls of the "
                             "course's checks are decided by the grader (verdict.py)").tag(config=True)
    data_dirs = List(Unicode(), help="folders of the course's own pictures (images are compared by pixel hash)"
                     ).tag(config=True)
    images = List(None, allow_none=True, help="verdict.image_index(data_dirs), computed once per class by the "
                  "grader (None: indexed here)").tag(config=True)

    @default("shutdown_kernel")
    def _shutdown_kernel_default(self):
        # After the last cell the kernel has nothing left to do for the grade: end it at once rather than wait
        # for its Python to tear torch down (most of a second per submission); its atexit hooks are the student's.
        return "immediate"

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
        self._output_total = 0
        self._guard_seen = False
        self._truncated = set()
        self._events = {"timeouts": [], "tamper": [], "truncated": [], "stopped": None, "threads": 0,
                        "verdicts": {}}
        self._trusted = self._load_trusted(resources or {})
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._trusted:
                self._trusted.join()
            self._events["run_seconds"] = round(monotonic() - self._started, 2)  # kernel start + all cells
            self._write_events()

    def _load_trusted(self, resources):
        """The trusted verdict for this notebook's source (None when no test is decided outside the kernel); sets
        ``_answers``, the source's {variable: answer cell}, for messages about variables never defined."""
        self._answers, self._language = {}, "ko"
        name = resources.get("unique_key") or resources.get("metadata", {}).get("name")
        path = os.path.join(self.source_dir, f"{name}.ipynb") if self.source_dir and name else ""
        if not os.path.isfile(path):
            return None
        import nbformat

        source = nbformat.read(path, as_version=4)
        self._answers, self._language = verdict.answer_cells(source), verdict.language_of(source)
        trusted = verdict.Trusted(source, self.data_dirs, self.images)
        trusted.start()
        return trusted if trusted.needed else None

    def _plan(self, cell):
        return self._trusted.plans.get(grade_id(cell)) if self._trusted and is_test_cell(cell) \
            else None

    def _write_events(self):
        if self.events_file:
            with open(self.events_file, "w") as f:
                json.dump(self._events, f, indent=1)

    @staticmethod
    def _where(cell, index):
        gid = grade_id(cell)
        return f"cell {index + 1}" + (f" ({gid})" if gid else "")

    def _stop_here(self, kind, reason, index):
        self._stop = reason
        self._events["stopped"] = {"kind": kind, "reason": reason, "cell": index}

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        instructor = is_instructor_cell(cell)
        trusted = self._plan(cell)
        if self.guard and instructor and not self._stop:
            self._run_guard(cell, index, "before", fatal=not trusted)
        if self._stop:
            cell.outputs = [_error_output("NotRun", f"not run: {self._stop}")]
            return cell, self.resources
        if not trusted and is_test_cell(cell):
            self._events["verdicts"][grade_id(cell)] = {"how": "kernel"}
        full = cell.source
        if trusted:  # the hidden tests never reach the kernel: only the visible hint runs there
            cell.source = visible(full)
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            cell.source = full
            reason = self.km.kernel_end() if self.sandbox else "the kernel died"
            cell.outputs.append(_error_output("KernelDied", reason))
            self._stop_here("kernel-died", f"{reason} in {self._where(cell, index)}", index)
            return cell, self.resources
        except CellTimeoutError:  # interrupted after the time limit but never answered
            cell.source = full
            cell.outputs.append(_error_output("CellTimeoutError", "the cell did not stop after its time limit"))
            self._events["timeouts"].append(self._where(cell, index))
            self._stop_here("timeout", f"{self._where(cell, index)} did not stop after its time limit", index)
            self._kill()
            return cell, self.resources
        cell.source = full
        if is_test_cell(cell):
            self._explain_name_errors(cell)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if trusted and not any(o.ename in ("CellTimeoutError", "MemoryError") for o in errors):
            self._decide(cell, index, trusted)
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

    def _explain_name_errors(self, cell):
        """A test cell that stopped at ``NameError: name 'x' is not defined``: the message says which quiz and
        answer cell, that the answer variable was never defined and what to do (verdict.missing_message). The
        error stays an error, so the score is the same 0; a test decided in the kernel lists the name."""
        gid = grade_id(cell)
        for out in cell.outputs:
            name = verdict.name_error(out.get("evalue", "")) if out.output_type == "error" \
                and out.get("ename") == "NameError" else None
            if not name:
                continue
            said = verdict.missing_message([name], gid, self._answers, getattr(self, "_language", "ko"))
            out.evalue = f"{said}\n({out.evalue})"
            event = self._events["verdicts"].get(gid)
            if event is not None and event.get("how") == "kernel":
                event.setdefault("missing", []).append({"name": name, "cell": self._answers.get(name)})

    # -- output cap ----------------------------------------------------------------------------
    def _cut(self, cell_index):
        if cell_index not in self._truncated:
            self._truncated.add(cell_index)
            self._events["truncated"].append(self._where(self.nb.cells[cell_index], cell_index))
            return True
        return False

    def _charge(self, cell_index, size):
        """Count ``size`` bytes against the cell's and the notebook's caps; False when over either."""
        used = self._output_bytes.get(cell_index, 0) + size
        total = self._output_total + size
        if used > self.output_limit or total > self.notebook_output_limit:
            return False
        self._output_bytes[cell_index] = used
        self._output_total = total
        return True

    def output(self, outs, msg, display_id, cell_index):
        """Every output path is capped: streams, display data, results and errors (errors are kept,
        shortened, because they decide a test's outcome)."""
        content = msg.get("content", {})
        if msg.get("msg_type") == "error":
            content["evalue"] = _shorten(str(content.get("evalue", "")), ERROR_TEXT)
            lines = [_shorten(str(line), ERROR_LINE) for line in content.get("traceback", []) or []]
            content["traceback"] = lines[:ERROR_LINES // 2] + lines[-ERROR_LINES // 2:] if len(lines) > ERROR_LINES \
                else lines
            self._charge(cell_index, _size(content))
            return super().output(outs, msg, display_id, cell_index)
        if not self._charge(cell_index, _size(content)):
            if self._cut(cell_index):
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n[output cut by the autograder after {self.output_limit} bytes]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        """A display update rewrites every output showing that id: it costs its size once per such output."""
        places = self._display_id_map.get(display_id, {})
        size = _size(msg.get("content", {}))
        for cell_index, indices in places.items():
            if not self._charge(cell_index, size * len(indices)):
                self._cut(cell_index)
                return None
        return super()._update_display_id(display_id, msg)

    # -- the trusted verdict -------------------------------------------------------------------
    async def _async_expression(self, expression, timeout):
        """Evaluate ``expression`` in the kernel (a silent request, as ``user_expressions["v"]``); the reply
        message, or None when none came within ``timeout`` seconds. The verdict and the guard both ask this way."""
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"v": expression},
                                 allow_stdin=False, stop_on_error=False)
        deadline = monotonic() + timeout
        while monotonic() < deadline:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=deadline - monotonic()))
            except Empty:
                break
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    def _kernel_value(self, expression, what):
        """Plain data from the kernel (see values.py), parsed strictly; raises verdict.Malformed. The wait is
        charged to the notebook's budget: a student's function the grader calls (quiz 6) runs in the kernel."""
        left = self.notebook_timeout - (monotonic() - self._started)
        if left < 1:
            raise verdict.Malformed(f"the notebook's time limit ({self.notebook_timeout} s) was reached "
                                    f"before the grader could read {what}")
        timeout = int(min(max(30, int(self.timeout or 300)), left))
        msg = run_sync(self._async_expression)(expression, timeout)
        if msg is None:
            if run_sync(self.km.is_alive)():
                run_sync(self.km.interrupt_kernel)()
                raise verdict.Malformed(f"{what} did not answer within {timeout} s"
                                        + (" (the rest of the notebook's time limit)" if timeout < 30 else ""))
            raise verdict.Malformed(f"the kernel died while the grader read {what}")
        try:
            value = msg["content"]["user_expressions"]["v"]
        except (KeyError, TypeError):
            raise verdict.Malformed(f"the kernel did not hand over {what}") from None
        if not isinstance(value, dict) or value.get("status") != "ok":
            why = f"{value.get('ename')}: {value.get('evalue')}" if isinstance(value, dict) else "no reply"
            raise verdict.Malformed(f"the kernel could not hand over {what} ({why})"[:400])
        return verdict.parse_reply(value.get("data", {}).get("text/plain"))

    def _call_in_kernel(self, name, payload):
        return self._kernel_value(f"__import__('_autograder_values').call({name!r}, {payload!r})",
                                  f"{name}'s answer")

    def _decide(self, cell, index, calls):
        gid = grade_id(cell)
        names = self._trusted.variables(gid)

        def say(both, english):
            return english if self._language == "en" else both

        try:
            values = self._kernel_value(f"__import__('_autograder_values').dump({names!r})",
                                        ", ".join(names) or "the values") if names else {}
            passed, reason = self._trusted.decide(gid, values, self._call_in_kernel)
            missing = self._trusted.missing(gid, values)
        except verdict.Malformed as error:
            passed, reason, missing = False, verdict.in_language(str(error), self._language), []
        self._events["verdicts"][gid] = {"how": "grader", "passed": passed, "reason": reason[:1000]}
        if missing:
            self._events["verdicts"][gid]["missing"] = [{"name": n, "cell": self._trusted.answers.get(n)}
                                                        for n in missing]
        outputs = []
        for out in cell.outputs:
            if out.output_type == "error":  # the visible test: a hint, never the score
                outputs.append(NotebookNode(output_type="stream", name="stdout",
                                            text=f"[{say('보이는 테스트 / visible test', 'visible test')} (a hint)] "
                                                 f"{out.ename}: {out.evalue}\n"))
            elif out.output_type == "execute_result":  # no partial credit from a value the notebook shows
                outputs.append(NotebookNode(output_type="display_data", data=out.get("data", {}),
                                            metadata=out.get("metadata", {})))
            elif out.output_type == "stream" and out.name == "stderr":
                outputs.append(NotebookNode(output_type="stream", name="stdout", text=out.text))
            else:
                outputs.append(out)
        if passed:
            outputs.append(NotebookNode(output_type="stream", name="stdout",
                                        text=f"✔ {say('채점 통과 / passed', 'passed')} (checked by the grader, outside "
                                             "this notebook)\n"))
        else:
            outputs.append(_error_output("AssertionError", reason))
        cell.outputs = outputs

    # -- guard ---------------------------------------------------------------------------------
    def _run_guard(self, cell, index, mode, fatal=True):
        try:
            nonce = secrets.token_hex(8)
            msg = run_sync(self._async_expression)(f"__import__('_autograder_guard').check({nonce!r}, {mode!r})",
                                                   GUARD_TIMEOUT)
            value = msg["content"]["user_expressions"]["v"]  # no reply (None): the guard failed, below
            if not self._guard_seen and value.get("ename") == "ModuleNotFoundError":
                raise GuardMissing("the guard was not loaded in the kernel (see kernel.log in the job folder)")
            report = guard_report(value["data"]["text/plain"], nonce)
        except GuardMissing:
            raise
        except Exception:
            alive = run_sync(self.km.is_alive)()
            if alive and not fatal:  # the grader decides this test: a broken guard changes no score
                self._events["tamper"].append({"cell": index, "grade_id": grade_id(cell),
                                               "findings": ["the integrity check could not run (the grade does "
                                                            "not depend on it)"], "more": 0})
                return
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
            self._events["tamper"].append({"cell": index, "grade_id": grade_id(cell),
                                           "findings": report["findings"], "more": report["more"]})
        self._events["threads"] = max(self._events["threads"], report["threads"])


def guard_report(text, nonce):
    """The guard's report from its reply (IPython's repr of the JSON text it returns); ValueError when the reply is
    larger than the guard writes, not that, or without this call's nonce."""
    if not isinstance(text, str) or len(text) > GUARD_REPLY_MAX:
        raise ValueError("the guard's reply is not text of the size the guard writes")
    body = ast.literal_eval(text)
    report = json.loads(body) if isinstance(body, str) else None
    if not isinstance(report, dict) or report.get("nonce") != nonce:
        raise ValueError("the guard's reply does not carry this call's nonce")
    return report
