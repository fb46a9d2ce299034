"""The ``est-stfm`` command line: one module per command; a command resolves its inputs, calls the
library and prints. User errors (:class:`est_stfm.errors.EstStfmError`) print one line,
``error: ...``, on stderr and exit with status 2."""

from __future__ import annotations

from est_stfm.cli import (  # noqa: F401  (each module registers its command on `app`)
    benchmark,
    cluster,
    demo,
    evaluate,
    fit,
    models,
    predict,
    prepare,
)
from est_stfm.cli.app import app, main

__all__ = ["app", "main"]
