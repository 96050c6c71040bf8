"""Run every benchmark suite, print raw figures, then the summary lines."""

from __future__ import annotations

import importlib
import sys

from benchmarks.report import Line

#: Each module has ``run() -> list[Line]`` and prints its raw figures while it runs.
SUITES: list[str] = ["benchmarks.local", "benchmarks.aws", "benchmarks.gcp", "benchmarks.azure"]


def main() -> int:
    """Run the suites; exit status 0 whatever the goals (the lines say which were met)."""
    lines: list[Line] = []
    for name in SUITES:
        print(f"# {name}", flush=True)
        lines.extend(importlib.import_module(name).run())
    print()
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
