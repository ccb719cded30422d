"""The course images: manifest, verification and loaders.

``data/manifest.csv`` lists every image with its sha256 and size. Each loader checks the files it
returns against it, so a missing, truncated or changed image stops the lesson with a message that
names the file and says how to restore it, instead of a confusing error deep inside the model.

    paths = gallery_paths()            # the 200 gallery images, sorted by file name
    images = load_images(paths)        # RGB PIL images, fully loaded
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .paths import data_dir

MANIFEST = "manifest.csv"
REBUILD = "python data/build_course_images.py"


class CourseDataError(ValueError):
    """A course image or the manifest is missing or damaged; the message names the file."""


@dataclass(frozen=True)
class Entry:
    """One row of data/manifest.csv."""
    file: str          # relative to the data folder, e.g. "gallery/bird_00.png"
    sha256: str
    bytes: int
    licence: str
    origin: str        # path inside Debian's openclipart-png
    category: str      # gallery category; "dog" or "cat" for the lecture's images
    caption: str
    note: str
    quiz: str          # "quiz2", "quiz7" or ""

    @property
    def path(self) -> Path:
        return data_dir() / self.file


COLUMNS = [f.name for f in fields(Entry)]


def _restore_hint(file: str) -> str:
    return (f"restore it with `git checkout -- data/{file}` in the course repository, "
            f"or rebuild all images with `{REBUILD}`")


def manifest() -> list[Entry]:
    """All rows of data/manifest.csv, in file order."""
    path = data_dir() / MANIFEST
    if not path.is_file():
        raise CourseDataError(f"{path} is missing; {_restore_hint(MANIFEST)}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        if reader.fieldnames != COLUMNS:
            raise ValueError(f"columns {reader.fieldnames}, expected {COLUMNS}")
        return [Entry(**{**row, "bytes": int(row["bytes"])}) for row in rows]
    except (ValueError, TypeError, csv.Error) as exc:
        raise CourseDataError(f"{path} is damaged ({exc}); {_restore_hint(MANIFEST)}") from None


def _problem(path: Path) -> str:
    """Why a file with the wrong checksum is wrong: not an image, truncated, or just changed."""
    try:
        with Image.open(path) as im:
            im.load()
    except UnidentifiedImageError:
        return "is not an image"
    except (OSError, SyntaxError, ValueError) as exc:
        return f"is a damaged or truncated image ({exc})"
    return "was changed"


def _check(entry: Entry) -> Path:
    """The entry's path if the file is present with the recorded size and sha256; else raise."""
    path = entry.path
    if not path.is_file():
        raise CourseDataError(f"{path} is missing; {_restore_hint(entry.file)}")
    data = path.read_bytes()
    if len(data) != entry.bytes:
        differs = f"it has {len(data)} bytes, data/{MANIFEST} records {entry.bytes} (and its sha256)"
    elif hashlib.sha256(data).hexdigest() != entry.sha256:
        differs = f"its sha256 is not the one data/{MANIFEST} records"
    else:
        return path
    raise CourseDataError(f"{path} {_problem(path)}: {differs}; {_restore_hint(entry.file)}")


def _lookup(file, entries: dict[str, Entry]) -> Entry | None:
    """The entry for a manifest name ("gallery/bird_00.png") or a path into the data folder."""
    name = Path(file).as_posix()
    if name in entries:
        return entries[name]
    try:
        name = Path(file).resolve().relative_to(data_dir().resolve()).as_posix()
    except ValueError:
        return None
    return entries.get(name)


def verify(files=None) -> list[Path]:
    """Check all manifest files (or the given names/paths) for presence, size and sha256.

    Returns their paths; raises CourseDataError naming the first bad file.
    """
    entries = {e.file: e for e in manifest()}
    if files is None:
        return [_check(e) for e in entries.values()]
    paths = []
    for file in files:
        entry = _lookup(file, entries)
        if entry is None:
            raise CourseDataError(f"{file} is not listed in {data_dir() / MANIFEST}")
        paths.append(_check(entry))
    return paths


def _dogs() -> list[Entry]:
    rows = [e for e in manifest() if e.category == "dog"]
    return sorted(rows, key=lambda e: int(Path(e.file).stem.rsplit("_", 1)[1]))


def _gallery() -> list[Entry]:
    return sorted((e for e in manifest() if e.file.startswith("gallery/")), key=lambda e: e.file)


def cat_path() -> Path:
    """data/cat.jpg, verified."""
    return verify(["cat.jpg"])[0]


def dog_paths() -> list[Path]:
    """The nine dogs topk-image/dog_0.png ... dog_8.png, in index order, verified."""
    return [_check(e) for e in _dogs()]


def gallery_paths() -> list[Path]:
    """The 200 gallery images, sorted by file name, verified."""
    return [_check(e) for e in _gallery()]


def quiz2_targets() -> list[int]:
    """Quiz 2's target set, as indices into dog_paths(): the three running dogs (manifest mark quiz2)."""
    return [i for i, e in enumerate(_dogs()) if e.quiz == "quiz2"]


def quiz7_targets() -> list[int]:
    """Quiz 7's five pictures, as indices into gallery_paths()."""
    return [i for i, e in enumerate(_gallery()) if e.quiz == "quiz7"]


def categories() -> list[str]:
    """The gallery's categories, sorted."""
    return sorted({e.category for e in _gallery()})


def load_images(paths) -> list[Image.Image]:
    """Each path as a fully loaded RGB image. Course files are verified against the manifest
    first; other files (a student's own picture) are only opened."""
    entries = {e.file: e for e in manifest()}
    images = []
    for path in paths:
        entry = _lookup(path, entries)
        if entry is not None:
            path = _check(entry)
        try:
            with Image.open(path) as im:
                im.load()
                images.append(im.convert("RGB"))
        except FileNotFoundError:
            raise CourseDataError(f"{path} is missing") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CourseDataError(f"{path} cannot be read as an image ({exc})") from None
    return images
