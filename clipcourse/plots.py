"""Pictures for the lessons: result grids with rank and score, bar charts and heatmaps.

Drawing is a chore, so it lives here; the numbers drawn are always computed in the notebook.
Every function returns the matplotlib Figure (handy for ``savefig``) and draws nothing else.
"""
import math
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt  # without a screen matplotlib falls back to Agg by itself
import numpy as np
from PIL import Image


def _as_image(item):
    return item if isinstance(item, Image.Image) else Image.open(item)


def _to_float(x):
    return float(x.item() if hasattr(x, "item") else x)


def result_grid(images, scores=None, labels=None, title=None, cols=5, size=2.4):
    """Images in rank order, each titled ``#rank  score`` (and a label such as the file name).

    Without scores the images are only numbered and labelled (e.g. to show the candidates first).
    """
    images = list(images)
    if scores is not None and len(images) != len(scores):
        raise ValueError(f"result_grid: {len(images)} images but {len(scores)} scores; give one score per image.")
    cols = max(1, min(cols, len(images)))
    rows = max(1, math.ceil(len(images) / cols))
    # constrained layout keeps the suptitle clear of the image titles
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * (size + 0.45) + (0.4 if title else 0)),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for rank, (ax, image) in enumerate(zip(axes.flat, images), start=1):
        ax.imshow(_as_image(image))
        head = f"#{rank}  score {_to_float(scores[rank - 1]):.3f}" if scores is not None else ""
        label = textwrap.fill(str(labels[rank - 1]), width=int(size * 11)) if labels is not None else ""
        ax.set_title("\n".join(part for part in (head, label) if part), fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def bar_chart(labels, scores, title=None, xlabel="cosine similarity", ax=None):
    """Horizontal bars, one per label, with the value written at the end of each bar."""
    values = [_to_float(s) for s in scores]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 0.55 * len(values) + 1.2))
    fig = ax.figure
    bars = ax.barh([str(label) for label in labels], values, color="tab:blue")
    ax.invert_yaxis()  # first label on top, as read
    ax.bar_label(bars, fmt="%.3f", padding=3)
    ax.set_xlabel(xlabel)
    lo, hi = min(0.0, *values), max(0.0, *values)
    span = hi - lo or 1.0
    # room for the value written beyond each bar end, on the left too when a bar is negative
    ax.set_xlim(lo - (0.25 if lo < 0 else 0.05) * span, hi + 0.25 * span)
    ax.axvline(0, color="black", linewidth=0.8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_and_bars(image, labels, scores, title=None, xlabel="cosine similarity"):
    """The image on the left and one bar per text on the right: which texts match this picture."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, max(2.8, 0.55 * len(scores) + 1.2)),
                                      gridspec_kw={"width_ratios": [1, 2]})
    left.imshow(_as_image(image))
    left.axis("off")
    bar_chart(labels, scores, xlabel=xlabel, ax=right)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def heatmap(matrix, row_labels, col_labels, title=None, fmt="{:.2f}", cmap="viridis", vmin=None, vmax=None):
    """A matrix as colours with each value written in its cell (rows x columns as given).

    Give ``vmin``/``vmax`` to draw several heatmaps on one colour scale (e.g. before and after training).
    """
    values = matrix.detach().cpu().numpy() if hasattr(matrix, "detach") else np.asarray(matrix)
    n_rows, n_cols = len(row_labels), len(col_labels)
    if tuple(values.shape) != (n_rows, n_cols):
        raise ValueError(f"heatmap: matrix shape {tuple(values.shape)} does not match {n_rows} row and {n_cols} column labels.")
    fig, ax = plt.subplots(figsize=(0.8 * n_cols + 3.5, 0.5 * n_rows + 2.0))
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(n_cols), labels=[str(c) for c in col_labels], rotation=45, ha="right")
    ax.set_yticks(range(n_rows), labels=[str(r) for r in row_labels])
    colours = im.cmap(im.norm(values))
    for i in range(n_rows):
        for j in range(n_cols):
            r, g, b, _ = colours[i, j]
            ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"  # readable on the cell
            ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=8, color=ink)
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
