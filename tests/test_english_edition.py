"""The English edition of the lecture notebooks (notebooks/en/, DESIGN.md §7).

Its code cells are the Korean edition's, cell for cell, so the code is written once: only the prose, the comments
and the docstrings differ (English there, DESIGN.md §7; compared token by token without them).
Each English notebook runs once here as a smoke test (the code is the Korean edition's, whose behaviour
test_notebooks.py checks in detail); its markdown is spell-checked against Debian's wamerican word list.
"""
import difflib
import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

from clipcourse.notebooks import execute
from test_notebooks import LECTURES, NOTEBOOKS, all_text, check_comparisons, code_cells, stderr

ENGLISH = NOTEBOOKS / "en"
DICTIONARY = Path("/usr/share/dict/american-english")   # Debian: apt-get install wamerican
# Words the dictionary lacks: names, technical terms, and a few of the course's own words.
ALLOWED = {
    "numpy", "pytorch", "torchvision", "pil", "softmax", "logit", "logits", "infonce", "adamw", "argmax", "topk",
    "embeddings", "multimodal", "modality", "modalities", "pretraining", "contrastive", "entropies", "resizes",
    "tokenizer",
}
CLEAR = [
    (r"```.*?```", " "),               # code blocks
    (r"`[^`]*`", " "),                 # inline code: names, file names, values
    (r"\$\$.*?\$\$|\$[^$]*\$", " "),   # formulas
    (r"https?://\S+", " "),
]


def english(name):
    return nbformat.read(ENGLISH / name, as_version=4)


def korean(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name", sorted(LECTURES.values()))
def test_every_lecture_notebook_has_an_english_edition(name):
    assert (ENGLISH / name).is_file(), f"notebooks/en/{name} is missing: each Korean lecture notebook has an English edition"


def code_only(source):
    """A code cell's tokens without its comments and docstrings (a string that is a statement of its own), one
    logical line per item: the code both editions share."""
    lines, line, previous = [], [], tokenize.NEWLINE
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
              if t.type not in (tokenize.COMMENT, tokenize.NL)]
    for i, token in enumerate(tokens):
        follows = tokens[i + 1].type if i + 1 < len(tokens) else tokenize.ENDMARKER
        docstring = token.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT) \
            and follows in (tokenize.NEWLINE, tokenize.ENDMARKER)
        previous = token.type
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if line:
                lines.append(" ".join(line))
            line = []
        elif token.type == tokenize.INDENT:
            line.append("<indent>")
        elif token.type == tokenize.DEDENT:
            line.append("<dedent>")
        else:
            line.append("<docstring>" if docstring else token.string)
    return lines


def test_code_only_drops_comments_and_docstrings_but_not_code():
    ko = 'def f(x):\n    """두 배 / twice."""\n    return 2 * x  # 두 배 / twice\n'
    assert code_only(ko) == code_only('def f(x):\n    """Twice."""\n    return 2 * x  # twice\n')
    assert code_only(ko) != code_only('def f(x):\n    """Twice."""\n    return 3 * x\n')
    assert code_only('print("검색")') != code_only('print("search")')  # a printed string is code


@pytest.mark.parametrize("name", sorted(LECTURES.values()))
def test_code_cells_are_the_korean_editions_apart_from_comments(name):
    ko, en = code_cells(korean(name)), code_cells(english(name))
    assert len(ko) == len(en), (f"notebooks/{name} has {len(ko)} code cells, notebooks/en/{name} has {len(en)}: "
                                "the editions share their code; add or remove the cell in both")
    for number, (ko_cell, en_cell) in enumerate(zip(ko, en), start=1):
        if code_only(ko_cell.source) != code_only(en_cell.source):
            diff = "\n".join(difflib.unified_diff(ko_cell.source.splitlines(), en_cell.source.splitlines(),
                                                  f"notebooks/{name}", f"notebooks/en/{name}", lineterm=""))
            pytest.fail(f"code cell {number} of {name} differs between the editions; the code is written once, so make "
                        f"the same change in both (only markdown, comments and docstrings may differ):\n{diff}")




@pytest.mark.parametrize("name", sorted(LECTURES.values()))
def test_the_english_code_comments_are_english(name):
    # the comment part of each line; Korean strings that are data (notebook 05's Korean queries) are code
    korean_lines = [line.strip() for cell in code_cells(english(name)) for line in cell.source.splitlines()
                    if "#" in line and re.search("[\uac00-\ud7a3]", line.split("#", 1)[1])]
    assert not korean_lines, f"notebooks/en/{name}: Korean in code cells (comments there are English): {korean_lines}"


@pytest.mark.parametrize("name", sorted(LECTURES.values()))
def test_same_sections_in_the_same_places(name):
    ko, en = korean(name), english(name)
    assert [c.cell_type for c in ko.cells] == [c.cell_type for c in en.cells], \
        f"notebooks/en/{name}: markdown and code cells must alternate exactly as in the Korean edition"
    for ko_cell, en_cell in zip(ko.cells, en.cells):
        if ko_cell.cell_type == "markdown":
            levels = [re.findall(r"^#+ ", c.source, re.M) for c in (ko_cell, en_cell)]
            assert levels[0] == levels[1], f"notebooks/en/{name}: headings differ from the Korean cell {ko_cell.source[:60]!r}"


@pytest.mark.parametrize("name", sorted(LECTURES.values()))
def test_the_english_prose_has_no_korean(name):
    korean_cells = [c.source[:60] for c in english(name).cells
                    if c.cell_type == "markdown" and re.search("[\uac00-\ud7a3]", c.source)]
    assert not korean_cells, f"notebooks/en/{name}: Korean left in markdown cells {korean_cells}"
    last = english(name).cells[-1]
    assert last.cell_type == "markdown" and "Summary" in last.source and "Quiz" in last.source


def words_of(text):
    text = text.replace("**", "")   # **C**ontrastive: bold letters inside a word
    for pattern, replacement in CLEAR:
        text = re.sub(pattern, replacement, text, flags=re.S)
    return re.findall(r"[A-Za-z]+(?:'[a-z]+)?", text)


@pytest.fixture(scope="module")
def dictionary():
    if not DICTIONARY.is_file():
        pytest.skip(f"{DICTIONARY} is missing: install Debian's wamerican (apt-get install wamerican) to spell-check")
    return {line.strip().lower() for line in DICTIONARY.read_text(encoding="utf-8", errors="replace").splitlines()}


def misspelled(text, dictionary):
    unknown = set()
    for word in words_of(text):
        lower = word.lower()
        if lower in dictionary or lower in ALLOWED or len(word) == 1 or word.isupper():
            continue  # single letters (N, D, i, j) and acronyms (CLIP, CPU) are fine
        if lower.endswith("'s") and lower[:-2] in dictionary | ALLOWED:
            continue
        unknown.add(word)
    return unknown


@pytest.mark.parametrize("name", sorted(LECTURES.values()))
def test_the_english_markdown_is_spelled_right(name, dictionary):
    text = "\n".join(c.source for c in english(name).cells if c.cell_type == "markdown")
    unknown = misspelled(text, dictionary)
    assert not unknown, (f"notebooks/en/{name}: words not in {DICTIONARY.name} nor the allow-list: {sorted(unknown)}; "
                         "fix the spelling, or add a technical term to ALLOWED in tests/test_english_edition.py")


def test_the_spell_check_catches_a_misspelling(dictionary):
    assert misspelled("The simlarity of `this_is_code` and $x$ is cosine.", dictionary) == {"simlarity"}


@pytest.mark.parametrize("key", sorted(LECTURES))
def test_english_notebook_runs_top_to_bottom_and_speaks_english(key):
    nb = execute(ENGLISH / LECTURES[key])
    assert all(cell.execution_count is not None for cell in code_cells(nb))
    assert "CLIP model:" in all_text(nb)
    assert not re.search("[\uac00-\ud7a3]", all_text(nb)), "printed output in the English edition must be English"
    assert not [cell for cell in code_cells(nb) if re.search(r"slow image processor|Glyph", stderr(cell))]
    if key != "04":
        assert check_comparisons(nb, language="en"), "the comparison with the real CLIP must print in English"
