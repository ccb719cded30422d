"""Feedback a student may read: which tests failed and their points, never the hidden tests' source.

nbgrader's feedback shows the autograded notebook, where OverwriteCells put the hidden tests back, and their
tracebacks quote the failing hidden line (nbgrader #917, #1363). ``HideHiddenTests`` (a preprocessor before
nbgrader's ``GetGrades``) replaces each hidden region by the test's verdict and removes every output line that
quotes one of the ``secret_lines``; ``find_leaks`` checks the rendered page once more (``job.py`` swaps in a
scores-only page if it finds one). Nothing a student wrote runs in the page (issue 32): ``sanitise`` (nh3) makes the
student's HTML and rendered Markdown inert, ``harden`` removes every ``<script>`` and puts a Content-Security-Policy
first in the head. autograder/README.md, *Feedback without hidden tests*, says what each step keeps out.
"""
import copy
import html
import re

import nh3
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter

from nbconvert.preprocessors import Preprocessor
from traitlets import Any, Bool

#: nbgrader's default delimiters; a job puts in its course's own (``use_course_delimiters``) before anything reads them.
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
SOLUTION = ("BEGIN SOLUTION", "END SOLUTION")
MIN_SECRET = 8  # shorter lines ("else:", "pass") say nothing about a test
REMOVED = "[hidden test line removed]"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SPACES = re.compile(r"\s+")


def use_course_delimiters(config):
    """Take the hidden-test and solution delimiters from the course's nbgrader config, as nbgrader itself reads
    them (``ClearHiddenTests.begin_test_delimeter``…, ``ClearSolutions.begin_solution_delimeter``…)."""
    global BEGIN, END, SOLUTION
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    hidden, solutions = ClearHiddenTests(config=copy.deepcopy(config)), ClearSolutions(config=copy.deepcopy(config))
    BEGIN, END = hidden.begin_test_delimeter, hidden.end_test_delimeter
    SOLUTION = (solutions.begin_solution_delimeter, solutions.end_solution_delimeter)


def normalise(text):
    """``text`` with each run of whitespace one space, none at the ends (None: "")."""
    return _SPACES.sub(" ", text or "").strip()


def split_hidden(source, delimiters=None):
    """``(visible lines, hidden lines)`` of one cell's source: outside and inside its hidden-test regions (or the
    regions between ``delimiters``, a (begin, end) pair such as ``SOLUTION``); the delimiter lines in neither."""
    begin, end = delimiters or (BEGIN, END)
    visible, hidden, inside = [], [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    return visible, hidden


def visible(source):
    """One cell's source without its hidden-test regions (what the student's kernel and notebook get)."""
    return "\n".join(split_hidden(source)[0])


def secret_lines(sources):
    """The normalised hidden-test lines worth hiding, from an iterable of cell sources."""
    hidden, visible = set(), set()
    for source in sources:
        shown, secret = split_hidden(source)
        hidden.update(normalise(line) for line in secret)
        visible.update(normalise(line) for line in shown)
    return sorted(s for s in hidden - visible if len(s) >= MIN_SECRET)


def _squeeze(text):
    return _SPACES.sub("", text)


def redact(text, secrets):
    """``text`` without the lines that quote a secret line (whitespace and colour codes ignored)."""
    squeezed = [_squeeze(s) for s in secrets]
    lines = _ANSI.sub("", text).split("\n")
    return "\n".join(REMOVED if any(s in _squeeze(line) for s in squeezed) else line for line in lines)


def _verdict(cell):
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return "failed", f"{output.ename}: {output.evalue}"
        if output.output_type == "stream" and output.name == "stderr":
            return "failed", "it wrote to stderr"
    return "passed", ""


def verdict_lines(head, why=""):
    """A test cell's verdict as the comment lines that open it in the feedback: ``head`` (which test, its points,
    passed or failed), then the whole message, Korean first then English, each line as the check wrapped it."""
    mark = "✔" if head.endswith("passed") else "✘"
    lines = [f"# {mark} {head}"]
    lines += [f"#   {line}" if line.strip() else "#" for line in why.split("\n")] if why else []
    return lines + ["# " + "-" * 60]


#: The only output kinds a feedback page shows (``text/html`` sanitised, ``text/markdown`` rendered then
#: sanitised, images as base64 data checked here); the rest (SVG, JavaScript, widgets, PDF …) is dropped.
SHOWN_OUTPUTS = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")  # one character class, no nesting: linear
_DATA_IMAGE = ("data:image/png;base64,", "data:image/jpeg;base64,", "data:image/gif;base64,")
#: A feedback page loads nothing and runs nothing; its own CSS is inline, images are data: URLs.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; script-src 'none'; "
       "object-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'")


def _keep_data_images_only(tag, attribute, value):
    if value.strip().lower().startswith("data:"):
        return value if tag == "img" and attribute == "src" and value.strip().lower().startswith(_DATA_IMAGE) \
            else None
    return value


def sanitise(fragment):
    """A student's HTML made inert: nh3's defaults (no scripts, event handlers, ``javascript:`` URLs, styles,
    ``class`` or ``id``), ``data:`` URLs only as PNG, JPEG or GIF pictures."""
    return nh3.clean(str(fragment), url_schemes=nh3.ALLOWED_URL_SCHEMES | {"data"},
                     attribute_filter=_keep_data_images_only)


class SafeHTMLExporter(HTMLExporter):
    """nbconvert's HTML exporter whose Markdown (markdown cells, Markdown outputs, nbgrader comments) is
    sanitised once rendered: Markdown lets raw HTML through."""

    @pass_context
    def markdown2html(self, context, source):
        return sanitise(super().markdown2html(context, source))


def _script_free(page):
    """``page`` without any ``<script …>…</script>`` element (a plain scan, linear in the page)."""
    out, at, lower = [], 0, page.lower()
    while True:
        start = lower.find("<script", at)
        if start < 0:
            out.append(page[at:])
            return "".join(out)
        out.append(page[at:start])
        end = lower.find("</script", start)
        close = lower.find(">", end) if end >= 0 else -1
        at = close + 1 if close >= 0 else len(page)


def harden(page):
    """The rendered feedback page with no script at all and a Content-Security-Policy forbidding scripts and
    outside requests, first in its head (student content was sanitised before; this is the second lock)."""
    page = _script_free(page)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    head = page.lower().find("<head>")
    return page[:head + 6] + meta + page[head + 6:] if head >= 0 else meta + page


def _safe_output(output):
    """Keep only what SHOWN_OUTPUTS allows of one output, sanitised; False when nothing is left."""
    if "data" not in output:
        return True
    data = output["data"]
    for mime in list(data):
        value = data[mime]
        text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else None
        if mime not in SHOWN_OUTPUTS or text is None:
            del data[mime]
        elif mime == "text/html":
            data[mime] = sanitise(text)
        elif mime.startswith("image/") and not _BASE64.fullmatch(text):
            del data[mime]
    output["metadata"] = {}  # width, height, filenames: attributes of the page
    return bool(data)


class HideHiddenTests(Preprocessor):
    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled
    secrets = Any([], help="normalised hidden-test lines (see secret_lines)").tag(config=True)

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)  # a widget state is loaded by scripts: never shown
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        secrets = self.secrets
        hidden = BEGIN in cell.source
        if hidden:
            meta = cell.metadata.get("nbgrader", {})
            verdict, why = _verdict(cell)
            name = repr(meta.get("grade_id", "this cell"))
            # the verdict first, whole (never cut mid-sentence), above the test code the student reads past
            kept = verdict_lines(f"hidden tests of {name} ({meta.get('points', 0)} points): {verdict}",
                                 redact(why, secrets) if why else "")
            inside = False
            for line in cell.source.split("\n"):
                if BEGIN in line:
                    inside = True
                    indent = line[: len(line) - len(line.lstrip())]
                    kept.append(f"{indent}# [hidden tests of {name}: their code is not shown; verdict at the top]")
                elif END in line:
                    inside = False
                elif not inside:
                    kept.append(line)
            cell.source = "\n".join(kept)
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if _safe_output(o)]
        for output in cell.get("outputs", []):
            self._clean(output, secrets, hidden)
        if hidden and "outputs" in cell:  # only text survives in a hidden-test cell (a markdown cell has none)
            cell.outputs = [o for o in cell.outputs if o.output_type in ("error", "stream")
                            or "text/plain" in o.get("data", {})]
            for output in cell.outputs:
                if "data" in output:
                    output["data"] = {"text/plain": output["data"]["text/plain"]}
        return cell, resources

    @staticmethod
    def _clean(output, secrets, hidden):
        if output.output_type == "error":
            output.evalue = redact(output.evalue, secrets)
            output.traceback = [f"{output.ename}: {output.evalue}"] if hidden else \
                [redact(line, secrets) for line in output.traceback]
        elif output.output_type == "stream":
            output.text = redact(output.text, secrets)
        elif "data" in output:
            for mime, value in list(output["data"].items()):
                if mime.startswith("text/") and isinstance(value, (str, list)):
                    text = value if isinstance(value, str) else "".join(value)
                    output["data"][mime] = redact(text, secrets)


def html_text(page):
    """The readable text of an HTML page (tags dropped, entities decoded, whitespace collapsed)."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return normalise(html.unescape(re.sub(r"<[^>]+>", " ", page).replace("\u200b", "")))


def find_leaks(page, secrets):
    """Hidden-test lines that can be read in an HTML page (compared without any whitespace, because
    syntax highlighting splits a line into tokens)."""
    raw, text = _squeeze(html.unescape(page)), _squeeze(html_text(page))
    return [s for s in secrets if _squeeze(s) in text or _squeeze(s) in raw]


def scores_only_page(student, assignment, rows):
    """The fallback feedback: a plain table of test cells and points."""
    body = "".join(f"<tr><td>{html.escape(name)}</td><td>{score:g} / {points:g}</td></tr>"
                   for name, score, points in rows)
    return harden(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}</title></head>"
                  f"<body><h1>{html.escape(assignment)} — {html.escape(student)}</h1>"
                  f"<table><tr><th>test cell</th><th>points</th></tr>{body}</table></body></html>")


def warm_up():
    """Render a small made-up notebook as the feedback is rendered (nbgrader's feedback template through
    nbconvert's HTML exporter), once, in the fork server (grade.py): the regular expressions, syntax
    highlighters, Markdown renderer and notebook schema validator it builds on first use are then ready in
    every job forked from it, instead of being built again for each submission (a third of a second each).
    No student's notebook is involved."""
    import nbformat
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    v4 = nbformat.v4
    grade = {"grade": True, "grade_id": "q1", "points": 1, "score": 0, "solution": False, "locked": True}
    code = v4.new_code_cell("import numpy as np\n\ndef f(x):\n    return np.sqrt(x) * 2  # a comment\n\nf(4)",
                            execution_count=1, metadata={"nbgrader": grade})
    code.outputs = [v4.new_output("stream", name="stdout", text="text\n"),
                    v4.new_output("execute_result", data={"text/plain": "4.0", "text/html": "<b>4.0</b>"},
                                  execution_count=1),
                    v4.new_output("error", ename="AssertionError", evalue="wrong",
                                  traceback=["\x1b[0;31mAssertionError\x1b[0m: wrong"])]
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Quiz\n\n**bold**, `code`, $x^2$, [a link](https://a.b)\n\n"
                                                     "| a | b |\n| - | - |\n| 1 | 2 |"), code],
                         metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                   "language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    nbformat.validate(nb)
    config = Config()
    config.GenerateFeedback.exporter_class = SafeHTMLExporter
    converter = GenerateFeedback(coursedir=CourseDirectory(config=config), config=config)
    exporter = converter.exporter_class(parent=converter, config=converter.config)
    resources = {"nbgrader": {"notebook": "warm-up", "score": 0, "max_score": 1, "late_penalty": 0}}
    nb, resources = CSSHTMLHeaderPreprocessor()(nb, resources)
    html_page, _ = exporter.from_notebook_node(nb, resources=resources)
    find_leaks(harden(html_page), ["return np.sqrt(x) * 2"])
