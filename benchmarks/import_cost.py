"""What the plugin costs a project that collects no benchmark case.

    python benchmarks/import_cost.py [--runs 15]

* import: ``python -X importtime -c "import pytest; import pytest_mmbench.plugin"`` in a
  fresh interpreter, the plugin's cumulative time (pytest itself excluded), median of N;
* the import time a whole pytest run of one trivial test spends on modules that only
  the plugin loads: ``-X importtime`` with the plugin and with ``-p no:mmbench``, the
  self times of the modules found only in the first (median of N); this includes what
  its hooks import lazily, which the import line above does not see;
* the same run's wall time, with the plugin and without, taking turns (median of N;
  on a noisy machine the difference is within noise).
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


def imported(folder: Path, *extra: str) -> dict[str, int]:
    """Module -> self import time (us) in one pytest run of the folder."""
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *extra,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        found[name.strip()] = int(self_us)
    return found


def plugin_only_ms(folder: Path) -> float:
    with_plugin = imported(folder)
    without = imported(folder, "-p", "no:mmbench")
    return sum(us for name, us in with_plugin.items() if name not in without) / 1000


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
    only = [plugin_only_ms(folder) for _ in range(args.runs)]
    print(
        f"pytest run of one plain test, imports only the plugin brings: median "
        f"{statistics.median(only):.1f} ms (min {min(only):.1f}, max {max(only):.1f})"
    )
    with_plugin, without = [], []
    for _ in range(args.runs):  # taking turns, so machine noise falls on both alike
        with_plugin.append(run_s(folder))
        without.append(run_s(folder, "-p", "no:mmbench"))
    print(
        f"pytest run of one plain test: {statistics.median(with_plugin) * 1000:.0f} ms with the "
        f"plugin, {statistics.median(without) * 1000:.0f} ms with -p no:mmbench "
        f"(median of {args.runs})"
    )
    report = folder / "mmbench-report.json"
    print(f"report written in a project with no benchmark case: {report.exists()}")


if __name__ == "__main__":
    main()
