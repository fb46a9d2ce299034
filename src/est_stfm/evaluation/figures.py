"""Quick-look figures (needs the ``plots`` extra: ``pip install est-stfm[plots]``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from est_stfm.errors import EstStfmError
from est_stfm.io.atomic import atomic_target


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EstStfmError("figures need matplotlib: pip install 'est-stfm[plots]'") from None
    return plt


def display_bands(bands: int) -> list[int]:
    """Bands shown as RGB: a false-colour NIR/red/green composite for 6-band Landsat order
    (blue, green, red, NIR, SWIR1, SWIR2), the first three otherwise, a single band as grey."""
    if bands >= 4:
        return [3, 2, 1]
    if bands == 3:
        return [0, 1, 2]
    return [0]


def _stretch(img: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    out = np.clip((img - lo[:, None, None]) / (hi - lo)[:, None, None], 0, 1)
    return out[0] if out.shape[0] == 1 else np.moveaxis(out, 0, -1)


def quicklook(
    path: str | Path,
    truth: np.ndarray,
    panels: dict[str, np.ndarray],
    valid: np.ndarray | None = None,
) -> Path:
    """Save truth, each prediction, and each prediction's absolute-error map as one PNG.

    Colours use a 2-98 % stretch of the truth, shared by every panel; the error maps show the mean
    absolute reflectance error over bands on a shared colour scale.
    """
    plt = _pyplot()
    sel = display_bands(truth.shape[0])
    valid = np.ones(truth.shape[1:], bool) if valid is None else valid
    lo = np.array([np.percentile(truth[b][valid], 2) for b in sel])
    hi = np.array([np.percentile(truth[b][valid], 98) for b in sel]) + 1e-6
    errors = {k: np.where(valid, np.abs(v - truth).mean(0), np.nan) for k, v in panels.items()}
    emax = max(float(np.nanpercentile(e, 99)) for e in errors.values()) or 1e-6
    n = len(panels)
    fig, axes = plt.subplots(2, n + 1, figsize=(3.2 * (n + 1), 6.4), squeeze=False)
    axes[0, 0].imshow(_stretch(truth[sel], lo, hi), cmap="gray")
    axes[0, 0].set_title("truth")
    axes[1, 0].axis("off")
    for i, (name, img) in enumerate(panels.items(), start=1):
        axes[0, i].imshow(_stretch(img[sel], lo, hi), cmap="gray")
        axes[0, i].set_title(name)
        im = axes[1, i].imshow(errors[name], cmap="magma", vmin=0, vmax=emax)
        axes[1, i].set_title(f"|error| {name}")
    fig.colorbar(im, ax=axes[1, 1:].tolist(), shrink=0.8, label="mean |error| (reflectance)")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(plt, fig, path, dpi=110, tight=True)


def _save(plt, fig, path: str | Path, dpi: int, tight: bool = False) -> Path:
    """Save ``fig`` atomically (temporary name, then rename) in the format of the suffix;
    ``tight`` crops to the drawn content (a second drawing pass: constrained layouts skip it)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        plt.close(fig)
        raise EstStfmError(f"cannot write a figure as {path.name}: use a .png, .pdf or .svg name")
    try:
        with atomic_target(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight" if tight else None)
    finally:
        plt.close(fig)
    return path


def _display_stride(height: int, width: int, max_side: int = 800) -> int:
    """Pixel step that keeps a displayed image within ``max_side`` pixels a side."""
    return max(1, -(-max(height, width) // max_side))


def _histogram2d(x: np.ndarray, y: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """Counts of (x, y) pairs in ``bins`` x ``bins`` equal cells over [lo, hi]^2 (x along the
    first axis); pairs outside are not counted. A bincount, much faster than numpy's own."""
    scale = bins / (hi - lo)
    ix = np.floor((x - lo) * scale).astype(np.int64)
    iy = np.floor((y - lo) * scale).astype(np.int64)
    ix[x == hi] = bins - 1  # the upper edge belongs to the last cell
    iy[y == hi] = bins - 1
    ok = (ix >= 0) & (ix < bins) & (iy >= 0) & (iy < bins)
    return np.bincount(ix[ok] * bins + iy[ok], minlength=bins * bins).reshape(bins, bins)


def evaluation_figure(
    path: str | Path,
    pred: np.ndarray,
    truth: np.ndarray,
    valid: np.ndarray | None = None,
    band_names: list[str] | None = None,
    *,
    bins: int = 200,
) -> Path:
    """One row per band: truth, prediction, error map, observed-vs-predicted density; one PNG.

    Truth and prediction share a grey 2-98 % stretch of the truth; the error map shows
    prediction - truth on a symmetric diverging scale (99th percentile of |error|); invalid pixels
    are light grey. Large images are shown every n-th pixel (at most 800 a side). The density
    panel is a ``bins`` x ``bins`` 2-D histogram of (truth, prediction) over **all** valid pixels
    (accumulated in row blocks), log colour scale, axes spanning the 0.1-99.9 % range of both, with
    the 1:1 line; its title gives R^2 = 1 - sum((p - t)^2) / sum((t - mean t)^2) (the fit to the
    1:1 line, not the squared correlation) and the RMSE, in reflectance.
    """
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    from est_stfm.evaluation.chunks import row_blocks

    nb, h, w = truth.shape
    valid = np.ones((h, w), bool) if valid is None else np.asarray(valid, bool)
    names = band_names or [f"band {i + 1}" for i in range(nb)]
    step = _display_stride(h, w)
    shown = valid[::step, ::step]
    if not shown.any():
        raise EstStfmError("no valid pixel to show in the figure")
    grey = plt.get_cmap("gray").with_extremes(bad="0.85")
    diverging = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
    fig, axes = plt.subplots(nb, 4, figsize=(15, 3.3 * nb), squeeze=False, layout="constrained")
    for b in range(nb):
        t_small = truth[b, ::step, ::step].astype(np.float64)
        p_small = pred[b, ::step, ::step].astype(np.float64)
        lo, hi = np.percentile(t_small[shown], [2, 98])
        hi = hi if hi > lo else lo + 1e-6
        err = np.where(shown, p_small - t_small, np.nan)
        emax = float(np.nanpercentile(np.abs(err), 99)) or 1e-6
        for ax, img, title in ((axes[b, 0], t_small, "truth"), (axes[b, 1], p_small, "prediction")):
            ax.imshow(np.where(shown, img, np.nan), cmap=grey, vmin=lo, vmax=hi)
            ax.set_title(f"{names[b]}: {title}")
        im = axes[b, 2].imshow(err, cmap=diverging, vmin=-emax, vmax=emax)
        axes[b, 2].set_title(f"{names[b]}: prediction - truth")
        fig.colorbar(im, ax=axes[b, 2], shrink=0.8)
        for ax in axes[b, :3]:
            ax.set_xticks([])
            ax.set_yticks([])
        both = np.concatenate([t_small[shown], p_small[shown]])
        lo_d, hi_d = np.percentile(both, [0.1, 99.9])
        hi_d = hi_d if hi_d > lo_d else lo_d + 1e-6
        counts = np.zeros((bins, bins))
        n, sse, st, stt = 0, 0.0, 0.0, 0.0
        for r0, r1 in row_blocks(h, w):
            v = valid[r0:r1]
            t = truth[b, r0:r1][v].astype(np.float64)
            p = pred[b, r0:r1][v].astype(np.float64)
            counts += _histogram2d(t, p, lo_d, hi_d, bins)
            n, sse = n + t.size, sse + float(((p - t) ** 2).sum())
            st, stt = st + float(t.sum()), stt + float((t * t).sum())
        sst = stt - st * st / n
        r2 = 1.0 - sse / sst if sst > 0 else float("nan")
        ax = axes[b, 3]
        im = ax.imshow(
            np.ma.masked_equal(counts.T, 0),
            origin="lower",
            extent=(lo_d, hi_d, lo_d, hi_d),
            norm=LogNorm(vmin=1),
            cmap="viridis",
            aspect="equal",
            interpolation="nearest",
        )
        ax.plot([lo_d, hi_d], [lo_d, hi_d], color="crimson", lw=0.8, label="1:1")
        ax.set_xlabel("truth (observed)")
        ax.set_ylabel("prediction")
        ax.set_title(f"{names[b]}: R\u00b2 {r2:.3f}, RMSE {math.sqrt(sse / n):.4f}")
        fig.colorbar(im, ax=ax, shrink=0.8, label="pixels")
    return _save(plt, fig, path, dpi=100)


def cluster_colours(plt, k: int):
    """A ``k``-colour qualitative colormap (tab10 / tab20, else evenly spaced hues)."""
    from matplotlib.colors import ListedColormap

    if k <= 10:
        colours = plt.get_cmap("tab10").colors[:k]
    elif k <= 20:
        colours = plt.get_cmap("tab20").colors[:k]
    else:
        colours = plt.get_cmap("hsv")(np.linspace(0, 1, k, endpoint=False))
    return ListedColormap(colours).with_extremes(bad="0.85")


def cluster_figure(
    path: str | Path,
    pred_labels: np.ndarray,
    truth_labels: np.ndarray,
    k: int,
    title: str | None = None,
) -> Path:
    """Both cluster maps side by side (real image left, fused right) in one PNG.

    Labels are ``(H, W)`` integers, -1 (light grey) where invalid; the fused labels are expected
    already matched to the real ones, so one colour is one cluster in both panels. Large maps are
    shown every n-th pixel (at most 800 a side).
    """
    plt = _pyplot()
    step = _display_stride(*truth_labels.shape)
    cmap = cluster_colours(plt, k)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), squeeze=False, layout="constrained")
    for ax, labels, name in (
        (axes[0, 0], truth_labels, "real fine image"),
        (axes[0, 1], pred_labels, "fused image (matched)"),
    ):
        shown = labels[::step, ::step]
        im = ax.imshow(
            np.ma.masked_less(shown, 0),
            cmap=cmap,
            vmin=-0.5,
            vmax=k - 0.5,
            interpolation="nearest",
        )
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, ticks=range(k))
    bar.set_label("cluster")
    fig.suptitle(f"k-means, k = {k}" + (f": {title}" if title else ""))
    return _save(plt, fig, path, dpi=100)
