"""Text that came from a submission, made safe once where it enters the grader.

A submitted notebook is the student's file: any string in it may hold lone surrogates (``\\ud800``, which
UTF-8 cannot write), be megabytes long, carry terminal escape sequences, or start a spreadsheet formula
(``=HYPERLINK(…)``). ``collect.read_notebook`` (the grader's one notebook reader) replaces lone surrogates
everywhere in what it returns, so the text is valid Unicode from there on; what the grader keeps of it for
its own reports (the ``model:`` line, modelcheck.py) is cut to a bounded length with ``label`` and parsed
without regular expressions that can backtrack. Where it is shown:

* the console and the summary: ``printable`` (control characters and escape sequences as ``\\x1b`` …);
* the CSV: ``csv_cell``, applied to every cell the CSV writer writes (report.csv_text).
"""
import re

#: The longest label (a ``model:`` line) the grader keeps from a notebook; a real one is under 100 characters.
MAX_LABEL = 200
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What makes Excel, LibreOffice and Google Sheets read a cell as a formula (OWASP's "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?")  # no nested repetition: linear


def valid(text):
    """``text`` as a str that UTF-8 can always write: lone surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", str(text))


def label(text, limit=MAX_LABEL):
    """A short piece of a submission kept for a report: valid Unicode, at most ``limit`` characters (longer
    text is cut and ends with ``…``)."""
    text = valid(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text):
    """``text`` for a console or summary line: newlines, escape sequences and other control characters
    shown as ``\\n``, ``\\x1b`` …, so a name can never break a line or drive the terminal; lone surrogates
    as ``\\ud800`` (the CSV keeps the exact text)."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def csv_cell(value):
    """One CSV cell: valid Unicode, and text a spreadsheet would run as a formula (it starts with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return) prefixed with a single quote, which spreadsheets show
    as text (OWASP's advice). Plain numbers (``-1.5``) and the grader's own ``-`` (nothing) are left as they
    are."""
    text = valid(value)
    if text.startswith(FORMULA_START) and text != "-" and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
