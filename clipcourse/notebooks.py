"""Run notebooks top to bottom with this Python's kernel: one place for the tests and `make render`.

    python -m clipcourse.notebooks [--out rendered] notebooks/01_*.ipynb ...

writes, for each notebook, an executed copy (``.ipynb`` with outputs) and an ``.html`` page to look at
every figure without starting Jupyter. A notebook that fails is still written (with its error) and
the command goes on with the others, then exits non-zero naming the failures.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

CELL_TIMEOUT_S = 600


def execute(path, timeout=CELL_TIMEOUT_S):
    """Execute the notebook at ``path`` in its own folder and return it with outputs.

    The kernel is this interpreter (``sys.executable``, e.g. the course's .venv), whatever kernels
    Jupyter has registered elsewhere; it inherits this process's environment (CLIP_MODEL, offline
    flags). Raises ``CellExecutionError`` naming the failing cell; the partly executed notebook is
    then attached to the error as ``error.notebook``. The kernel is shut down however the run ends.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    # No kernel folders: only the "native" python3 kernel remains, and it runs sys.executable.
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    # coalesce_streams keeps only the last state of a progress bar (text after "\r").
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", coalesce_streams=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        # nbclient leaves a kernel it did not create running (owns_km is False when km is passed):
        # cleanup_kc=True asks it to shut ours down too, and the finally covers what that misses
        # (an interrupt, a failure while the kernel starts).
        client.execute(env=_kernel_env(), cleanup_kc=True)
    except CellExecutionError as error:
        error.notebook = nb
        raise
    finally:
        _shut_down(km)
    return nb


def _shut_down(km):
    """Stop ``km``'s kernel if it still runs, and remove its connection file."""
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    finally:
        km.cleanup_resources()


def _kernel_env():
    """This process's environment, with a relative CLIP_MODEL folder made absolute: the kernel runs
    in the notebook's folder, where ``CLIP_MODEL=model/course-clip`` would point nowhere."""
    env = dict(os.environ)
    wanted = env.get("CLIP_MODEL", "").strip()
    if wanted and os.path.isdir(wanted):
        env["CLIP_MODEL"] = os.path.abspath(wanted)
    return env


def render(paths, out):
    """Write executed ``.ipynb`` and ``.html`` copies of each notebook into ``out``; returns the failures."""
    from nbconvert import HTMLExporter

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for path in map(Path, paths):
        start = time.perf_counter()
        try:
            nb, status = execute(path), "ok"
        except CellExecutionError as error:
            summary = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            nb, status = error.notebook, f"FAILED: {summary}"
            failed.append(path.name)
        nbformat.write(nb, out / path.name)
        html, _ = HTMLExporter().from_notebook_node(nb)
        (out / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
        print(f"{path.name}: {status} in {time.perf_counter() - start:.1f} s -> {out / path.stem}.{{ipynb,html}}")
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description="Execute notebooks and write rendered copies.")
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--out", default="rendered")
    args = parser.parse_args(argv)
    failed = render(args.notebooks, args.out)
    if failed:
        sys.exit(f"render: {len(failed)} notebook(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
