"""The course images: manifest contents, verification, clear errors, and a reproducible rebuild."""
import hashlib
import importlib.util
import shutil
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipcourse import data
from clipcourse.paths import REPO_ROOT

PACKAGE = Path("/usr/share/openclipart/png")
BUILDER = REPO_ROOT / "data" / "build_course_images.py"


def load_builder():
    """data/build_course_images.py as a module (it is a script, not part of the package)."""
    if "build_course_images" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_course_images", BUILDER)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module   # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules["build_course_images"]


@pytest.fixture(scope="module")
def rows():
    return data.manifest()


@pytest.fixture(scope="module")
def all_images(rows):
    paths = data.verify()
    return dict(zip((r.file for r in rows), data.load_images(paths)))


# --- what is committed -------------------------------------------------------------------------

def test_manifest_counts(rows):
    assert [r.file for r in rows if r.category == "cat"] == ["cat.jpg"]
    assert sorted(r.file for r in rows if r.category == "dog") == [f"topk-image/dog_{i}.png" for i in range(9)]
    gallery = [r for r in rows if r.file.startswith("gallery/")]
    assert len(gallery) == 200 and len(rows) == 210
    assert len(data.categories()) >= 15
    assert {"dog", "cat"}.isdisjoint(data.categories())
    for r in gallery:   # file name says the category
        assert Path(r.file).stem.rsplit("_", 1)[0] == r.category.replace(" ", "_")
    assert all(r.licence and r.origin and r.caption for r in rows)
    assert all(r.note for r in rows if r.category == "dog")


def test_loaders_return_what_the_manifest_lists(rows):
    assert data.cat_path() == data.data_dir() / "cat.jpg"
    assert [p.name for p in data.dog_paths()] == [f"dog_{i}.png" for i in range(9)]
    gallery = data.gallery_paths()
    assert len(gallery) == 200 and gallery == sorted(gallery)
    by_file = {r.file: r for r in rows}
    assert data.quiz2_targets() == [i for i in range(9) if by_file[f"topk-image/dog_{i}.png"].quiz == "quiz2"]
    assert len(data.quiz2_targets()) == 3
    assert len(data.quiz7_targets()) == 5
    assert {r.quiz for r in rows} <= {"", "quiz2", "quiz7"}


def test_every_file_verifies(rows):
    assert data.verify() == [data.data_dir() / r.file for r in rows]


def test_images_are_rgb_and_at_most_256_px(all_images):
    for file, image in all_images.items():
        with Image.open(data.data_dir() / file) as stored:
            assert stored.mode == "RGB", file
        assert max(image.size) <= 256, file


def test_no_two_images_share_pixels(all_images):
    digests = {hashlib.sha256(im.tobytes() + repr(im.size).encode()).hexdigest() for im in all_images.values()}
    assert len(digests) == len(all_images)


def test_no_image_is_a_resized_or_lightly_edited_copy(all_images):
    """A 32x32 gradient hash: copies differ in under 2 % of the bits; the closest real pair in
    the set differs in about 4 % (two flags)."""
    names = list(all_images)
    bits = []
    for image in all_images.values():
        grey = np.asarray(image.convert("L").resize((33, 32), Image.Resampling.BILINEAR), dtype=np.int16)
        bits.append((grey[:, 1:] > grey[:, :-1]).ravel())
    bits = np.array(bits)
    distance = (bits[:, None, :] != bits[None, :, :]).mean(axis=2)
    np.fill_diagonal(distance, 1.0)
    i, j = np.unravel_index(distance.argmin(), distance.shape)
    assert distance[i, j] > 0.02, f"{names[i]} looks like a copy of {names[j]}"


def test_gallery_holds_no_variant_of_the_cat_or_a_dog(rows):
    stem = load_builder().drawing_stem
    pets = {stem(r.origin) for r in rows if r.category in ("cat", "dog")}
    assert not [r.file for r in rows if r.file.startswith("gallery/") and stem(r.origin) in pets]


def test_total_image_bytes_at_most_15_mb(rows):
    total = sum((data.data_dir() / r.file).stat().st_size for r in rows)
    assert total == sum(r.bytes for r in rows)
    assert total <= 15_000_000, f"{total} bytes"


# --- clear errors on a damaged copy ------------------------------------------------------------

@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data.data_dir(), copy, ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    monkeypatch.setenv("CLIP_COURSE_DATA", str(copy))
    return copy


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def delete(path):
    path.unlink()


def replace_with_text(path):
    path.write_text("this is not a picture\n")


def change_bytes_keeping_size(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


DAMAGE = {truncate: "truncated", delete: "missing", replace_with_text: "not an image",
          change_bytes_keeping_size: "sha256"}


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_damaged_gallery_image_is_named(data_copy, damage):
    victim = "gallery/bird_03.png"
    damage(data_copy / victim)
    for load in (data.gallery_paths, data.verify, lambda: data.load_images([data_copy / victim])):
        with pytest.raises(data.CourseDataError) as error:
            load()
        message = str(error.value)
        assert victim in message and DAMAGE[damage] in message
        assert f"git checkout -- data/{victim}" in message


@pytest.mark.parametrize("damage", [truncate, replace_with_text], ids=lambda f: f.__name__)
def test_damaged_cat_and_dog_are_named(data_copy, damage):
    damage(data_copy / "cat.jpg")
    damage(data_copy / "topk-image" / "dog_4.png")
    with pytest.raises(data.CourseDataError, match="cat.jpg"):
        data.cat_path()
    with pytest.raises(data.CourseDataError, match="topk-image/dog_4.png"):
        data.dog_paths()
    data.gallery_paths()   # the gallery itself is intact


def test_missing_or_broken_manifest_is_named(data_copy):
    (data_copy / "manifest.csv").write_text("file,sha256\ncat.jpg,abc\n")
    with pytest.raises(data.CourseDataError, match="manifest.csv"):
        data.gallery_paths()
    (data_copy / "manifest.csv").unlink()
    with pytest.raises(data.CourseDataError, match="manifest.csv is missing"):
        data.verify()


def test_unlisted_file_is_refused_by_verify(data_copy):
    with pytest.raises(data.CourseDataError, match="not listed"):
        data.verify(["gallery/unicorn_00.png"])


def test_load_images_opens_a_students_own_picture(tmp_path):
    own = tmp_path / "mine.png"
    Image.new("LA", (30, 20), (128, 255)).save(own)
    [image] = data.load_images([own])
    assert image.mode == "RGB" and image.size == (30, 20)
    (tmp_path / "notes.png").write_text("text")
    with pytest.raises(data.CourseDataError, match="notes.png"):
        data.load_images([tmp_path / "notes.png"])


# --- the builder's hazard handling (no package needed) -----------------------------------------

def png_header_only(path, width, height):
    """A PNG that declares a huge size: Pillow's bomb check fires on the header alone."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [10_000, 20_000], ids=["over-limit-warning", "over-2x-limit-error"])
def test_builder_skips_decompression_bombs_without_raising_the_limit(tmp_path, side):
    builder = load_builder()
    bomb = tmp_path / "bomb.png"
    png_header_only(bomb, side, side)
    limit, filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    with pytest.raises(builder.SkippedImage, match="bomb.png.*decompression-bomb"):
        builder.open_image(bomb)
    assert Image.MAX_IMAGE_PIXELS == limit and warnings.filters == filters


def test_builder_normalises_modes_onto_white():
    builder = load_builder()
    dot = Image.new("RGBA", (600, 300), (0, 0, 0, 0))           # transparent black around a red square
    dot.paste((200, 0, 0, 255), (100, 100, 160, 160))
    keyed = Image.new("P", (60, 30), 0)                         # palette image with a transparency key
    keyed.putpalette([255, 0, 255, 200, 0, 0] + [0] * 762)
    keyed.paste(1, (20, 5, 40, 25))
    keyed.info["transparency"] = 0
    variants = {"RGBA": dot, "LA": dot.convert("LA"), "P": keyed,
                "CMYK": Image.new("CMYK", (40, 20), (0, 255, 255, 0))}
    for mode, image in variants.items():
        out = builder.normalise(image)
        assert out.mode == "RGB" and out.width == out.height <= 256, mode
        colours = {colour for _, colour in out.getcolors()}
        assert len(colours) == 2 and (255, 255, 255) in colours, (mode, colours)   # drawing on white only
    big = builder.normalise(Image.new("L", (1000, 400), 0))
    assert big.size == (256, 256)
    assert builder.pixel_hash(keyed) == builder.pixel_hash(keyed.convert("RGBA"))   # same pixels, other mode
    assert builder.pixel_hash(dot) != builder.pixel_hash(dot.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


# --- the rebuild -------------------------------------------------------------------------------

@pytest.mark.skipif(not PACKAGE.is_dir(), reason="needs Debian's openclipart-png: apt-get install openclipart-png")
def test_rebuild_reproduces_the_manifest(tmp_path, rows):
    result = subprocess.run([sys.executable, str(BUILDER), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "decompression-bomb" in result.stderr   # the package's bombs were met and skipped
    for r in rows:
        assert hashlib.sha256((tmp_path / r.file).read_bytes()).hexdigest() == r.sha256, r.file
    assert (tmp_path / "manifest.csv").read_bytes() == (data.data_dir() / "manifest.csv").read_bytes()
