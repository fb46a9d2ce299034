"""Quick-look figures (needs the ``plots`` extra: ``pip install est-stfm[plots]``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from est_stfm.errors import EstStfmError


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
