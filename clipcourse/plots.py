"""Pictures for the lessons: result grids with rank and score, bar charts and heatmaps.

Drawing is a chore, so it lives here; the numbers drawn are always computed in the notebook.
Every function returns the matplotlib Figure (handy for ``savefig``) and draws nothing else.
"""
import math
from pathlib import Path

import matplotlib.pyplot as plt  # without a screen matplotlib falls back to Agg by itself
from PIL import Image


def _as_image(item):
    return item if isinstance(item, Image.Image) else Image.open(item)


def _to_float(x):
    return float(x.item() if hasattr(x, "item") else x)


def result_grid(images, scores, labels=None, title=None, cols=5, size=2.4):
    """Images in rank order, each titled ``#rank  score`` (and a label such as the file name)."""
    images = list(images)
    if len(images) != len(scores):
        raise ValueError(f"result_grid: {len(images)} images but {len(scores)} scores; give one score per image.")
    cols = max(1, min(cols, len(images)))
    rows = max(1, math.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * (size + 0.45)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for rank, (ax, image, score) in enumerate(zip(axes.flat, images, scores), start=1):
        ax.imshow(_as_image(image))
        label = f"\n{labels[rank - 1]}" if labels is not None else ""
        ax.set_title(f"#{rank}  score {_to_float(score):.3f}{label}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bar_chart(labels, scores, title=None, xlabel="cosine similarity"):
    """Horizontal bars, one per label, with the value written at the end of each bar."""
    values = [_to_float(s) for s in scores]
    fig, ax = plt.subplots(figsize=(6, 0.55 * len(values) + 1.2))
    bars = ax.barh(list(labels), values, color="tab:blue")
    ax.invert_yaxis()  # first label on top, as read
    ax.bar_label(bars, fmt="%.3f", padding=3)
    ax.set_xlabel(xlabel)
    lo, hi = min(0.0, *values), max(0.0, *values)
    ax.set_xlim(lo - 0.05 * (hi - lo or 1), hi + 0.2 * (hi - lo or 1))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def heatmap(matrix, row_labels, col_labels, title=None, fmt="{:.2f}", cmap="viridis"):
    """A matrix as colours with each value written in its cell (rows x columns as given)."""
    values = matrix.detach().cpu().numpy() if hasattr(matrix, "detach") else matrix
    n_rows, n_cols = len(row_labels), len(col_labels)
    if tuple(values.shape) != (n_rows, n_cols):
        raise ValueError(f"heatmap: matrix shape {tuple(values.shape)} does not match {n_rows} row and {n_cols} column labels.")
    fig, ax = plt.subplots(figsize=(1.0 * n_cols + 2.5, 0.6 * n_rows + 1.5))
    im = ax.imshow(values, cmap=cmap)
    ax.set_xticks(range(n_cols), labels=list(col_labels), rotation=45, ha="right")
    ax.set_yticks(range(n_rows), labels=list(row_labels))
    middle = (values.max() + values.min()) / 2
    for i in range(n_rows):
        for j in range(n_cols):
            ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=8,
                    color="black" if values[i, j] > middle else "white")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save(fig, path):
    """Write a figure as PNG (creating the folder) and close it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
