"""Which CLIP model answered each submission, and is it the one that graded it?

Every quiz notebook's setup cell prints one line, ``model: <label>`` (``clipcourse.reference.model_label``):
a Hugging Face id such as ``openai/clip-vit-base-patch32``, or a folder's name (or the hub id of a
Hugging Face cache snapshot) followed by ``sha256:`` and the start of a digest of the model's files;
``model: none`` for a quiz that uses no model. The submitted notebook keeps that line from the
student's own run; the autograded notebook has the grading kernel's. Two lines name the same model
when both digests are given and equal, or, when one side has no digest (a hub id), when the names are
equal. A student whose quiz 2 and 7 texts were found under the real CLIP at home may miss under the
course's offline CLIP, so the class grader flags such submissions: regrade them with the students'
model (``CLIP_MODEL=openai/clip-vit-base-patch32 make grade``, autograder/README.md).
"""
import json
import re
from pathlib import Path

LINE = re.compile(r"^model: (?P<name>.+?)(?: sha256:(?P<digest>[0-9a-f]{8,64}))?[ \t]*$", re.M)
NO_MODEL = "none"
CSV_COLUMNS = ["answered_model", "model_differs"]


def printed_model(notebook):
    """The label on the ``model: …`` line printed by a notebook's first code cell (the quizzes' read-only
    setup cell, which runs before any student code), or "" when there is none."""
    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return ""
    code = [c for c in (cells if isinstance(cells, list) else []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    for cell in code[:1]:
        for output in cell.get("outputs") or []:
            if not isinstance(output, dict) or output.get("output_type") != "stream" or output.get("name") != "stdout":
                continue
            text = output.get("text", "")
            match = LINE.search("".join(text) if isinstance(text, list) else str(text))
            if match:
                return match.group(0)[len("model: "):].strip()
    return ""


def same_model(a, b):
    """True when labels a and b name the same model (see the module's docstring)."""
    ma, mb = LINE.match(f"model: {a}"), LINE.match(f"model: {b}")
    if ma["digest"] and mb["digest"]:
        return ma["digest"][:16] == mb["digest"][:16]
    return ma["name"] == mb["name"]


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
        result["model"] = check(Path(submitted_root) / student / assignment, Path(autograded_root) / student / assignment)
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
    lines = [f"MODEL MISMATCH: {len(other)} of {len(results)} submissions were answered under another model "
             f"than the grading one ({graded}):"]
    lines += [f"  {r['student']}: answered with {r['model']['answered']}" for r in sorted(other, key=lambda r: r["student"])]
    lines.append("  their quiz 2 and 7 texts may score differently here: grade them again with the students' model, "
                 "e.g. CLIP_MODEL=openai/clip-vit-base-patch32 make grade (autograder/README.md)")
    return lines
