"""transformers 5.x's get_image_features/get_text_features return an output object (the embedding in
.pooler_output), 4.x's the tensor: every place that takes features uses the course's one idiom."""
import re

import nbformat
import pytest
import torch

from clipcourse import models
from clipcourse.paths import REPO_ROOT

CALL = re.compile(r"\.get_(image|text)_features\(")
PACKAGE_CODE = sorted([*(REPO_ROOT / "clipcourse").glob("*.py"), *(REPO_ROOT / "bench").glob("*.py"),
                       REPO_ROOT / "model" / "evaluate.py", REPO_ROOT / "model" / "train.py"])
NOTEBOOKS = sorted([*(REPO_ROOT / "notebooks").glob("*.ipynb"), *(REPO_ROOT / "notebooks" / "en").glob("*.ipynb"),
                    *(REPO_ROOT / "source").glob("*/*.ipynb"), *(REPO_ROOT / "release").glob("*/*.ipynb")])


def test_features_takes_the_tensor_from_either_major():
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    tensor = torch.randn(2, 512)
    assert models.features(tensor) is tensor  # 4.x
    assert models.features(BaseModelOutputWithPooling(pooler_output=tensor)) is tensor  # 5.x


def test_package_code_takes_features_through_the_helper():
    bare = [f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}" for path in PACKAGE_CODE
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if CALL.search(line) and "features(" not in line.split(".get_")[0]
            and not line.lstrip().startswith(("#", '"', "``"))]
    assert not bare, "wrap these in clipcourse.models.features(...):\n" + "\n".join(bare)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_notebook_cells_write_the_getattr_line_after_each_call(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        calls = len(CALL.findall(cell.source))
        lines = cell.source.count('getattr(features, "pooler_output", features)')
        assert lines >= calls, f"{path.name}: a cell takes features without the getattr line:\n{cell.source[:400]}"
