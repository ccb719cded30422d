"""Start a graded kernel in the submission's folder without letting it shadow any package (IPython extension).

Loaded first into every graded kernel, as ``_autograder_start``.

The kernel is started in an empty, read-only folder with ``PYTHONSAFEPATH=1``, so nothing of the
submission can be imported or read while it starts (a ``numpy.py`` or ``clipcourse/`` next to the
notebook, an IPython profile, a ``sitecustomize.py``). This extension then moves into the
submission's working folder and puts ``''`` (that folder) at the END of ``sys.path``: the student's
own helper modules still import, but can never shadow an installed package or the course's own.
"""
import os
import sys


def load_ipython_extension(shell):
    workdir = os.environ.pop("AUTOGRADER_WORKDIR", "")
    sys.path[:] = [p for p in sys.path if p not in ("", ".")] + [""]
    if workdir:
        os.chdir(workdir)
