"""What the plugin costs a project that collects no benchmark case.

    python benchmarks/import_cost.py [--runs 15]

* import: ``python -X importtime -c "import pytest; import pytest_mmbench.plugin"`` in a
  fresh interpreter, the plugin's cumulative time (pytest itself excluded), median of N;
* a whole pytest run of one trivial test, with the plugin and with ``-p no:mmbench``,
  median wall time of N (the difference includes configure, which reads settings and
  builds the session).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def import_ms() -> float:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest; import pytest_mmbench.plugin"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stderr.splitlines() if x.rstrip().endswith("pytest_mmbench.plugin"))
    return int(line.split("|")[1]) / 1000


def run_s(folder: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
        cwd=folder,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    imports = [import_ms() for _ in range(args.runs)]
    print(
        f"import pytest_mmbench.plugin: median {statistics.median(imports):.1f} ms "
        f"(min {min(imports):.1f}, max {max(imports):.1f}) over {args.runs} runs"
    )
    folder = Path(tempfile.mkdtemp())
    (folder / "test_plain.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    with_plugin = [run_s(folder) for _ in range(args.runs)]
    without = [run_s(folder, "-p", "no:mmbench") for _ in range(args.runs)]
    print(
        f"pytest run of one plain test: {statistics.median(with_plugin) * 1000:.0f} ms with the "
        f"plugin, {statistics.median(without) * 1000:.0f} ms with -p no:mmbench "
        f"(median of {args.runs})"
    )
    report = folder / "mmbench-report.json"
    print(f"report written in a project with no benchmark case: {report.exists()}")


if __name__ == "__main__":
    main()
