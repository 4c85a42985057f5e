"""``pytest-mmbench``: compare, re-print and judge stored reports without running anything.

``compare OLD NEW`` applies the same gate as ``--mm-baseline`` (the same pure function)
and exits 1 on a regression; ``summary`` and ``frontier`` re-print a stored run;
``merge`` combines runs made apart into one report.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_mmbench.decide.decisions import (
    Decisions,
    ReportFileError,
    read_report,
    render_decisions,
)
from pytest_mmbench.decide.frontier import DEFAULT_REGIMES, RegimeResult, frontier, render
from pytest_mmbench.decide.gate import DEFAULT_FAIL_ON, RuleError, parse_requirements, parse_rules
from pytest_mmbench.report.html import missing_plot_library, write_outputs
from pytest_mmbench.report.terminal import render_summary
from pytest_mmbench.results.combine import CombineError, combine, merge_lines
from pytest_mmbench.schema import validate_report
from pytest_mmbench.spec.endpoints import HostsError, load_hosts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pytest-mmbench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("compare", help="gate NEW against OLD; exit 1 on a regression")
    compare.add_argument("old", type=Path)
    compare.add_argument("new", type=Path)
    compare.add_argument(
        "--fail-on",
        default=DEFAULT_FAIL_ON,
        help=f"rules as for --mm-fail-on (default {DEFAULT_FAIL_ON!r})",
    )
    compare.add_argument("--require", default="", help="requirements as for --mm-require")
    summary = commands.add_parser("summary", help="re-print a stored run")
    summary.add_argument("report", type=Path)
    page = commands.add_parser("html", help="write the HTML report (and charts) of a stored run")
    page.add_argument("report", type=Path)
    page.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    page.add_argument("--plots", type=Path, default=None, help="also write the charts here")
    front = commands.add_parser("frontier", help="the deployment frontier of a stored run")
    front.add_argument("report", type=Path)
    front.add_argument(
        "--hosts",
        type=Path,
        default=None,
        help="take [frontier.<name>] regimes from this hosts file",
    )
    merge = commands.add_parser("merge", help="combine reports of separate runs into one")
    merge.add_argument("reports", type=Path, nargs="+")
    merge.add_argument("-o", "--out", type=Path, required=True, help="the report to write")
    merge.add_argument(
        "--prefix", action="store_true", help="rename endpoints <report file stem>-<id>"
    )
    merge.add_argument("--hosts", type=Path, default=None, help="frontier regimes from here")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ReportFileError, RuleError, HostsError, CombineError) as exc:
        sys.stderr.write(f"pytest-mmbench: error: {exc}\n")
        return 2


def _merge(args: argparse.Namespace) -> int:
    """Combine, judge the frontier afresh, validate, and only then write."""
    import json

    names = [path.stem for path in args.reports]
    if len(set(names)) < len(names):
        names = [str(path) for path in args.reports]
    combined = combine([(n, read_report(p)) for n, p in zip(names, args.reports, strict=True)],
                       prefix=args.prefix)  # fmt: skip
    regimes = load_hosts(args.hosts).regimes if args.hosts else DEFAULT_REGIMES
    Decisions(regimes=regimes).apply(combined)
    import jsonschema

    try:
        validate_report(combined)
    except jsonschema.ValidationError as exc:  # an input was not a valid report
        where = "/".join(str(part) for part in exc.absolute_path)
        raise CombineError(
            f"the merged report does not validate at {where}: {exc.message}"
        ) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(combined, indent=2, ensure_ascii=False) + "\n", "utf-8")
    lines = [*merge_lines(combined), *render(frontier(combined, regimes)), f"wrote {args.out}"]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.command == "merge":
        return _merge(args)
    if args.command == "compare":
        old, stored = read_report(args.old), read_report(args.new)
        # Judge afresh: the stored run's own gate, requirements and frontier do not apply.
        new = {k: v for k, v in stored.items() if k not in ("gate", "requirements", "frontier")}
        decisions = Decisions(
            baseline=old,
            baseline_path=str(args.old),
            rules=parse_rules(args.fail_on),
            requirements=parse_requirements(args.require),
        )
        failures = decisions.apply(new)
        out.write("\n".join(render_decisions(new)) + "\n")
        return 1 if failures else 0
    document = read_report(args.report)
    if args.command == "html":
        problem = missing_plot_library()
        if problem:
            sys.stderr.write(f"pytest-mmbench: error: {problem}\n")
            return 2
        out.write("\n".join(write_outputs(document, args.out, args.plots)) + "\n")
        return 0
    if args.command == "summary":
        lines = [*render_summary(document), "", *render_decisions(document)]
        out.write("\n".join(lines).rstrip() + "\n")
        return 0
    regimes = load_hosts(args.hosts).regimes if args.hosts else None
    if regimes is None and document.get("frontier"):
        results = [RegimeResult(**r) for r in document["frontier"]]
    else:
        results = frontier(document, regimes or DEFAULT_REGIMES)
    out.write("\n".join(render(results)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
