"""Put the benchmark results into README.md, between the benchmark markers.

    python benchmarks/update_readme.py [RESULTS_MD] [README]

Defaults: ``benchmarks/results/results.md`` and ``README.md`` of this repository. The text
between ``<!-- benchmark:start -->`` and ``<!-- benchmark:end -->`` is replaced (the results'
own top heading is dropped); everything else in the README is kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

from est_stfm.benchmark.report import splice_markdown
from est_stfm.io.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Splice the results file into the README; print what was done."""
    args = sys.argv[1:] if argv is None else argv
    results = Path(args[0]) if args else REPO / "benchmarks" / "results" / "results.md"
    readme = Path(args[1]) if len(args) > 1 else REPO / "README.md"
    text = splice_markdown(readme.read_text(encoding="utf-8"), results.read_text(encoding="utf-8"))
    atomic_write_text(readme, text)
    print(f"updated {readme} from {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
