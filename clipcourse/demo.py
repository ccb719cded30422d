"""The README's demo: Top-K text-to-image search over the 200 gallery images.

    python -m clipcourse.demo [--query "a red car"] [--k 5] [--out demo-output/topk.png]

Prints the Top-K file names with their cosine similarity and writes a result grid (image, rank,
score). The model is whatever ``choose_model`` picks (offline: the course's own CLIP).
"""
import argparse
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import data, plots
from .models import features, load_clip

DEFAULT_QUERY = "a red car"
BATCH = 32


def embed_images(model, processor, images, batch=BATCH, desc="embedding images"):
    """(N, D) image embeddings, computed in batches so memory stays flat; no gradients needed."""
    chunks = []
    with torch.no_grad():
        # one batch needs no bar (a saved notebook would show it stuck at 0%, e.g. in nbgrader feedback)
        for start in tqdm(range(0, len(images), batch), desc=desc, unit="batch", disable=len(images) <= batch):
            inputs = processor(images=images[start:start + batch], return_tensors="pt", padding=True)
            chunks.append(features(model.get_image_features(**inputs)))
    return torch.cat(chunks)


def search(query, k=5, out="demo-output/topk.png"):
    model, processor, name = load_clip()
    paths = data.gallery_paths()
    images = data.load_images(paths)
    image_embeddings = embed_images(model, processor, images)
    with torch.no_grad():
        text_embedding = features(model.get_text_features(**processor(text=[query], return_tensors="pt", padding=True)))
    similarities = torch.nn.functional.cosine_similarity(text_embedding, image_embeddings)
    top = similarities.topk(k)

    print(f'\nTop-{k} of {len(paths)} gallery images for "{query}" (model: {name}):')
    for rank, (score, idx) in enumerate(zip(top.values, top.indices), start=1):
        print(f"  #{rank}  {score:.3f}  {Path(paths[idx]).name}")
    fig = plots.result_grid([images[i] for i in top.indices], top.values,
                            labels=[Path(paths[i]).name for i in top.indices], title=f'"{query}"')
    written = plots.save(fig, out)
    print(f"result grid written to {written}")
    return top


def main(argv=None):
    parser = argparse.ArgumentParser(description="Top-K text-to-image search over the course gallery.")
    parser.add_argument("--query", default=DEFAULT_QUERY)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", default="demo-output/topk.png")
    args = parser.parse_args(argv)
    try:
        search(args.query, args.k, args.out)
    except data.CourseDataError as error:
        sys.exit(f"demo stopped: {error}")


if __name__ == "__main__":
    main()
