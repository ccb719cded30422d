"""The course as an installed package (issue 29, trap 6): `pip install .` carries clipcourse, the
autograder, the course's data/ and its offline CLIP, and finds them without a checkout (a class
hub's kernels import it from the hub's venv). `pip install -e .` keeps using the checkout's files."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_data_model_and_autograder(tmp_path):
    copy = tmp_path / "src"   # built from a copy: the checkout gets no build/ folder
    copy.mkdir()
    for name in ("pyproject.toml", "clipcourse", "autograder", "data", "model/course-clip"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, copy / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel"), str(copy)], check=True, cwd=tmp_path)
    wheel = next((tmp_path / "wheel").glob("clipcourse-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    manifest = (ROOT / "data" / "manifest.csv").read_text().splitlines()[1:]
    images = [line.split(",")[0] for line in manifest if line.strip()]
    assert images and all(f"clipcourse/_data/{name}" in names for name in images)
    for name in ("manifest.csv", "cat.jpg"):
        assert f"clipcourse/_data/{name}" in names
    for path in (ROOT / "model" / "course-clip").iterdir():
        assert f"clipcourse/_model/{path.name}" in names, path.name
    for path in (ROOT / "autograder").glob("*.py"):
        assert f"autograder/{path.name}" in names, path.name
    assert not [n for n in names if n.endswith(".ipynb")], "no notebook (hidden tests) in the package"

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True)
    code = ("import json, clipcourse.paths as p, autograder.course; "
            "print(json.dumps([p.IN_CHECKOUT, str(p.data_dir()), str(p.OFFLINE_MODEL_DIR), autograder.course.__file__]))")
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}).stdout
    in_checkout, data, model, grader = json.loads(out)
    assert in_checkout is False
    assert Path(data) == target / "clipcourse" / "_data" and (Path(data) / "manifest.csv").is_file()
    assert Path(model) == target / "clipcourse" / "_model" and (Path(model) / "config.json").is_file()
    assert grader.startswith(str(target))


def test_checkout_uses_its_own_files():
    from clipcourse import paths
    assert paths.IN_CHECKOUT and paths.data_dir() == ROOT / "data" and paths.OFFLINE_MODEL_DIR == ROOT / "model" / "course-clip"
