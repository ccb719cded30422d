"""Which CLIP model answered each submission, and is it the one that graded it?

Every quiz notebook's setup cell prints ``model: <label>`` (``clipcourse.reference.model_label``): a Hugging Face id,
or a folder's name (or a cache snapshot's hub id) followed by ``sha256:`` and the start of a digest of the model's
files; ``model: none`` for a quiz without a model. The submitted notebook keeps the student's line, the autograded
one the grading kernel's. Two lines name the same model when both digests are given and equal, or, when one side has
none, when the names are equal. A mismatch is flagged (autograder/README.md, *Which model answered*).
"""
from pathlib import Path

from . import untrusted

PREFIX = "model: "
NO_MODEL = "none"
CSV_COLUMNS = ["answered_model", "model_differs"]
_HEX = frozenset("0123456789abcdef")


def parse_line(line):
    """The label of one printed line ``model: <label>``, or None. Plain string operations (no regular
    expression: ``model: x`` + 250 000 spaces + ``y`` once made one backtrack for 348 s); the label is kept
    as valid Unicode of at most ``untrusted.MAX_LABEL`` characters."""
    if not line.startswith(PREFIX):
        return None
    text = line[len(PREFIX):].strip(" \t\r")
    return untrusted.label(text) if text else None


def parts(label):
    """``(name, digest)`` of a label ``<name> sha256:<8 to 64 hex digits>``; digest "" when it has none."""
    name, sep, digest = label.rpartition(" sha256:")
    if sep and name and 8 <= len(digest) <= 64 and _HEX.issuperset(digest):
        return name, digest
    return label, ""


def printed_model(notebook):
    """The label on the ``model: …`` line printed by a notebook's first code cell (the quizzes' read-only
    setup cell, which runs before any student code), or "" when there is none. The notebook is read by the
    grader's one reader (collect.read_notebook: size cap, valid Unicode)."""
    from .collect import read_notebook

    path = Path(notebook)
    if not path.is_file():
        return ""
    nb, _ = read_notebook(path)
    code = [c for c in (nb.cells if nb is not None else []) if c.get("cell_type") == "code"]
    for cell in code[:1]:
        for output in cell.get("outputs") or []:
            if output.get("output_type") != "stream" or output.get("name") != "stdout":
                continue
            text = output.get("text", "")
            for line in ("".join(text) if isinstance(text, list) else str(text)).split("\n"):
                found = parse_line(line)
                if found:
                    return found
    return ""


def same_model(a, b):
    """True when labels a and b name the same model (see the module's docstring)."""
    (name_a, digest_a), (name_b, digest_b) = parts(a), parts(b)
    if digest_a and digest_b:
        return digest_a[:16] == digest_b[:16]
    return name_a == name_b


def check(submitted_dir, autograded_dir):
    """{"answered": label, "graded": label, "differs": True/False, or None when either is unknown}."""
    answered = graded = ""
    for notebook in sorted(Path(submitted_dir).glob("*.ipynb")):
        answered = answered or printed_model(notebook)
        graded = graded or printed_model(Path(autograded_dir) / notebook.name)
    known = answered and graded and not {answered, graded} & {NO_MODEL} and not any(
        label.startswith("unknown") for label in (answered, graded))
    return {"answered": answered, "graded": graded, "differs": (not same_model(answered, graded)) if known else None}


def annotate(results, submitted_root, autograded_root):
    """Add ``result["model"]`` (see check) to each result, from the class's submitted/ and autograded/."""
    for result in results:
        student, assignment = result["student"], result["assignment"]
        try:
            result["model"] = check(Path(submitted_root) / student / assignment,
                                    Path(autograded_root) / student / assignment)
        except Exception as error:  # one notebook never costs the class its reports
            result["model"] = {"answered": "", "graded": "", "differs": None}
            result.setdefault("notes", []).append(
                f"the model line could not be read ({type(error).__name__}: {untrusted.label(error)})")
    return results


def csv_values(result):
    """The grades CSV's two model columns: answered_model, model_differs ("yes", "no" or "" when unknown)."""
    model = result.get("model") or {}
    differs = model.get("differs")
    return [model.get("answered", ""), "" if differs is None else ("yes" if differs else "no")]


def summary_lines(results):
    """The summary's mark: which submissions were answered under another model than the grading one."""
    other = [r for r in results if (r.get("model") or {}).get("differs")]
    if not other:
        return []
    graded = other[0]["model"]["graded"]
    show = untrusted.printable
    lines = [f"MODEL MISMATCH: {len(other)} of {len(results)} submissions were answered under another model "
             f"than the grading one ({show(graded)}):"]
    lines += [f"  {show(r['student'])}: answered with {show(r['model']['answered'])}"
              for r in sorted(other, key=lambda r: r["student"])]
    lines.append("  their quiz 2 and 7 texts may score differently here: grade them again with the students' model, "
                 "e.g. CLIP_MODEL=openai/clip-vit-base-patch32 make grade (autograder/README.md)")
    return lines
