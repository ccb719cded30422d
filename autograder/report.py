"""The class's grades: one CSV row per student, and a summary table per quiz."""
import collections
import csv
import io
import re
import statistics

from . import modelcheck, untrusted

OUTCOMES = ("passed", "failed", "error", "timeout", "not run")


def quiz_of(grade_id, notebook, pattern):
    """The quiz a test cell belongs to: ``quiz<N>`` from its id (or its notebook's name), else its id."""
    for text in (grade_id, notebook):
        match = re.search(pattern, text or "")
        if match:
            return f"quiz{int(match.group(1))}"
    return grade_id


def _quiz_order(name):
    match = re.fullmatch(r"quiz(\d+)", name)
    return (0, int(match.group(1)), "") if match else (1, 0, name)


def quiz_columns(results, pattern):
    """{quiz: max points} over the test cells seen in the results, in quiz order."""
    points = {}
    for result in results:
        for g in result.get("grades", []):
            quiz = quiz_of(g["grade_id"], g["notebook"], pattern)
            points.setdefault(quiz, {})[(g["notebook"], g["grade_id"])] = g["max_score"]
    return {q: sum(points[q].values()) for q in sorted(points, key=_quiz_order)}


def totals(result, pattern):
    """(score, max score, {quiz: score}) of one result; ungraded submissions score 0."""
    per_quiz = {}
    for g in result.get("grades", []):
        quiz = quiz_of(g["grade_id"], g["notebook"], pattern)
        per_quiz[quiz] = per_quiz.get(quiz, 0.0) + float(g["auto_score"] or 0.0)
    return sum(per_quiz.values()), sum(float(g["max_score"]) for g in result.get("grades", [])), per_quiz


def decided_by(result, pattern):
    """Which quiz was decided how: ``grader`` (trusted code outside the kernel, verdict.py), ``kernel``
    (hidden tests run in the student's kernel) or ``-`` (not run: unreadable, stopped before)."""
    notebook_of = {g["grade_id"]: g["notebook"] for g in result.get("grades", [])}
    ways = {}
    for gid, verdict in (result.get("verdicts") or {}).items():
        ways.setdefault(quiz_of(gid, notebook_of.get(gid), pattern), set()).add(verdict.get("how", "?"))
    return " ".join(f"{q}={'+'.join(sorted(ways[q]))}" for q in sorted(ways, key=_quiz_order)) or "-"


#: Console and summary lines show a submission's text through this (untrusted.printable).
printable = untrusted.printable


def name_of(result):
    """The student's name exactly as submitted (older results only have nbgrader's id)."""
    return result.get("name") or result["student"]


def _fmt(x):
    return f"{x:g}"


def csv_text(results, pattern, max_by_assignment):
    quizzes = quiz_columns(results, pattern)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def write(cells):  # every cell through untrusted.csv_cell: valid Unicode, never a live formula
        writer.writerow([untrusted.csv_cell(cell) for cell in cells])

    models = any("model" in r for r in results)  # modelcheck.annotate ran (class grading)
    write(["student", "student_id", "assignment", "status", "score", "max_score", *quizzes, "decided_by",
           "reason", "notes", "flags"] + (modelcheck.CSV_COLUMNS if models else []))
    for r in sorted(results, key=lambda r: (r["assignment"], name_of(r))):
        score, max_score, per_quiz = totals(r, pattern)
        max_score = max_score or max_by_assignment.get(r["assignment"], 0)
        write([name_of(r), r["student"], r["assignment"], r["status"], _fmt(score), _fmt(max_score),
               *[_fmt(per_quiz[q]) if q in per_quiz else "" for q in quizzes], decided_by(r, pattern),
               r.get("reason", ""), " | ".join(r.get("notes", [])), " | ".join(r.get("flags", []))]
              + (modelcheck.csv_values(r) if models else []))
    return out.getvalue()


def summary_table(results, pattern, skipped=()):
    """Per quiz: points, mean, min, max and how its test cells ended; then the class's statuses, every
    row that is not ``graded`` with its reason, and what in the folder was not graded at all."""
    quizzes = quiz_columns(results, pattern)
    header = ["quiz", "points", "mean", "min", "max", *OUTCOMES, "unreadable"]
    rows = []
    unreadable = sum(1 for r in results if r["status"] == "unreadable")
    for quiz, points in quizzes.items():
        scores, counts = [], dict.fromkeys(OUTCOMES, 0)
        for r in results:
            if r["status"] == "error":
                continue
            scores.append(totals(r, pattern)[2].get(quiz, 0.0))
            notebook_of = {g["grade_id"]: g["notebook"] for g in r.get("grades", [])}
            seen = {o for gid, o in r.get("cells", {}).items() if quiz_of(gid, notebook_of.get(gid), pattern) == quiz}
            for outcome in OUTCOMES:  # a student counts once per outcome
                counts[outcome] += outcome in seen
        rows.append([quiz, _fmt(points), f"{statistics.mean(scores):.2f}" if scores else "-",
                     _fmt(min(scores)) if scores else "-", _fmt(max(scores)) if scores else "-",
                     *[str(counts[o]) for o in OUTCOMES], str(unreadable)])
    graded = [r for r in results if r["status"] != "error"]
    if graded:
        scores = [totals(r, pattern)[0] for r in graded]
        rows.append(["total", _fmt(sum(quizzes.values())), f"{statistics.mean(scores):.2f}", _fmt(min(scores)),
                     _fmt(max(scores)), *[""] * len(OUTCOMES), str(unreadable)])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths)))
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    statuses = collections.Counter(r["status"] for r in results)
    lines.append("")
    lines.append(f"{len(results)} submissions: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    ways = sorted({decided_by(r, pattern) for r in results if r.get("verdicts")})
    if ways:
        lines.append("decided by (grader: trusted checks outside the kernel; kernel: hidden tests run in it): "
                     + "; ".join(ways))
    for r in sorted(results, key=name_of):
        if r["status"] != "graded":
            lines.append(f"  {printable(name_of(r))}: {r['status']}: {printable(r.get('reason') or '-')}")
    if skipped:
        lines.append(f"not graded ({len(skipped)} entries of the submissions folder):")
        lines += [f"  {printable(entry)}: {printable(why)}" for entry, why in skipped]
    lines += modelcheck.summary_lines(results)
    return "\n".join(lines)
