"""Pictures people would rather look at than read: training curves and predicted-vs-true."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save(fig: plt.Figure, path: Path) -> None:
    """Written beside, then renamed into place: a link planted at `path` is replaced, never
    followed (plots may go into a folder others write to), and no half-written PNG is left."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".plot-", suffix=".png")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # as an ordinary new file (mkstemp makes it 0600)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)


def training_curve(curve: Sequence[Sequence[float]], path: Path, title: str) -> None:
    if not curve:
        return
    steps = [c[0] for c in curve]
    loss = [c[2] for c in curve]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(steps, loss, color="#1f77b4")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_title(f"training curve: {title}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save(fig, path)


def scatter(true: Sequence[float], pred: Sequence[float], path: Path, title: str) -> None:
    hi = max([1.0, *true, *pred]) * 1.05
    labels = ("true count", "predicted count")
    _scatter({"images": (true, pred)}, hi, labels, path, title)


def learning_curve(rows: Sequence[dict], path: Path, title: str) -> None:
    fig = learning_curve_figure(rows, title)
    save(fig, path)


def learning_curve_figure(rows: Sequence[dict], title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    n = [r["train_images"] for r in rows]
    mae = [r["mae"] for r in rows]
    if all("abs_err_min" in r for r in rows):
        # bars: the smallest and largest error among the held-out images
        lo = [max(0.0, m - r["abs_err_min"]) for m, r in zip(mae, rows, strict=True)]
        hi = [max(0.0, r["abs_err_max"] - m) for m, r in zip(mae, rows, strict=True)]
        ax.errorbar(n, mae, yerr=[lo, hi], marker="o", capsize=4, label="MAE (bars: per image)")
        ax.legend(loc="upper right")
    else:
        ax.plot(n, mae, marker="o")
    ax.set_xscale("log", base=2)
    # plain numbers at the sizes trained, not 2^0, 2^1, ...
    ax.set_xticks(n, [str(v) for v in n])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("training images")
    ax.set_ylabel("MAE on held-out images")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def fraction_scatter(
    true: dict[str, Sequence[float]],
    pred: dict[str, Sequence[float]],
    path: Path,
    title: str,
    flagged: Sequence[bool] | None = None,
) -> None:
    """Predicted against true share of the frame (percent), one colour per class; the images
    the bench would flag `uncertain` as rings."""
    save(fraction_scatter_figure(true, pred, title, flagged), path)


def fraction_scatter_figure(
    true: dict[str, Sequence[float]],
    pred: dict[str, Sequence[float]],
    title: str,
    flagged: Sequence[bool] | None = None,
) -> plt.Figure:
    series = {c: ([100 * v for v in true[c]], [100 * v for v in pred[c]]) for c in true}
    labels = ("true share of the image (%)", "measured share (%)")
    return _scatter_figure(series, 100, labels, title, flagged)


COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _scatter(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    hi: float,
    labels: tuple[str, str],
    path: Path,
    title: str,
) -> None:
    save(_scatter_figure(series, hi, labels, title), path)


def _scatter_figure(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    hi: float,
    labels: tuple[str, str],
    title: str,
    rings: Sequence[bool] | None = None,
) -> plt.Figure:
    """Measured against true, one colour per series, on square axes from 0 to `hi`; the
    points where `rings` is true (the same for every series) drawn hollow."""
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, hi], [0, hi], color="grey", lw=1, ls="--", label="perfect")
    first = next(iter(series.values()), ([], []))[0]
    ring = np.zeros(len(first), bool) if rings is None else np.asarray(rings, bool)
    for i, (name, (t, p)) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        ta, pa = np.asarray(t, float), np.asarray(p, float)
        ax.scatter(ta[~ring], pa[~ring], s=18, color=colour, alpha=0.8, label=name)
        if ring.any():
            ax.scatter(ta[ring], pa[ring], s=30, facecolors="none", edgecolors=colour)
    if ring.any():
        ax.scatter([], [], s=30, facecolors="none", edgecolors="grey", label="flagged uncertain")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
