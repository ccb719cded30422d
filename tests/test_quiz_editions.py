"""The English edition of the quizzes (source/<quiz>/en/, released as release/<quiz>/en/; issue 30, DESIGN.md §7).

As with the lecture notebooks (test_english_edition.py), the code is written once: each English quiz has the Korean
one's cells in the same order, with the same nbgrader settings (grade ids, points, read-only, answer and test
cells), the same solutions and, word for word, the same hidden tests, so the same hidden tests grade both. What
differs is the prose, the comments and docstrings, the wording of what the code says to the student (the visible
tests' messages, printed labels), and the setup cell's
`grading.setup("<quiz>", "en")`, which makes the checks speak English only. That the committed release/<quiz>/en/
is what nbgrader makes of source/<quiz>/en/ is test_quizzes_nbgrader.py's drift test (it compares all of release/).
"""
import io
import re
import tokenize

import nbformat
import pytest

import quizcourse as qc
from autograder import edition, feedback
from test_english_edition import dictionary, misspelled  # noqa: F401 (dictionary: a fixture)

HANGUL = re.compile("[\uac00-\ud7a3]")
#: Code that mentions Hangul on purpose: the visible tests notice a query written in Korean.
KOREAN_DETECTOR = 're.search("[가-힣]"'


def both(assignment):
    return (qc.read(qc.notebook_path(qc.ROOT / "source", assignment)),
            qc.read(qc.notebook_path(qc.ROOT / "source", assignment, "en")))


def _nbgrader(cell):
    return cell.metadata.get("nbgrader")


def _strings_as_one(source):
    """(token type, text) of ``source`` without comments; a run of adjacent string literals (one message,
    however many lines it is written on) is one ``<text>`` when any of them is prose (a space, a line break,
    Hangul), so the editions may word their messages differently; other strings (names, file names) stay."""
    out, run = [], []

    def flush():
        if run:
            prose = any(" " in s or "\\n" in s or HANGUL.search(s) for s in run)
            out.extend(["<text>"] if prose else run)
            run.clear()

    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    depth = 0
    for token in tokens:
        kind = tokenize.tok_name[token.type]
        if kind in ("COMMENT", "NL"):
            continue
        if kind == "FSTRING_START":  # Python 3.12+: an f-string is several tokens
            depth += 1
            run.append(token.string)
            continue
        if depth:
            run[-1] += token.string
            depth -= kind == "FSTRING_END"
            continue
        if kind == "STRING":
            run.append(token.string)
            continue
        flush()
        out.append(token.string)
    flush()
    return out


def shared_code(cell):
    """What the two editions of a code cell share: its code without comments, docstrings and the wording of
    what it says to the student (test messages, printed labels); the setup cell without its language. The
    hidden tests and the solutions are compared whole, apart."""
    source = "\n".join(feedback.split_hidden(cell.source)[0])
    return _strings_as_one(re.sub(r'(grading\.setup\("\w+"), "en"\)', r"\1)", source))


def test_shared_code_ignores_message_wording_but_not_code():
    ko = 'assert x == 1, (\n    "x는 1이어야 합니다.\\n"\n    f"x must be 1, not {x}.")\n'
    en = 'assert x == 1, (\n    f"x must be 1, not {x}.")\n'
    test = nbformat.v4.new_code_cell(ko, metadata={"nbgrader": {"grade": True}})
    assert shared_code(test) == shared_code(nbformat.v4.new_code_cell(en, metadata=test.metadata))
    for changed in ('assert x == 2, (\n    f"x must be 1, not {x}.")\n', 'assert "x" in globals(), "x?"\n'):
        assert shared_code(test) != shared_code(nbformat.v4.new_code_cell(changed, metadata=test.metadata))
    setup = nbformat.v4.new_code_cell('grading.setup("quiz_cosine", "en")')
    assert shared_code(setup) == shared_code(nbformat.v4.new_code_cell('grading.setup("quiz_cosine")'))
    assert shared_code(setup) != shared_code(nbformat.v4.new_code_cell('grading.setup("quiz_topk", "en")'))


@pytest.mark.parametrize("assignment", qc.ASSIGNMENTS)
def test_every_quiz_has_an_english_edition_marked_as_such(assignment):
    path = qc.notebook_path(qc.ROOT / "source", assignment, "en")
    assert path.is_file(), f"{path.relative_to(qc.ROOT)} is missing: every quiz has an English edition"
    ko, en = both(assignment)
    assert edition.language_of(en) == "en" and edition.language_of(ko) == "ko"
    setup = [c.source for c in en.cells if "grading.setup(" in c.source]
    assert setup and all(f'grading.setup("{assignment}", "en")' in s for s in setup), \
        "the English edition's setup cell says grading.setup(<quiz>, \"en\"): its checks then speak English"


@pytest.mark.parametrize("assignment", qc.ASSIGNMENTS)
def test_same_cells_settings_solutions_and_hidden_tests(assignment):
    ko, en = both(assignment)
    assert [c.cell_type for c in ko.cells] == [c.cell_type for c in en.cells], \
        f"source/{assignment}/en/: the cells must follow the Korean edition's, one for one"
    for number, (k, e) in enumerate(zip(ko.cells, en.cells), start=1):
        where = f"{assignment} cell {number} ({(_nbgrader(k) or {}).get('grade_id', k.cell_type)})"
        assert _nbgrader(k) == _nbgrader(e), f"{where}: nbgrader settings differ between the editions"
        if k.cell_type != "code":
            continue
        assert feedback.split_hidden(k.source)[1] == feedback.split_hidden(e.source)[1], \
            f"{where}: the hidden tests must be the same, word for word, in both editions"
        if (_nbgrader(k) or {}).get("solution"):
            solution = [qc.solution_regions_of(nb).get(_nbgrader(k)["grade_id"]) for nb in (ko, en)]
            assert solution[0] == solution[1], f"{where}: the solutions differ"
        assert shared_code(k) == shared_code(e), \
            (f"{where}: the code differs between the editions (only prose, comments, docstrings and the wording "
             f"of test messages may):\n--- ko\n{k.source}\n--- en\n{e.source}")


@pytest.mark.parametrize("assignment", qc.ASSIGNMENTS)
def test_the_english_edition_has_no_korean(assignment):
    _, en = both(assignment)
    for cell in en.cells:
        text = cell.source.replace(KOREAN_DETECTOR, "")
        assert not HANGUL.search(text), f"source/{assignment}/en/: Korean left in {cell.cell_type} cell {text[:300]!r}"


@pytest.mark.parametrize("assignment", qc.ASSIGNMENTS)
def test_the_english_markdown_is_spelled_right(assignment, dictionary):  # noqa: F811
    _, en = both(assignment)
    text = "\n".join(c.source for c in en.cells if c.cell_type == "markdown")
    unknown = misspelled(text, dictionary) - {"gallery's", "MRR", "Recall", "normalise", "colour"}
    assert not unknown, f"source/{assignment}/en/: words not in the dictionary: {sorted(unknown)}"


def test_a_notebook_is_graded_as_the_edition_it_is():
    ko, en = both("quiz_cosine")
    folder = qc.ROOT / "source" / "quiz_cosine"

    def read(path):
        return qc.read(path) if path.is_file() else None

    assert edition.edition(en, folder, "quiz_cosine", read)[0] == "en"
    assert edition.edition(ko, folder, "quiz_cosine", read)[0] == "ko"
    stripped = nbformat.from_dict(en)
    stripped.metadata = {}  # an editor dropped the notebook's metadata: its read-only cells still tell
    assert edition.edition(stripped, folder, "quiz_cosine", read)[0] == "en"
    assert edition.in_language("한국어 줄\nAn English line", "en") == "An English line"
    assert edition.in_language("한국어 줄\nAn English line", "ko") == "한국어 줄\nAn English line"
