"""Autograder pieces that need no kernel: reading submissions, hiding hidden tests, the reports."""
import json
import os
import re

import nbformat
import pytest

from autograder import collect, feedback, report
from autograder.course import Course

from autograder_cases import TINY, tiny_course, tiny_notebook


@pytest.fixture
def course(tmp_path):
    return Course(tiny_course(tmp_path / "course"))


@pytest.mark.parametrize("content, says", [
    (b"", "is empty"),
    (b"   \n", "is empty"),
    (b'{"cells": [', "not valid JSON (line 1, column 12"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not text (not a notebook): ask the student to submit the .ipynb"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),  # UTF-16 by its byte-order mark, but not JSON
    (b"PK\x03\x04\x14\x00\x00\x00", "is a zip archive, not a notebook: ask the student for the .ipynb file inside"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b'{"cells": "no", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "not a notebook nbformat can read"),
])
def test_unreadable_files_get_a_reason(tmp_path, content, says):
    path = tmp_path / "alice.ipynb"
    path.write_bytes(content)
    nb, problem = collect.read_notebook(path)
    assert nb is None and says in problem and "alice.ipynb" in problem


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_a_notebook_saved_again_as_utf16_or_with_a_bom_is_read(tmp_path, codec):
    text = nbformat.writes(tiny_notebook())
    raw = text.encode(codec) if codec != "utf-16-be" else b"\xfe\xff" + text.encode(codec)
    (tmp_path / "alice.ipynb").write_bytes(raw)
    nb, problem = collect.read_notebook(tmp_path / "alice.ipynb")
    assert problem == "" and [c.source for c in nb.cells] == [c.source for c in tiny_notebook().cells]


def test_student_ids_are_safe_unique_folder_names():
    assert collect.student_id("kim_chulsoo") == "kim_chulsoo"  # a plain id stays as it is
    names = ["김철수", "이영희", "kim chulsoo", "kim_chulsoo", "Kim Min-su (2024123)", "../../etc", "...", ".kim",
             "a" * 250, "김" * 80, "C:\\Users\\kim", "kim\udcff"]
    ids = [collect.student_id(n) for n in names]
    assert len(set(ids)) == len(names)
    for i in ids:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}", i) and ".." not in i, i
    assert collect.student_id("Kim Min-su (2024123)").startswith("Kim_Min-su_2024123-")
    assert collect.student_id("김철수").startswith("student-")


def _lms_class(tmp_path, names):
    lms = tmp_path / "lms"
    lms.mkdir()
    for name in names:
        nbformat.write(tiny_notebook(), lms / f"{name}.ipynb")
    return lms


def test_every_name_is_kept_exactly_and_never_merged(course, tmp_path):
    names = ["김철수", "이영희", "kim chulsoo", "kim_chulsoo", ".hidden kim", "x" * 244, "한" * 80]
    lms = _lms_class(tmp_path, names)
    found = collect.find(lms, course)
    assert sorted(s.name for s in found) == sorted(names)
    assert len({s.student for s in found}) == len(names)
    assert all(s.files == {TINY: lms / f"{s.name}.ipynb"} and not s.problem for s in found)
    folders = tmp_path / "submitted"
    for name in names[:5]:
        (folders / name / TINY).mkdir(parents=True)
        nbformat.write(tiny_notebook(), folders / name / TINY / f"{TINY}.ipynb")
    nested = collect.find(folders, course)
    assert sorted(s.name for s in nested) == sorted(names[:5]) and nested.skipped == []
    assert {s.name: s.student for s in nested} == {s.name: s.student for s in found if s.name in names[:5]}


def test_every_entry_gets_a_row_or_a_line_and_fifos_are_never_opened(course, tmp_path):
    lms = _lms_class(tmp_path, ["alice"])
    os.mkfifo(lms / "pipe.ipynb")
    os.mkfifo(lms / "pipe")
    (lms / "readme.txt").write_text("hello")
    (lms / ".ipynb_checkpoints").mkdir()
    (lms / "empty-folder").mkdir()
    (lms / "link").symlink_to(tmp_path)
    folder = lms / "bob" / TINY
    folder.mkdir(parents=True)
    nbformat.write(tiny_notebook(), folder / f"{TINY}.ipynb")
    os.mkfifo(folder / "data.csv")
    os.mkfifo(folder / "other.ipynb")
    found = collect.find(lms, course)  # would hang on a FIFO that is opened
    rows = {s.name: s for s in found}
    assert sorted(rows) == ["alice", "bob", "pipe"]
    assert rows["pipe"].problem == "pipe.ipynb is not a regular file (FIFO): not opened"
    assert rows["bob"].extra == [] and any("data.csv: not a regular file (FIFO)" in n for n in rows["bob"].notes)
    assert dict(found.skipped) == {
        "pipe": "not a regular file (FIFO): not opened",
        "readme.txt": "not a notebook (.ipynb) and not a student folder",
        ".ipynb_checkpoints": "a system file or folder, not a submission",
        "empty-folder": "a folder with no assignment folder and no notebook inside",
        "link": "a symbolic link: never followed",
    }


def test_flat_folder_infers_assignment_and_keeps_bad_files(course, tmp_path):
    subs = tmp_path / "lms"
    subs.mkdir()
    nbformat.write(tiny_notebook(), subs / "alice.ipynb")
    (subs / "bob.ipynb").write_text("{oops")
    found = {s.student: s for s in collect.find(subs, course)}
    assert found["alice"].assignment == TINY and found["alice"].files == {TINY: subs / "alice.ipynb"}
    assert "graded alice.ipynb as tiny.ipynb" in found["alice"].notes
    assert found["bob"].problem.startswith("bob.ipynb is not valid JSON")


def test_nbgrader_layout_renames_a_single_stray_notebook(course, tmp_path):
    folder = tmp_path / "submitted" / "carol" / TINY
    folder.mkdir(parents=True)
    nbformat.write(tiny_notebook(), folder / "Untitled (1).ipynb")
    (folder / "notes.txt").write_text("my notes")
    (sub,) = collect.find(tmp_path / "submitted", course)
    assert sub.files == {TINY: folder / "Untitled (1).ipynb"}
    assert [str(p) for p in sub.extra] == ["notes.txt"]
    assert sub.notes == ["graded Untitled (1).ipynb as tiny.ipynb"]


def test_files_next_to_the_notebook_beyond_the_working_folder_are_left_out_and_never_cut_off(course, tmp_path,
                                                                                               monkeypatch):
    """A 2 GB file next to the notebook was hashed, copied twice (155 s for one tiny submission) and reached the
    kernel as its first 512 MB, the working folder's size, with no word on the row."""
    import errno
    import shutil

    from autograder import sandbox

    monkeypatch.setattr(collect, "MAX_EXTRA_MB", 1)
    folder = tmp_path / "submitted" / "erin" / TINY
    folder.mkdir(parents=True)
    nbformat.write(tiny_notebook(), folder / f"{TINY}.ipynb")
    (folder / "labels.csv").write_text("a,b\n1,2\n")
    (folder / "data").mkdir()
    (folder / "data" / "b.npy").write_bytes(b"b" * 500_000)
    (folder / "c.npy").write_bytes(b"c" * 600_000)
    with open(folder / "weights.bin", "wb") as f:
        f.truncate(3 * 2 ** 30)  # sparse: no disk used
    (sub,) = collect.find(tmp_path / "submitted", course)
    assert sorted(map(str, sub.extra)) == ["data/b.npy", "labels.csv"]
    assert sub.notes == ["left out weights.bin (3072 MB): the files next to the notebook may hold 1 MB in all "
                         "(the kernel's working folder)",
                         "left out c.npy (1 MB): the files next to the notebook may hold 1 MB in all (the kernel's "
                         "working folder)"]
    digest = sub.digest
    with open(folder / "weights.bin", "r+b") as f:  # what is left out is not read, not even for the resume key
        f.write(b"changed")
    assert collect.find(tmp_path / "submitted", course)[0].digest == digest

    real_copy = shutil.copy

    def copy_until_full(src, dst):  # the working folder (a tmpfs) fills up half-way through a file
        if os.path.basename(src) == "c.npy":
            with open(dst, "wb") as f:
                f.write(b"c" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst)

    monkeypatch.setattr(sandbox.shutil, "copy", copy_until_full)
    (folder / "weights.bin").unlink()
    work = tmp_path / "work"
    work.mkdir()
    sandbox._copy_workdir(str(folder), str(work), os.getuid(), os.getgid())
    assert sorted(os.listdir(work)) == ["data", "labels.csv"]  # c.npy is never there cut off part-way
    assert (work / "data" / "b.npy").stat().st_size == 500_000


def test_resume_key_changes_with_the_submission(course, tmp_path):
    folder = tmp_path / "submitted" / "dan" / TINY
    folder.mkdir(parents=True)
    nbformat.write(tiny_notebook(), folder / f"{TINY}.ipynb")
    first = collect.find(tmp_path / "submitted", course)[0].digest
    (folder / f"{TINY}.ipynb").write_text((folder / f"{TINY}.ipynb").read_text().replace("Ada", "Bo"))
    assert collect.find(tmp_path / "submitted", course)[0].digest != first


def test_secret_lines_leave_out_visible_and_trivial_lines():
    sources = ["x = 1\n### BEGIN HIDDEN TESTS\nassert check_answer(x) == 42\nimport numpy as np\npass\n"
               "### END HIDDEN TESTS", "import numpy as np"]
    assert feedback.secret_lines(sources) == ["assert check_answer(x) == 42"]


def test_hidden_tests_leave_the_feedback_but_their_verdict_stays():
    nb = tiny_notebook()
    secrets = feedback.secret_lines(c.source for c in nb.cells)
    test = nb.cells[3]
    test.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="add must work for negative numbers",
                                           traceback=["\x1b[0;31m----> 3\x1b[0m assert \x1b[0madd(-7, 7) == 0, ...",
                                                      "AssertionError: add must work"])]
    leak = nb.cells[4]
    leak.outputs = [nbformat.v4.new_output("stream", name="stdout", text='assert  add(-7, 7) == 0,  "add must work for negative numbers"\nfine\n')]
    cleaned, _ = feedback.HideHiddenTests(secrets=secrets).preprocess(nb, {})
    source = cleaned.cells[3].source
    assert "BEGIN HIDDEN" not in source and "add(-7, 7)" not in source
    assert source.startswith("# ✘ hidden tests of 'q1_test' (2 points): failed\n"
                             "#   AssertionError: add must work for negative numbers\n")
    assert cleaned.cells[3].outputs[0].traceback == ["AssertionError: add must work for negative numbers"]
    assert cleaned.cells[4].outputs[0].text == f"{feedback.REMOVED}\nfine\n"


def test_feedback_puts_the_whole_verdict_above_the_test_code():
    """issue 30: the verdict sat under the test code, and only its first line was kept, cutting the Korean
    message mid-sentence. Now it opens the cell, every line of it, Korean then English."""
    from clipcourse import grading

    nb = tiny_notebook()
    test = nb.cells[3]
    with pytest.raises(AssertionError) as info:
        grading.hint_quiz1(cos_rowwise=[0.5, 0.5])
    message = str(info.value)
    assert len(message.splitlines()) > 2  # wrapped: a first-line-only summary would cut it
    test.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue=message, traceback=[])]
    cleaned, _ = feedback.HideHiddenTests(secrets=feedback.secret_lines(c.source for c in nb.cells)).preprocess(nb, {})
    source = cleaned.cells[3].source
    verdict = source[:source.index("assert add(1, 2) == 3")]
    shown = " ".join(line.lstrip("#").strip() for line in verdict.splitlines())
    assert shown.startswith("✘ hidden tests of 'q1_test' (2 points): failed AssertionError: [퀴즈 1-a]")
    assert " ".join(message.split()) in " ".join(shown.split())  # the whole message, nothing cut
    assert source.rstrip().endswith("# [hidden tests of 'q1_test': their code is not shown; verdict at the top]")


def test_leak_check_sees_through_syntax_highlighting():
    page = ('<span class="k">assert</span> <span class="n">add</span><span class="p">(</span>'
            '<span class="o">-</span><span class="mi">7</span>, <span class="mi">7</span>) == 0, '
            '&quot;add must work for negative numbers&quot;')
    assert feedback.find_leaks(page, ['assert add(-7, 7) == 0, "add must work for negative numbers"'])
    assert not feedback.find_leaks("<p>AssertionError: add must work for negative numbers</p>",
                                   ['assert add(-7, 7) == 0, "add must work for negative numbers"'])


def _result(student, status, scores):
    grades = [{"notebook": "n", "grade_id": gid, "auto_score": s, "max_score": m, "needs_manual_grade": False}
              for gid, (s, m) in scores.items()]
    cells = {gid: "passed" if s == m else "failed" for gid, (s, m) in scores.items()}
    return {"student": student, "assignment": "a", "status": status, "grades": grades, "cells": cells,
            "reason": "", "notes": [], "flags": []}


def test_reports_group_test_cells_by_quiz():
    pattern = r"(?i)q(?:uiz)?[_\- ]?0*(\d+)"
    assert report.quiz_of("quiz7_3_test", "nb", pattern) == "quiz7"
    assert report.quiz_of("setup", "quiz_02", pattern) == "quiz2"
    results = [_result("a", "graded", {"quiz1a_test": (2, 2), "quiz1b_test": (0, 2), "quiz2_test": (3, 3)}),
               _result("b", "unreadable", {"quiz1a_test": (0, 2), "quiz1b_test": (0, 2), "quiz2_test": (0, 3)})]
    rows = report.csv_text(results, pattern, {}).splitlines()
    results[0]["verdicts"] = {"quiz1a_test": {"how": "grader"}, "quiz1b_test": {"how": "grader"},
                              "quiz2_test": {"how": "kernel"}}
    rows = report.csv_text(results, pattern, {}).splitlines()
    assert rows[0] == "student,student_id,assignment,status,score,max_score,quiz1,quiz2,decided_by,reason,notes,flags"
    assert rows[1].startswith("a,a,a,graded,5,7,2,3,quiz1=grader quiz2=kernel,")
    assert rows[2].startswith("b,b,a,unreadable,0,7,0,0,-,")
    table = report.summary_table(results, pattern)
    quiz1 = next(line for line in table.splitlines() if line.startswith("quiz1"))
    assert quiz1.split()[:5] == ["quiz1", "4", "1.00", "0", "2"]
    assert "2 submissions: 1 graded, 1 unreadable" in table


def test_result_files_are_written_whole(tmp_path):
    from autograder.course import write_json

    write_json(tmp_path / "x" / "r.json", {"a": 1})
    assert json.loads((tmp_path / "x" / "r.json").read_text()) == {"a": 1}
    assert not list((tmp_path / "x").glob("*.tmp"))


def test_a_misnamed_assignment_folder_still_gets_a_row(course, tmp_path):
    good = tmp_path / "submitted" / "erin" / "tiny-quiz"
    good.mkdir(parents=True)
    nbformat.write(tiny_notebook(), good / "my work.ipynb")
    bad = tmp_path / "submitted" / "fay" / "homework"
    bad.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), bad / "scratch.ipynb")
    found = {s.student: s for s in collect.find(tmp_path / "submitted", course)}
    assert found["erin"].assignment == TINY and found["erin"].files == {TINY: good / "my work.ipynb"}
    assert "folder 'tiny-quiz' graded as tiny" in found["erin"].notes
    assert "no folder named after an assignment (found 'homework')" in found["fay"].problem


def test_symbolic_links_in_a_submission_are_never_followed(course, tmp_path):
    secret = tmp_path / "grader-secret.txt"
    secret.write_text("not for students")
    folder = tmp_path / "submitted" / "gil" / TINY
    folder.mkdir(parents=True)
    nbformat.write(tiny_notebook(), folder / f"{TINY}.ipynb")
    (folder / "data.txt").symlink_to(secret)
    (folder / "more").symlink_to(tmp_path)
    flat = tmp_path / "lms"
    flat.mkdir()
    (flat / "hana.ipynb").symlink_to(folder / f"{TINY}.ipynb")
    (sub,) = collect.find(tmp_path / "submitted", course)
    assert sub.extra == [] and "ignored symbolic links: data.txt, more" in sub.notes
    (linked,) = collect.find(flat, course)
    assert linked.problem == "hana.ipynb is a symbolic link, not a file: not graded"


def test_demo_samples_are_generated_from_the_source(course, tmp_path):
    from autograder.samples import write_samples

    out = write_samples(course, tmp_path / "samples")
    read = {p.parts[-3]: nbformat.read(p, as_version=4) for p in out.glob(f"*/{TINY}/{TINY}.ipynb")}
    assert sorted(read) == ["sample-blank", "sample-partial", "sample-solution"]
    answers = {name: [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
               for name, nb in read.items()}
    assert all("NotImplementedError" in a for a in answers["sample-blank"])
    assert "return a + b" in answers["sample-partial"][0]
    assert all("NotImplementedError" in a for a in answers["sample-partial"][1:])
    assert not any("NotImplementedError" in a for a in answers["sample-solution"])


def _ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def test_repair_restores_stripped_metadata_by_content_and_place():
    from autograder import repair
    from autograder_cases import strip_metadata

    source = tiny_notebook()
    nb = strip_metadata(source)
    nb.cells.insert(3, nbformat.v4.new_code_cell("print('my own scratch cell')"))
    notes = repair.repair(nb, source)
    assert [i for i in _ids(nb) if i] == [i for i in _ids(source) if i]
    assert _ids(nb)[3] is None  # the student's own cell stays an ordinary cell
    assert "the nbgrader metadata of answer cell 'q1_answer' was missing: recognised by its place" in notes
    assert "the nbgrader metadata of 'q3_test' was missing (an editor removed it): recognised by its content" in notes


def test_a_test_cell_copied_above_its_answer_leaves_the_grade_with_the_copy_in_its_place():
    """Jupyter copies a cell with its metadata: a student who pasted q1_test at the top to try it first had
    that copy kept as the grade cell (the first one), run before add() existed: 0 of 2 points."""
    from autograder import repair
    from autograder_cases import index_of

    source = tiny_notebook()
    nb = nbformat.from_dict(source)
    pasted = nbformat.from_dict(nb.cells[index_of(nb, "q1_test")])
    pasted["id"] = "pasted1"
    nb.cells.insert(0, pasted)
    nb.cells.insert(index_of(source, "q3_answer") + 1, nbformat.from_dict(pasted))  # and again, further down
    nb.cells[index_of(source, "q3_answer") + 1]["id"] = "pasted2"
    notes = repair.repair(nb, source)
    assert _ids(nb) == [None] + _ids(source)[:6] + [None] + _ids(source)[6:]
    assert notes == ["cell 1 repeats the grade id 'q1_test': graded as an ordinary cell",
                     "cell 8 repeats the grade id 'q1_test': graded as an ordinary cell"]


def test_an_answer_cell_found_by_its_place_is_compared_on_a_bounded_part_of_each_cell(monkeypatch):
    """difflib on whole cells: three 1 MB cells next to a stripped answer cell took 18 s, a notebook of them
    (under the 50 MB cap) many minutes of the grader's time before any kernel started."""
    import difflib

    from autograder import repair
    from autograder_cases import index_of, strip_metadata

    compared = []

    class Recording(difflib.SequenceMatcher):
        def __init__(self, isjunk=None, a="", b="", autojunk=True):
            compared.append(max(len(a), len(b)))
            super().__init__(isjunk, a, b, autojunk)

    monkeypatch.setattr(repair.difflib, "SequenceMatcher", Recording)
    source = tiny_notebook()
    nb = strip_metadata(source)
    answer = nb.cells[index_of(source, "q1_answer")]
    for _ in range(3):
        nb.cells.insert(2, nbformat.v4.new_code_cell("# pasted data\n" + "0.125, " * 150_000))
    repair.repair(nb, source)
    assert answer.metadata.nbgrader["grade_id"] == "q1_answer" and _ids(nb)[2:5] == [None] * 3
    assert compared and max(compared) <= repair.COMPARED


def test_repair_puts_back_deleted_cells_and_drops_unknown_grade_ids():
    from autograder import repair
    from autograder_cases import delete, extra_grade_cell

    source = tiny_notebook()
    nb = extra_grade_cell(delete(delete(source, "q1_answer"), "q1_test"), twin=None)
    notes = repair.repair(nb, source)
    ids = [i for i in _ids(nb) if i]
    assert ids == ["setup", "q1_test", "q2_answer", "q2_test", "q3_answer", "q3_test"]
    assert ids.index("q1_test") < ids.index("q2_answer")  # back where it belongs, not at the end
    assert notes == ["cell 7 has the grade id 'q9_test', which the assignment does not have: graded as an ordinary cell",
                     "answer cell 'q1_answer' was deleted: its test has no answer to check",
                     "grade cell 'q1_test' was deleted (put back from the source)"]
    twin = nbformat.v4.new_code_cell(source.cells[3].source, metadata={"nbgrader": dict(source.cells[3].metadata.nbgrader)})
    nb2 = nbformat.from_dict(source)
    nb2.cells.append(twin)
    nb2.cells[1].metadata["nbgrader"] = "garbage"
    notes = repair.repair(nb2, source)
    assert "cell 2 has broken nbgrader metadata: graded as an ordinary cell" in notes
    assert "cell 9 repeats the grade id 'q1_test': graded as an ordinary cell" in notes


def test_repair_puts_back_edited_nbgrader_settings_and_makes_the_notebook_valid():
    """Each edit below made nbgrader fail on the whole notebook ('Inconsistent checksums', NoResultFound, a
    schema error): every quiz scored 0 with status error. The points a student raises nbgrader resets itself."""
    import copy

    from autograder import repair
    from autograder_cases import edit_settings, index_of
    from nbgrader.nbgraderformat import MetadataValidator

    source = tiny_notebook()
    untouched = copy.deepcopy(source)
    assert repair.repair(untouched, source) == [] and repair.make_valid(untouched, source) == []
    assert untouched == source
    nb = edit_settings(source)
    nb.cells[index_of(nb, "q1_answer")].metadata.nbgrader.update(grade=True, points=50)  # an answer made a test
    nb.cells[index_of(nb, "setup")].metadata.nbgrader["schema_version"] = 99
    nb.cells[index_of(nb, "q3_answer")]["id"] = "not a cell id"
    nb.cells[0].cell_type = "heading"  # nbformat 3's, in a version 4 file
    nb.metadata["kernelspec"] = "python3"
    notes = repair.repair(nb, source) + repair.make_valid(nb, source)
    for cell, original in zip(nb.cells, source.cells):
        assert cell.cell_type == original.cell_type and cell.source == original.source
        assert cell.metadata.get("nbgrader") == original.metadata.get("nbgrader")
    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)
    assert nb.metadata == {"kernelspec": source.metadata.kernelspec}
    assert notes == [
        "cell 2 ('setup') had its nbgrader settings edited (schema_version 99 (should be 3)): put back as the "
        "assignment has them",
        "cell 3 ('q1_answer') had its nbgrader settings edited (grade True (should be False)): put back as the "
        "assignment has them",
        "cell 4 ('q1_test') had its nbgrader settings edited (points 100 (should be 2)): put back as the "
        "assignment has them",
        "cell 6 ('q2_test') had its nbgrader settings edited (locked missing): put back as the assignment has them",
        "cell 8 ('q3_test') had its nbgrader settings edited (solution True (should be False)): put back as the "
        "assignment has them",
        "cell 1 was not valid in the notebook format (unknown cell type 'heading'): rebuilt from its markdown source",
        "cell 5 was not valid in the notebook format (metadata.tags: 'mine' is not of type 'array'): rebuilt from "
        "its code source and nbgrader metadata",
        "cell 7 was not valid in the notebook format (id: 'not a cell id' does not match '^[a-zA-Z0-9-_]+$'): "
        "rebuilt from its code source and nbgrader metadata",
        "the notebook's metadata field 'kernelspec' was not valid (metadata.kernelspec: 'python3' is not of type "
        "'object'): the assignment's was used",
        "the notebook's metadata field 'authors' was not valid (metadata.authors: 'Kim' is not of type 'array'): "
        "left out",
    ]


def test_a_notebook_without_metadata_fields_is_read_and_a_hidden_marker_in_markdown_is_no_error(tmp_path):
    raw = json.loads(nbformat.writes(tiny_notebook()))
    del raw["metadata"], raw["cells"][2]["metadata"]  # hand-made or converted files leave them out
    (tmp_path / "alice.ipynb").write_text(json.dumps(raw))
    nb, problem = collect.read_notebook(tmp_path / "alice.ipynb")
    assert problem == "" and nb.metadata == {} and nb.cells[2].metadata == {}
    assert nb.cells[2].source == tiny_notebook().cells[2].source
    note = nbformat.v4.new_markdown_cell("I wrote ### BEGIN HIDDEN TESTS here")  # the feedback failed on it
    cleaned, _ = feedback.HideHiddenTests(secrets=[]).preprocess(nbformat.v4.new_notebook(cells=[note]), {})
    assert "BEGIN HIDDEN" not in cleaned.cells[0].source and "outputs" not in cleaned.cells[0]


def test_an_unreadable_timestamp_and_nbgraders_real_cause_are_named():
    from autograder import repair
    from autograder.job import failure_cause

    assert repair.check_timestamp("2026-11-30 09:15:00.123456 UTC") == ""
    assert repair.check_timestamp("sometime on tuesday").startswith("ParserError")
    logged = ["There was an error processing assignment", "Traceback (most recent call last):\n  File \"x.py\", "
              "line 1, in f\n    add()\nKeyError: 'q1_answer'\n\nDuring handling of the above exception, another "
              "exception occurred:\n\nTraceback (most recent call last):\nAttributeError: no 'fail'",
              "Please see the the above traceback"]
    assert failure_cause(logged) == "KeyError: 'q1_answer'"


def test_resume_key_changes_with_what_kernels_see_not_with_the_number_of_jobs(course):
    from autograder.course import Settings
    from autograder.preflight import sandbox_key

    base = sandbox_key(course, Settings(jobs=1), None, 1)
    assert sandbox_key(course, Settings(jobs=2), None, 2) == base
    assert sandbox_key(course, Settings(jobs=1, memory_mb=1000), None, 1) != base
    assert sandbox_key(course, Settings(jobs=1, sandbox=False), None, 1) != base
    assert sandbox_key(course, Settings(jobs=1, extra_readonly=("/opt",)), None, 1) != base
    assert sandbox_key(course, Settings(jobs=1), "/models/other", 1) != base


@pytest.mark.parametrize("cores, ram_gb, memory_mb, jobs", [
    (2, 24, 6144, 2),     # this VM: RAM holds 3, the cores decide
    (8, 16, 6144, 2),     # the README's memory math: 16 GB -> 2, 32 GB -> 4, 64 GB -> 9 at the default cap
    (8, 32, 6144, 4),
    (16, 64, 6144, 9),
    (16, 32, 2560, 10),   # the course model's cap: (32 - 1) GB / 3.1 GB
    (8, 4, 6144, 1),      # too little RAM for even one job at the cap: still 1
    (0, 64, 6144, 1),     # os.cpu_count() unknown
    (8, None, 6144, 8),   # RAM unknown (no /proc/meminfo): the cores decide
])
def test_default_jobs_are_cores_but_no_more_than_ram_holds(cores, ram_gb, memory_mb, jobs):
    from autograder.course import default_jobs

    got, why = default_jobs(cores, ram_gb and ram_gb * 1024, memory_mb)
    assert got == jobs
    assert why.startswith(f"{max(1, cores)} cores, ") and ("RAM unknown" if ram_gb is None else "GB per job" in why)


def test_jobs_default_reads_memtotal_and_an_explicit_jobs_wins(tmp_path, monkeypatch):
    from autograder import course as course_module
    from autograder.course import Settings, jobs_for, ram_mb

    total_kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal:")).split()[1])
    assert abs(ram_mb() - total_kb // 1024) <= 1
    monkeypatch.setattr(course_module.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(course_module, "ram_mb", lambda: 16 * 1024)
    assert jobs_for(Settings()) == (2, "8 cores, 16.0 GB RAM / 6.6 GB per job")
    jobs, why = jobs_for(Settings(jobs=6))
    assert jobs == 6 and why.startswith("as given (the default here: 2, ")
    monkeypatch.setattr(course_module, "ram_mb", lambda: None)
    assert jobs_for(Settings()) == (8, "8 cores, RAM unknown")


def test_fork_server_runs_each_job_as_python_m_would(tmp_path):
    """grade.py forks each submission's job from one process that imported nbgrader and torch once: the job
    must still get exactly its own environment, folder, arguments, output file and session, end with its own
    exit code, be killable with its process group, and die when the server is closed."""
    import signal
    import subprocess
    import textwrap
    from pathlib import Path

    from autograder.forkserver import ForkServer

    (tmp_path / "probe_job.py").write_text(textwrap.dedent("""
        import json, os, sys, time
        if sys.argv[1] == "sleep":
            time.sleep(600)
        print(json.dumps({"cwd": os.getcwd(), "argv": sys.argv[1:], "mine": os.environ.get("JOB_ONLY"),
                          "servers": os.environ.get("SERVER_ONLY"), "own_session": os.getsid(0) == os.getpid(),
                          "path0": sys.path[0], "name": __name__, "preloaded": "tomllib" in sys.modules}))
        sys.exit(int(sys.argv[1]))
    """))
    root = str(Path(__file__).resolve().parents[1])
    server = ForkServer(dict(os.environ, SERVER_ONLY="1", PYTHONPATH=root), preload=("tomllib",))
    job_env = dict(os.environ, JOB_ONLY="yes", PYTHONPATH=root)
    try:
        assert server.ready()
        job = server.start("probe_job", ["3"], cwd=tmp_path, env=job_env, output=tmp_path / "out.txt")
        assert job.wait(timeout=120) == 3 and job.returncode == 3
        assert json.loads((tmp_path / "out.txt").read_text()) == {
            "cwd": str(tmp_path), "argv": ["3"], "mine": "yes", "servers": None, "own_session": True,
            "path0": str(tmp_path), "name": "__main__", "preloaded": True}
        sleeper = server.start("probe_job", ["sleep"], cwd=tmp_path, env=job_env, output=tmp_path / "sleep.txt")
        with pytest.raises(subprocess.TimeoutExpired):
            sleeper.wait(timeout=0.5)
        os.killpg(sleeper.pid, signal.SIGKILL)  # what grade.py does at the hard time limit
        assert sleeper.wait(timeout=60) == -signal.SIGKILL
        left = server.start("probe_job", ["sleep"], cwd=tmp_path, env=job_env, output=tmp_path / "left.txt")
    finally:
        server.close()
    assert left.wait(timeout=60) is None and not Path(f"/proc/{left.pid}").exists()  # closing ends its jobs


def test_quiz6_grading_inputs_are_drawn_from_the_graders_secret(tmp_path):
    """With the grader's seed, quiz 6's inputs differ per seed (nobody can tabulate them in advance) and
    each still has one right answer: the cosine Top-1, never the dot product's."""
    from types import SimpleNamespace

    import numpy as np

    from clipcourse import grading

    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(40, 16))
    refs = SimpleNamespace(gallery=gallery, gallery_names=[f"g{i:02d}.png" for i in range(40)],
                           quiz5=rng.normal(size=(1, 16)), quiz6_scores=lambda: np.ones(40))
    saved = dict(grading._STATE)
    try:
        drawn = []
        for seed in ("a1", "b2", None):
            grading._STATE.clear()
            grading._STATE.update(data_dir=tmp_path, probe_seed=seed)
            probes = grading._quiz6_probes(refs)[1:]
            drawn.append([(sorted(accepted), names[0]) for _, _, names, accepted in probes])
            for query, images, names, accepted in probes:
                images, query = np.asarray(images), np.asarray(query)[0]
                cosine = images @ query / np.linalg.norm(images, axis=1) / np.linalg.norm(query)
                assert {names[int(np.argmax(cosine))]} == accepted
                assert names[int(np.argmax(images @ query))] not in accepted
        assert drawn[0] != drawn[1] and drawn[0] != drawn[2]
    finally:
        grading._STATE.clear()
        grading._STATE.update(saved)


def test_kernels_need_the_course_readable_not_the_reference_answers(course):
    """The reference answers are never in a kernel's view (sandbox_spec), so they may stay root-only."""
    from autograder.course import CourseError
    from autograder.grade import _check_readable

    references = course.out / ".references"
    references.mkdir(parents=True)
    (references / "quiz2.json").write_text("{}")
    os.chmod(references / "quiz2.json", 0o600)
    _check_readable(course)
    (course.root / "clipcourse").mkdir()
    (course.root / "clipcourse" / "__init__.py").write_text("")
    os.chmod(course.root / "clipcourse" / "__init__.py", 0o600)
    with pytest.raises(CourseError, match=r"cannot read: .*clipcourse/__init__.py .*chmod a\+r"):
        _check_readable(course)


def test_the_guards_reply_is_parsed_only_when_the_guard_could_have_written_it():
    import json
    import time

    from autograder.execute import GUARD_REPLY_MAX, guard_report

    honest = json.dumps({"nonce": "abc", "findings": ["np.allclose"], "more": 0, "threads": 0})
    assert guard_report(repr(honest), "abc")["findings"] == ["np.allclose"]
    for reply in (repr(honest.replace("abc", "xyz")), "[" * 100_000, "{'nonce': 'abc'}", None):
        with pytest.raises((ValueError, SyntaxError, MemoryError, RecursionError)):
            guard_report(reply, "abc")
    started = time.monotonic()
    with pytest.raises(ValueError, match="size"):
        guard_report("(" * (GUARD_REPLY_MAX + 1), "abc")  # refused before literal_eval sees it
    assert time.monotonic() - started < 0.1


def test_course_folders_are_nbgraders_as_the_course_configures_them(course):
    assert (course.submitted, course.autograded) == (course.root / "submitted", course.root / "autograded")
    with open(course.root / "nbgrader_config.py", "a") as config:
        config.write('c.CourseDirectory.submitted_directory = "collected"\nc.CourseDirectory.feedback_directory = "fb"\n')
    again = Course(course.root)
    assert (again.submitted, again.feedback, again.course_id) == (course.root / "collected", course.root / "fb", "tiny")
