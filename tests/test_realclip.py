"""The notebooks' note after each CLIP example: agreement or a plain ✘ per answer that differs from the real CLIP's."""
import pytest

from clipcourse import realclip
from clipcourse.models import REAL_MODEL
from clipcourse.paths import OFFLINE_MODEL_DIR

CAT = {"cat.jpg": "A cat"}


def test_the_course_clip_is_named_as_such_when_it_differs(capsys):
    realclip.compare(OFFLINE_MODEL_DIR, {"cat.jpg": "A nuclear submarine"}, CAT, language="ko")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "강좌용 CLIP은 여기서 실제 CLIP과 다른 답을 냈습니다 (✘):"
    assert printed[1] == "  ✘ cat.jpg -> 'A nuclear submarine'   (실제 CLIP: 'A cat')"


def test_agreement_is_said_too_and_nothing_is_marked_wrong(capsys):
    realclip.compare(str(OFFLINE_MODEL_DIR), {"cat.jpg": "A cat"}, CAT, language="en")
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "The course CLIP gave the same answer as the real CLIP here."
    assert "✘" not in printed and "  ✔ cat.jpg -> 'A cat'" in printed


def test_several_questions_mark_only_the_ones_that_differ(capsys):
    real = {"a bird": "bird", "a house": "house"}
    assert realclip.differing({"a bird": "bird", "a house": "tree"}, real) == ["a house"]
    realclip.compare("some/model", {"a bird": "bird", "a house": "tree"}, real, language="en")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "The model in use (some/model) answered differently from the real CLIP here (✘):"
    assert lines[1:] == ["  ✔ 'a bird' -> bird", "  ✘ 'a house' -> tree   (real CLIP: house)"]


def test_the_real_clip_is_compared_with_what_the_notebook_says(capsys):
    realclip.compare(REAL_MODEL, {"cat.jpg": "A dog"}, CAT, language="ko")
    assert capsys.readouterr().out.startswith("실제 CLIP은 여기서 이 노트북의 설명과 다른 답을 냈습니다")
    snapshot = "/home/x/.cache/huggingface/hub/models--openai--clip-vit-base-patch32/snapshots/abc"
    assert realclip.which(snapshot) == "real"


def test_a_missing_answer_is_named():
    with pytest.raises(KeyError, match="cat.jpg"):
        realclip.compare(OFFLINE_MODEL_DIR, {}, CAT)


def test_the_language_follows_the_notebook_folder(tmp_path):
    assert realclip.edition(tmp_path / "notebooks" / "en") == "en"
    assert realclip.edition(tmp_path / "notebooks") == "ko"
