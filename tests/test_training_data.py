"""The rules for the course CLIP's icon training data (model/icons.py): licences, no emoji, no faces
or brands, clean captions, and no copy of a course image. Runs on small fake icon sets: no npm."""
import json
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from clipcourse.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "model"))
import icons  # noqa: E402

WORDS = {"dog", "sitting", "on", "leash", "bee", "tree", "trees", "happy", "cat", "wearing", "collar"}


def test_pinned_sets_are_permissive_and_not_emoji():
    banned = ("noto", "twemoji", "openmoji", "fluent-emoji", "emojione", "fxemoji", "streamline-emojis")
    for name, (version, licence, credit) in icons.SETS.items():
        assert licence in icons.ALLOWED, name
        assert not name.startswith(banned) and not name.endswith("-brands"), name
        assert version and credit


@pytest.mark.parametrize("name, caption", [
    ("dog-sitting-outline", "dog sitting"),
    ("dog-sitting-wearing-collar-on-leash", "dog sitting wearing collar on leash"),
    ("bee-fill", "bee"),
    ("trees", "tree"),            # one word: singular
    ("cat-2", "cat"),             # numbered variants lose the number
    ("face-happy", None),         # face expressions are left out
    ("logo-dog", None),
    ("dog-wxyz", None),           # a word that is not English
    ("outline-2", None),          # nothing left that says what is drawn
])
def test_captions_from_icon_names(name, caption):
    assert icons.caption_of(name, WORDS) == caption


def _fake_set(folder, licence, icons_json, categories):
    folder.mkdir(parents=True)
    (folder / "info.json").write_text(json.dumps({"license": {"spdx": licence}}))
    (folder / "icons.json").write_text(json.dumps(icons_json))
    (folder / "metadata.json").write_text(json.dumps({"categories": categories}))


def test_emoji_and_brand_categories_and_hidden_icons_are_left_out(tmp_path, monkeypatch):
    body = '<path fill="currentColor" d="M1 1h10v10H1z"/>'
    _fake_set(tmp_path / "fake-1.0.0", "MIT",
              {"width": 12, "height": 12, "icons": {n: {"body": body} for n in ("dog", "cat", "bee", "tree")}
               | {"dog-sitting": {"body": body, "hidden": True}}},
              {"Emoji": ["cat"], "Brand / Logo": ["bee"], "Animals": ["dog"]})
    monkeypatch.setattr(icons, "NPM", tmp_path)
    monkeypatch.setattr(icons, "SETS", {"fake": ("1.0.0", "MIT", "a fake set")})
    monkeypatch.setattr(icons, "english_words", lambda: (WORDS, set()))
    assert [(key, cap) for key, cap, _, _ in icons.icon_list()] == [("fake/dog", "dog"), ("fake/tree", "tree")]


@pytest.mark.parametrize("declared", ["GPL-3.0", "CC-BY-SA-4.0", "MIT"])
def test_a_set_whose_licence_is_not_the_pinned_one_is_refused(tmp_path, declared):
    _fake_set(tmp_path / "s", declared, {"icons": {}}, {})
    expected = "Apache-2.0"
    with pytest.raises(SystemExit, match="licence"):
        icons.licence_of(tmp_path / "s", "s", expected)


def _drawing(size=128, colour="black", filled=True):
    im = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(im)
    d.polygon([(20, 100), (64, 15), (108, 100)], fill=colour if filled else None, outline="black", width=6)
    d.ellipse((50, 60, 78, 88), fill="white", outline="black", width=4)
    return np.asarray(im)


def test_near_copies_catch_a_recoloured_copy_but_not_a_different_shape():
    course = [_drawing()]
    copy = _drawing(colour="red")
    square = np.full((128, 128, 3), 255, np.uint8)
    square[30:90, 10:118] = 0
    assert icons.near_copies(np.stack([copy, square]), course) == [0]


def test_rendered_icon_is_drawn_on_white():
    pytest.importorskip("resvg_py", reason="resvg-py is a training-only requirement (model/requirements-train.txt)")
    import random
    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 12 12"><path fill="currentColor" d="M2 2h8v8H2z"/></svg>'
    px = icons.render(svg, 96, random.Random("k"))
    assert px.shape == (96, 96, 3) and px.dtype == np.uint8
    assert (px[0, 0] == 255).all() and px.min() < 100   # white corner, dark ink
