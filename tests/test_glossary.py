"""The Korean edition speaks with one voice (issue 31): no wrong variant of the glossary appears anywhere.

The list of wrong variants lives in one place, the table in section 5 of notebooks/GLOSSARY.md: each row is a
regular expression, an example it must catch and the right form it must not. Every line with Hangul is checked:
the markdown of the Korean lecture notebooks and of the quiz notebooks (source/ and release/, code blocks and
inline code left out), their code cells (Korean comments and strings), the grader's Korean messages and the
Korean README. A finding names the file and the cell (or line), the variant and the right form.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "notebooks" / "GLOSSARY.md"
HANGUL = re.compile("[가-힣]")
SECTION = "## 5."
# What the glossary must cover at least: the variants issue 31 names.
ISSUE_31 = ["고양이 사진", "돌려줍니다", "묶음(batch)", "계산하시오.", "진행 막대", "도우미 함수", "부를 때마다",
            "더 크게 벌을 받습니다", "이것이 logits.", "CLIP로 배우는", "logit scale과 softmax", "이미지 임베딩 하기"]


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern
    wrong: str
    right: str
    why: str


def _cells(row):
    """A markdown table row's cells; ``\\|`` is a literal bar (as GitHub's tables want it inside code)."""
    cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]
    return [cell[1:-1] if len(cell) > 1 and cell.startswith("`") and cell.endswith("`") else cell for cell in cells]


def rules(text=None):
    """The rows of the glossary's section 5, in order."""
    text = GLOSSARY.read_text(encoding="utf-8") if text is None else text
    start = text.find(f"\n{SECTION}")
    assert start >= 0, f"{GLOSSARY.relative_to(ROOT)} has no section starting with {SECTION!r} (the wrong variants)"
    section = text[start + 1:]
    end = section.find("\n## ", 1)
    found = []
    for row in (section if end < 0 else section[:end]).splitlines():
        if not row.startswith("|") or re.fullmatch(r"[\s|:-]+", row):
            continue
        cells = _cells(row)
        if cells[0] == "패턴":  # the header
            continue
        assert len(cells) == 4, f"{GLOSSARY.name} §5: a row needs 4 cells (pattern, wrong, right, why): {row!r}"
        try:
            pattern = re.compile(cells[0])
        except re.error as error:
            raise AssertionError(f"{GLOSSARY.name} §5: {cells[0]!r} is not a regular expression ({error})") from None
        found.append(Rule(pattern, *cells[1:]))
    return found


def prose(markdown):
    """Markdown without its code: fenced blocks and inline code become a blank (they are code, not prose)."""
    markdown = re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), markdown, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", " ", markdown)


def korean_lines(path):
    """(where, line) for each line with Hangul: a notebook's cells (markdown as prose), or a file's lines."""
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    if path.suffix == ".ipynb":
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            text = prose(cell.source) if cell.cell_type == "markdown" else cell.source
            where = f"{name} cell {index} ({cell.cell_type}, id {cell.get('id', '?')})"
            yield from ((where, line) for line in text.splitlines() if HANGUL.search(line))
    else:
        text = path.read_text(encoding="utf-8")
        lines = (prose(text) if path.suffix == ".md" else text).splitlines()
        yield from ((f"{name}:{number}", line) for number, line in enumerate(lines, start=1) if HANGUL.search(line))


GROUPS = {  # every Korean text of the course, by kind; each kind must exist
    "lecture notebooks": "notebooks/0*.ipynb",
    "quiz notebooks (instructor)": "source/*/*.ipynb",
    "quiz notebooks (student release)": "release/*/*.ipynb",
    "grader messages": "clipcourse/grading.py",
    "notebook messages": "clipcourse/realclip.py",
    "class grader messages": "autograder/*.py",
    "Korean README": "README.ko.md",
    "README title": "README.md",
}


def korean_files():
    return sorted({path for pattern in GROUPS.values() for path in ROOT.glob(pattern)})


def findings(path, checked=None):
    """Each wrong variant in ``path``, as a line that says where, what and what to write instead."""
    found = []
    for where, line in korean_lines(path):
        for rule in checked or rules():
            for match in rule.pattern.finditer(line):
                found.append(f"{where}: {match.group(0)!r} in {line.strip()[:120]!r} -> e.g. {rule.right!r} ({rule.why})")
    return found


# ---- the glossary itself ---------------------------------------------------------------------------------
def test_the_glossary_lists_the_variants_issue_31_names():
    listed = rules()
    assert len(listed) >= 20, f"{GLOSSARY.name} §5 lists only {len(listed)} rules"
    missing = [example for example in ISSUE_31 if not any(rule.pattern.search(example) for rule in listed)]
    assert not missing, f"{GLOSSARY.name} §5: no rule catches {missing}"


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule.wrong)
def test_each_rule_catches_its_wrong_example_and_spares_the_right_one(rule):
    """A rule that misses its own example checks nothing; one that hits the right form cannot be obeyed."""
    assert rule.pattern.search(rule.wrong), f"{GLOSSARY.name} §5: {rule.pattern.pattern!r} misses its example {rule.wrong!r}"
    assert not rule.pattern.search(rule.right), \
        f"{GLOSSARY.name} §5: {rule.pattern.pattern!r} also catches the right form {rule.right!r}"


@pytest.mark.parametrize("kind", sorted(GROUPS))
def test_every_kind_of_korean_text_is_there_to_check(kind):
    paths = list(ROOT.glob(GROUPS[kind]))
    assert paths and any(True for path in paths for _ in korean_lines(path)), \
        f"{kind} ({GROUPS[kind]}): no file with Korean text; the glossary test would check nothing there"


# ---- the course's Korean text ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", korean_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_wrong_variant_in_the_korean_text(path):
    found = findings(path)
    assert not found, (f"{len(found)} wrong variant(s); notebooks/GLOSSARY.md §5 gives the right form "
                       "(for release/, fix source/ and regenerate: make release):\n" + "\n".join(found))


# ---- the checker finds what it must, and only there ------------------------------------------------------
def test_the_checker_names_the_file_and_cell_and_skips_code_and_english(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 제목\n\n`topk`는 값과 위치를 함께 돌려줍니다."),
        nbformat.v4.new_markdown_cell("`logits_per_image`와 로짓(logits)\n\n```python\nx = f(y)  # 돌려줍니다: code\n```"),
        nbformat.v4.new_code_cell("x = 1  # 묶음으로 나누어 / in batches\ny = 'logits'  # English only: not checked"),
        nbformat.v4.new_markdown_cell("*Each run prints the logits.* English lines are not checked"),
    ])
    path = tmp_path / "planted.ipynb"
    nbformat.write(nb, path)
    found = findings(path)
    assert len(found) == 2, found
    assert found[0].startswith(f"{path} cell 0 (markdown, id ") and "'돌려줍' in" in found[0] and "반환" in found[0]
    assert found[1].startswith(f"{path} cell 2 (code, id ") and "'묶음'" in found[1] and "배치" in found[1]


def test_a_python_file_is_named_by_line(tmp_path):
    path = tmp_path / "messages.py"
    path.write_text('ok = "반환합니다"\nbad = "결과를 계산하시오."\n', encoding="utf-8")
    assert [line.split(": ")[0] for line in findings(path)] == [f"{path}:2"]
