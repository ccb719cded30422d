"""The student's JupyterLab in a real browser, for tests/test_browser.py.

`running_lab` runs the command of `make lab` (read with `make -n`), in a temporary copy of the course
and with a throw-away Jupyter profile, on 127.0.0.1 with a random port and token, and stops it whatever
happens. `chromium_page` drives
Debian's Chromium with Playwright; the page may only talk to that server. `Notebook` does what a student
does in one notebook tab: run all, type into a cell, press Validate, and reads what the page shows.
"""
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "browser"
# What a student's copy of the course holds that the lab needs (clipcourse, the data and the model are
# found through the installed package, as for any student).
COURSE_PARTS = ("notebooks", "release", "nbgrader_config.py")
# /usr/share/doc/chromium/README.Debian and /work/.library: Chromium as root in a container, no network use.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = ("the browser test needs Debian's Chromium: `sudo apt-get install chromium` "
                "(or set CHROMIUM=/path/to/chromium); .ci/run installs it")
# JupyterLab settings of the throw-away profile: no "official Jupyter news?" pop-up over the notebook.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"}}


def chromium_path():
    """Debian's Chromium (or $CHROMIUM), or None."""
    candidates = [os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def missing_reason():
    """Why the browser test cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the browser test needs Playwright for Python: `.venv/bin/pip install -r requirements.txt`"
    return None if chromium_path() else INSTALL_HINT


def lab_command():
    """The recipe of `make lab` as an argument list (its .venv/bin/jupyter made absolute)."""
    try:
        outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")   # when `make test` runs us: no inherited jobserver or flags
        recipe = subprocess.run(["make", "-s", "-n", "-o", ".venv/.ready", "lab"], cwd=ROOT, capture_output=True,
                                text=True, check=True,
                                env={k: v for k, v in os.environ.items() if k not in outer}).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise RuntimeError(f"cannot read the recipe of `make lab` from {ROOT / 'Makefile'}: {error}") from error
    command = shlex.split(recipe)
    assert len(recipe.splitlines()) == 1 and "jupyter" in command[0], f"`make lab` runs {recipe!r}, not one jupyter"
    if not os.path.isabs(command[0]):
        command[0] = str(ROOT / command[0])
    return command


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, root, port, token, log):
        self.root, self.port, self.token, self.log = root, port, token, log
        self.url = f"http://127.0.0.1:{port}"

    def api(self, path, method="GET"):
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self):
        """Frees the memory of the kernels a step opened (the lecture's CLIP stays loaded otherwise)."""
        for kernel in self.api("/api/kernels"):
            self.api(f"/api/kernels/{kernel['id']}", method="DELETE")

    def log_tail(self, chars=3000):
        return self.log.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def running_lab(workdir, startup_timeout=90):
    """`make lab`'s JupyterLab in a copy of the course in workdir/course; stopped (with its kernels) on exit."""
    workdir = Path(workdir)
    course = workdir / "course"
    course.mkdir()
    for part in COURSE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, course / part, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            shutil.copy2(source, course / part)
    settings = workdir / "lab-settings"
    for name, value in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    # A throw-away Jupyter profile: nothing from ~/.jupyter; the .venv's own extension config still applies.
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(workdir / "jupyter-config"),
               JUPYTER_DATA_DIR=str(workdir / "jupyter-data"), JUPYTER_RUNTIME_DIR=str(workdir / "jupyter-runtime"))
    command = lab_command() + [
               "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
    log = workdir / "jupyterlab.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    lab = Lab(course, port, token, log)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {server.returncode} before serving:\n{lab.log_tail()}")
            try:
                lab.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer on {lab.url} within {startup_timeout} s:\n"
                                       f"{lab.log_tail()}")
                time.sleep(0.5)
        yield lab
    finally:
        # SIGTERM: the server shuts its kernels down itself (each kernel runs in a session of its own).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)
        _kill_kernels_of(env["JUPYTER_RUNTIME_DIR"])


def _kill_kernels_of(runtime_dir):
    """Kernels a killed server left behind: those whose connection file lies in this lab's runtime folder."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.decode(errors="replace").startswith(runtime_dir + os.sep) for arg in cmdline):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)


@contextlib.contextmanager
def chromium_page(lab, viewport=(1400, 1000)):
    """A fresh Chromium profile, logged in to `lab`; every request to another host is refused."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            origin = lab.url + "/"
            context.route(re.compile(r"^(?!" + re.escape(origin) + r"|data:|blob:).*"),
                          lambda route: route.abort())
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{lab.url}/?token={lab.token}")   # where `make lab` opens; sets the login cookie
            page.wait_for_selector(".jp-DirListing-content", timeout=60_000)
            yield page
        finally:
            context.close()


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


class Notebook:
    """One notebook opened in the lab's main area, cells addressed by their index in the .ipynb."""

    def __init__(self, page, lab, path, double_click=False):
        """Opens `path` by its address, or, with double_click, from the file browser's current folder."""
        self.page, self.lab, self.path = page, lab, path
        try:
            lab.api(f"/api/contents/{path}?content=0")
        except OSError as error:
            raise AssertionError(f"`make lab`'s JupyterLab cannot open {path} ({error}): its root folder must "
                                 "be the course folder, with notebooks/ and release/ in it") from error
        if double_click:
            name = path.rsplit("/", 1)[-1]
            page.locator(".jp-DirListing-item", has=page.locator(".jp-DirListing-itemText", has_text=name)).dblclick()
        else:
            page.goto(f"{lab.url}/lab/tree/{path}?reset")   # ?reset: only this notebook open
        self.panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").last
        self.panel.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        # JupyterLab adds a long notebook's cells to the page in steps: wait for all of them (a test that
        # counted them at once saw 24 of 26); if they never come, the test's own check says so
        expected = len(json.loads((lab.root / path).read_text(encoding="utf-8"))["cells"])
        deadline = time.monotonic() + 60
        while self.cells.count() < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        self.wait_for_kernel("Idle", timeout=120)

    @property
    def cells(self):
        return self.panel.locator(".jp-Notebook .jp-Cell")

    def cell(self, index):
        return self.cells.nth(index)

    def kernel_status(self):
        """The kernel's word in the status bar ("Python 3 (ipykernel) | Idle" → "Idle")."""
        found = re.search(r"\| *(\w+)", self.page.locator("#jp-main-statusbar").inner_text())
        return found.group(1) if found else ""

    def wait_for_kernel(self, status, timeout):
        deadline = time.monotonic() + timeout
        while self.kernel_status() != status:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path}: the kernel is not {status} after {timeout} s "
                                     f"(status bar: {self.kernel_status()!r})\n{self.lab.log_tail()}")
            time.sleep(0.3)

    def prompts(self):
        return self.panel.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()

    def run_all(self, timeout=120):
        """Run > Run All Cells from the menu bar; returns when nothing is queued or running any more."""
        self.cell(0).click()
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        deadline = time.monotonic() + timeout
        seen_busy = False
        while True:
            prompts = self.prompts()
            running = any("*" in p for p in prompts)
            seen_busy = seen_busy or running
            done = all(re.search(r"\[\d+\]", p) for p in prompts)
            if not running and (done or seen_busy) and self.kernel_status() == "Idle":
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path}: Run All Cells still running after {timeout} s: prompts {prompts}")
            time.sleep(0.3)

    def editor_text(self, index):
        lines = self.cell(index).locator(".cm-content .cm-line").all_text_contents()
        return "\n".join(line.replace("\u200b", "") for line in lines)

    def type_into(self, index, text):
        """Click into the cell's editor, select everything and type `text` over it, as a student would paste."""
        editor = self.cell(index).locator(".cm-content")
        editor.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.insert_text(text)
        self.page.keyboard.press("Escape")

    def try_to_edit(self, index, text):
        """Click at the end of the cell's editor and type, as a student trying to change it would."""
        self.cell(index).locator(".cm-content").click()
        self.page.keyboard.press("ControlOrMeta+End")
        self.page.keyboard.type(text)
        self.page.keyboard.press("Escape")

    def outputs(self, index):
        return self.cell(index).locator(".jp-OutputArea-output")

    def errors(self, index):
        """Tracebacks shown under the cell (a library's warning on stderr is shown too, but is no error)."""
        shown = self.cell(index).locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        return [text for text in shown.all_text_contents() if "Traceback" in text]

    def images(self, index):
        """(naturalWidth, naturalHeight) of each image the cell's output shows, once the browser decoded it."""
        self.cell(index).scroll_into_view_if_needed()
        images = self.cell(index).locator(".jp-OutputArea-output img")
        sizes = []
        for i in range(images.count()):
            handle = images.nth(i)
            handle.evaluate("img => img.decode().catch(() => null)")
            sizes.append(tuple(handle.evaluate("img => [img.naturalWidth, img.naturalHeight]")))
        return sizes

    def save(self):
        self.page.keyboard.press("ControlOrMeta+s")
        deadline = time.monotonic() + 15
        while self.page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").count():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path}: still unsaved 15 s after Ctrl+S")
            time.sleep(0.2)

    def validate(self, timeout=150):
        """Press nbgrader's Validate button; returns (css classes, text) of its result dialog, then closes it."""
        button = self.panel.locator(".jp-Toolbar .validate-button")
        assert button.count() == 1, (
            f"{self.path}: no Validate button in the notebook toolbar: nbgrader's JupyterLab extension "
            "(@jupyter/nbgrader) is not loaded; check `jupyter labextension list` in the course's .venv")
        button.click()
        dialog = self.page.locator(".jp-Dialog")
        try:
            dialog.wait_for(timeout=timeout * 1000)
        except Exception as error:
            raise AssertionError(f"{self.path}: pressing Validate showed no dialog within {timeout} s "
                                 f"(button says {button.inner_text()!r})\n{self.lab.log_tail()}") from error
        title = dialog.locator(".jp-Dialog-header").inner_text()
        message = dialog.locator("#validation-message")
        classes = message.get_attribute("class") if message.count() else ""
        text = dialog.locator(".jp-Dialog-body").inner_text()
        return title, classes or "", text

    def close_dialog(self):
        self.page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
        self.page.locator(".jp-Dialog").wait_for(state="detached")
