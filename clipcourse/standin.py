"""Randomly initialised CLIP models that cost what a real one costs: for rehearsals, never for teaching.

    python -m clipcourse.standin [DEST]      (default: build/real-size/clip-vit-base-patch32-standin)

``CLIPConfig()`` with its defaults *is* the architecture of ``openai/clip-vit-base-patch32`` (ViT-B/32
image tower, 12-layer text tower, 151 M parameters, 224 px input). A model of that shape with random
weights has the real model's FLOPs, memory and file size (about 600 MB of float32 safetensors). Saved
with CLIP's tokenizer (copied from ``model/course-clip``, whose ids are the real model's) and the real
model's image processor settings (resize the shortest edge to 224, centre crop 224, written in the
same legacy form as the hub's ``preprocessor_config.json``), ``from_pretrained`` loads it exactly like
the real one. Its scores mean nothing: quizzes 2 and 7 cannot be reached with it.

The same writer makes the small models with *other* shapes that the tests use to prove the course
code assumes no particular size (``tests/test_other_shapes.py``).

The output is deterministic (fixed seed, same library versions → same bytes) and is written into a
git-ignored folder; it is never committed. A second call with the same settings keeps what is there.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .paths import OFFLINE_MODEL_DIR, REPO_ROOT

DEFAULT_DEST = REPO_ROOT / "build" / "real-size" / "clip-vit-base-patch32-standin"
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
#: The real model's normalisation (OpenAI's CLIP), the same in every CLIP checkpoint on the hub.
IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]
STAMP = "standin.json"


class StandinError(RuntimeError):
    pass


def preprocessor_config(size, crop):
    """The image processor settings in the hub's legacy form (ints, CLIPFeatureExtractor), as
    openai/clip-vit-base-patch32 ships them: transformers reads them as {"shortest_edge": size} and
    {"height": crop, "width": crop}."""
    return {"crop_size": crop, "do_center_crop": True, "do_normalize": True, "do_resize": True,
            "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": IMAGE_MEAN, "image_std": IMAGE_STD,
            "resample": 3, "size": size}


def spec(vision=None, text=None, projection_dim=512, resize=None, seed=0):
    """Everything that decides the written bytes (besides library versions)."""
    import torch
    import transformers

    vision = dict(vision or {})
    return {"vision": vision, "text": dict(text or {}), "projection_dim": projection_dim,
            "resize": resize, "seed": seed, "torch": torch.__version__, "transformers": transformers.__version__}


def write(dest=DEFAULT_DEST, vision=None, text=None, projection_dim=512, resize=None, seed=0,
          tokenizer_from=OFFLINE_MODEL_DIR, log=print):
    """Write a random CLIP into ``dest`` (created atomically); returns ``dest`` as a Path.

    ``vision`` / ``text`` override ``CLIPConfig``'s defaults (none: ViT-B/32, the real model's shape);
    ``resize`` is the processor's shortest edge (default: the vision tower's image size, centre-cropped
    to it). Nothing is written when ``dest`` already holds a stand-in made with the same settings.
    """
    import torch
    from transformers import CLIPConfig, CLIPModel

    dest = Path(dest)
    wanted = spec(vision, text, projection_dim, resize, seed)
    stamp = dest / STAMP
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text())["spec"] == wanted:
                log(f"stand-in already written: {dest}")
                return dest
        except (ValueError, KeyError):
            pass
    missing = [f for f in TOKENIZER_FILES if not (Path(tokenizer_from) / f).is_file()]
    if missing:
        raise StandinError(f"{tokenizer_from} lacks the tokenizer files {missing}: the stand-in copies CLIP's "
                           "tokenizer from the course model (model/course-clip); restore it with git.")
    config = CLIPConfig(text_config=dict(text or {}), vision_config=dict(vision or {}), projection_dim=projection_dim)
    crop = config.vision_config.image_size
    config.architectures = ["CLIPModel"]
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    parameters = sum(p.numel() for p in model.parameters())

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        del model
        for name in TOKENIZER_FILES:
            shutil.copyfile(Path(tokenizer_from) / name, tmp / name)
        (tmp / "preprocessor_config.json").write_text(
            json.dumps(preprocessor_config(resize or crop, crop), indent=2) + "\n")
        (tmp / "README.md").write_text(
            "# A random-weight CLIP stand-in (not a trained model)\n\n"
            "Written by `python -m clipcourse.standin` for rehearsals: the shape, file size, FLOPs and memory of\n"
            "a CLIP model, with random weights. Its similarity scores mean nothing, so quizzes 2 and 7 cannot be\n"
            "reached with it. Never teach or grade a class with it.\n")
        (tmp / STAMP).write_text(json.dumps({"spec": wanted, "parameters": parameters}, indent=1) + "\n")
        for path in tmp.iterdir():
            path.chmod(0o644)  # graded kernels run as an unprivileged user
        tmp.chmod(0o755)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"stand-in written: {dest} ({parameters / 1e6:.1f} M parameters, "
        f"{(dest / 'model.safetensors').stat().st_size / 1e6:.0f} MB, {resize or crop} px resize, {crop} px crop)")
    return dest


def digest(folder):
    """sha256 over the stand-in's files (names and bytes), to show that two writes are identical."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file():
            h.update(path.name.encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write the random-weight ViT-B/32 CLIP stand-in (CLIPConfig() defaults).")
    parser.add_argument("dest", nargs="?", default=str(DEFAULT_DEST))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        dest = write(args.dest, seed=args.seed)
    except StandinError as error:
        sys.exit(f"clipcourse.standin: {error}")
    print(dest)


if __name__ == "__main__":
    main()
