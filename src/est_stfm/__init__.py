"""est-stfm: spatiotemporal fusion of remote-sensing images with EST-STFM and baselines."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("est-stfm")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from est_stfm.errors import EstStfmError  # noqa: E402

__all__ = ["EstStfmError", "__version__"]
