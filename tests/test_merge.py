"""``pytest-mmbench merge``: real reports from separate runs become one report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_mmbench.cli import main
from support import case_file, load_report, records_by_case


@pytest.fixture
def two_runs(pytester, write_hosts, llama_url) -> tuple[Path, Path]:
    """Two real runs on the embedded server, as two endpoints on different 'days':
    the second has one case the first lacks."""
    made = []
    for endpoint_id, cases in (("monday", ("capital",)), ("tuesday", ("capital", "extra"))):
        write_hosts(f'[endpoints.{endpoint_id}]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n')
        case_file(pytester.path, *cases, contains=" ", prompt="Name a city.")
        result = pytester.runpytest_inprocess("mm_one.toml", "--mm-endpoints=hosts.toml")
        result.assert_outcomes(passed=len(cases))
        made.append(pytester.path / f"{endpoint_id}.json")
        shutil.move(pytester.path / "mmbench-report.json", made[-1])
    return made[0], made[1]


def test_two_real_runs_merge_into_one_valid_report(two_runs, tmp_path, capsys) -> None:
    monday, tuesday = two_runs
    out = tmp_path / "all.json"
    assert main(["merge", str(monday), str(tuesday), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "merged 2 runs: monday (" in printed and "case extra is only in tuesday" in printed
    merged = load_report(out)  # validated against the schema
    assert [e["id"] for e in merged["endpoints"]] == ["monday", "tuesday"]
    assert {e["source_run"]["file"] for e in merged["endpoints"]} == {"monday", "tuesday"}
    assert set(records_by_case(merged)) == {
        ("monday", "capital"), ("tuesday", "capital"), ("tuesday", "extra"),
    }  # fmt: skip
    assert set(merged["summary"]) == {"monday", "tuesday"}
    assert merged["run"]["cases_not_in_every_run"] == {"extra": ["tuesday"]}
    general = next(r for r in merged["frontier"] if r["regime"]["name"] == "general-workstation")
    assert general["undecided"] is None  # both endpoints compared in one frontier
    assert set(general["frontier"]) | set(general["dominated"]) == {"monday", "tuesday"}
    # One table and one page over both.
    assert main(["summary", str(out)]) == 0
    table = capsys.readouterr().out
    assert "case    | monday" in table and "| tuesday" in table
    pytest.importorskip("matplotlib")
    assert main(["html", str(out), "--out", str(tmp_path / "all.html")]) == 0
    assert "tuesday" in (tmp_path / "all.html").read_text()


def test_a_clash_is_one_error_unless_prefixed(two_runs, tmp_path, capsys) -> None:
    monday, _ = two_runs
    again = tmp_path / "again.json"
    shutil.copy(monday, again)
    out = tmp_path / "all.json"
    assert main(["merge", str(monday), str(again), "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert "endpoint 'monday' is in both monday and again; pass --prefix to keep both" in error
    assert not out.exists()
    assert main(["merge", str(monday), str(again), "-o", str(out), "--prefix"]) == 0
    ids = [e["id"] for e in load_report(out)["endpoints"]]
    assert ids == ["monday-monday", "again-monday"]


def test_different_plugin_versions_are_refused(two_runs, tmp_path, capsys) -> None:
    monday, tuesday = two_runs
    older = json.loads(tuesday.read_text())
    older["run"]["plugin_version"] = "0.0.1"
    (tmp_path / "older.json").write_text(json.dumps(older))
    code = main(
        ["merge", str(monday), str(tmp_path / "older.json"), "-o", str(tmp_path / "x.json")]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "different pytest-mmbench versions (monday: " in error and "older: 0.0.1" in error
    assert "rerun them with one version" in error
