"""Pictures for the lessons: result grids with rank and score, bar charts and heatmaps.

Drawing is a chore, so it lives here; the numbers drawn are always computed in the notebook.
Every function returns the matplotlib Figure (handy for ``savefig``) and draws nothing else.

Korean text: any title or label may be a string or a ``(korean, english)`` pair. When a font that
covers Hangul is installed (Debian ``fonts-nanum``, Noto Sans CJK, Malgun Gothic, ...), figures use it
and show the Korean. Without one, a pair shows its English half and any other Hangul is written in
Latin letters (revised romanisation), so a figure never shows empty boxes or makes matplotlib print
"Glyph ... missing" warnings.
"""
import functools
import math
import textwrap
import unicodedata
from pathlib import Path

import matplotlib.pyplot as plt  # without a screen matplotlib falls back to Agg by itself
import numpy as np
from matplotlib import font_manager, ft2font
from PIL import Image

# Fonts known to cover Hangul, most readable first; any other installed font that covers every Hangul
# syllable is the last resort. ("Last Resort" fonts draw a placeholder for every character: never those.)
KOREAN_FONTS = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR", "Source Han Sans KR",
                "Malgun Gothic", "Apple SD Gothic Neo", "AppleGothic", "UnDotum", "Baekmuk Gulim")
_FILE_HINTS = ("Nanum", "NotoSansCJK", "NotoSansKR", "SourceHanSans", "malgun", "AppleGothic", "AppleSDGothic", "UnDotum")
_SYLLABLES = range(0xAC00, 0xD7A4)   # the 11,172 precomposed Hangul syllables


def _is_hangul(ch):
    return 0xAC00 <= ord(ch) <= 0xD7A3 or 0x1100 <= ord(ch) <= 0x11FF or 0x3130 <= ord(ch) <= 0x318F


def _covers_hangul(path):
    try:
        charmap = ft2font.FT2Font(path).get_charmap()
    except Exception:  # an unreadable font file is simply not a candidate
        return False
    return all(code in charmap for code in _SYLLABLES)


@functools.lru_cache(maxsize=1)
def hangul_font():
    """The family name of an installed font that matplotlib can use for Korean text, or None.

    Looks in matplotlib's font list first, then in the system's font files (a font installed after
    matplotlib built its font cache is added to it).
    """
    known = {}
    for entry in font_manager.fontManager.ttflist:
        known.setdefault(entry.name, entry.fname)
    ranked = [name for name in KOREAN_FONTS if name in known]
    ranked += sorted(name for name in known if name not in KOREAN_FONTS and "last resort" not in name.lower())
    for name in ranked:
        if _covers_hangul(known[name]):
            return name
    listed = set(known.values())
    for path in font_manager.findSystemFonts():
        if path not in listed and any(hint in Path(path).name for hint in _FILE_HINTS) and _covers_hangul(path):
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


def use_hangul_font():
    """Make matplotlib draw Hangul with the installed Korean font (Latin text keeps DejaVu Sans).

    Returns the font's name, or None when there is none (then figures show text without Hangul).
    Called on import and by every function here, so figures drawn directly with matplotlib in a
    notebook that imported this module use the font too.
    """
    global _chosen
    name = hangul_font()
    if name:
        plt.rcParams["font.family"] = ["DejaVu Sans", name]   # DejaVu first; Hangul falls back to `name`
        _chosen = name
    else:  # forget a Korean font chosen earlier (matplotlib would log "findfont: ... not found" for it)
        family = [f for f in plt.rcParams["font.family"] if f != _chosen and f not in KOREAN_FONTS]
        plt.rcParams["font.family"] = family or ["sans-serif"]
    return name


_chosen = None   # the font use_hangul_font last put into matplotlib's font.family

_INITIALS = "g kk n d tt r m b pp s ss - j jj ch k t p h".split()
_VOWELS = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_FINALS = ["", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m", "p", "p", "t", "t",
           "ng", "t", "t", "k", "t", "p", "t"]


def romanize(text):
    """Hangul in ``text`` written in Latin letters, syllable by syllable ("그림 1" -> "geurim 1")."""
    out = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if 0 <= code < len(_SYLLABLES):
            initial, rest = divmod(code, 21 * 28)
            vowel, final = divmod(rest, 28)
            out.append(_INITIALS[initial].strip("-") + _VOWELS[vowel] + _FINALS[final])
        elif _is_hangul(ch):
            out.append(unicodedata.name(ch, "").split()[-1].lower() if unicodedata.name(ch, "") else "?")
        else:
            out.append(ch)
    return "".join(out)


def _text(value):
    """A title or label as drawable text: the Korean half of a (korean, english) pair when a Hangul
    font is installed, else the English half; other Hangul romanised when there is no such font."""
    if isinstance(value, tuple) and len(value) == 2:
        korean, english = value
        value = korean if hangul_font() else english
    value = str(value)
    if any(_is_hangul(ch) for ch in value) and not hangul_font():
        value = romanize(value)
    return value


def _as_image(item):
    return item if isinstance(item, Image.Image) else Image.open(item)


def _to_float(x):
    return float(x.item() if hasattr(x, "item") else x)


def result_grid(images, scores=None, labels=None, title=None, cols=5, size=2.4):
    """Images in rank order, each titled ``#rank  score`` (and a label such as the file name).

    Without scores the images are only numbered and labelled (e.g. to show the candidates first).
    """
    use_hangul_font()
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
        label = textwrap.fill(_text(labels[rank - 1]), width=int(size * 11)) if labels is not None else ""
        ax.set_title("\n".join(part for part in (head, label) if part), fontsize=9)
    if title:
        fig.suptitle(_text(title))
    return fig


def bar_chart(labels, scores, title=None, xlabel="cosine similarity", ax=None):
    """Horizontal bars, one per label, with the value written at the end of each bar."""
    use_hangul_font()
    values = [_to_float(s) for s in scores]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 0.55 * len(values) + 1.2))
    fig = ax.figure
    bars = ax.barh([_text(label) for label in labels], values, color="tab:blue")
    ax.invert_yaxis()  # first label on top, as read
    ax.bar_label(bars, fmt="%.3f", padding=3)
    ax.set_xlabel(_text(xlabel))
    lo, hi = min(0.0, *values), max(0.0, *values)
    span = hi - lo or 1.0
    # room for the value written beyond each bar end, on the left too when a bar is negative
    ax.set_xlim(lo - (0.25 if lo < 0 else 0.05) * span, hi + 0.25 * span)
    ax.axvline(0, color="black", linewidth=0.8)
    if title:
        ax.set_title(_text(title))
    fig.tight_layout()
    return fig


def image_and_bars(image, labels, scores, title=None, xlabel="cosine similarity"):
    """The image on the left and one bar per text on the right: which texts match this picture."""
    use_hangul_font()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, max(2.8, 0.55 * len(scores) + 1.2)),
                                      gridspec_kw={"width_ratios": [1, 2]})
    left.imshow(_as_image(image))
    left.axis("off")
    bar_chart(labels, scores, xlabel=xlabel, ax=right)
    if title:
        fig.suptitle(_text(title))
    fig.tight_layout()
    return fig


def heatmap(matrix, row_labels, col_labels, title=None, fmt="{:.2f}", cmap="viridis", vmin=None, vmax=None):
    """A matrix as colours with each value written in its cell (rows x columns as given).

    Give ``vmin``/``vmax`` to draw several heatmaps on one colour scale (e.g. before and after training).
    """
    use_hangul_font()
    values = matrix.detach().cpu().numpy() if hasattr(matrix, "detach") else np.asarray(matrix)
    n_rows, n_cols = len(row_labels), len(col_labels)
    if tuple(values.shape) != (n_rows, n_cols):
        raise ValueError(f"heatmap: matrix shape {tuple(values.shape)} does not match {n_rows} row and {n_cols} column labels.")
    fig, ax = plt.subplots(figsize=(0.8 * n_cols + 3.5, 0.5 * n_rows + 2.0))
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(n_cols), labels=[_text(c) for c in col_labels], rotation=45, ha="right")
    ax.set_yticks(range(n_rows), labels=[_text(r) for r in row_labels])
    colours = im.cmap(im.norm(values))
    for i in range(n_rows):
        for j in range(n_cols):
            r, g, b, _ = colours[i, j]
            ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"  # readable on the cell
            ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=8, color=ink)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(_text(title))
    fig.tight_layout()
    return fig


def save(fig, path):
    """Write a figure as PNG (creating the folder) and close it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


use_hangul_font()
