"""expect_fail in hosts.toml must name cases that exist; a typo stops the run."""

from __future__ import annotations

import pytest

from support import case_file

# Nothing listens on port 9: these runs stop at collection or run nothing.
HOSTS = """
[endpoints.smol]
base_url = "http://127.0.0.1:9/v1"
model = "smollm2"
expect_fail = [{ids}]
[endpoints.other]
base_url = "http://127.0.0.1:9/v1"
model = "smollm2"
"""


@pytest.fixture
def cases(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "cases"
    folder.mkdir()
    case_file(folder, "basic-qa", "reasoning")


def test_unknown_case_id_is_a_usage_error(pytester, write_hosts, cases) -> None:
    write_hosts(HOSTS.format(ids='"basic-qa", "basic-qaa"'))
    result = pytester.runpytest_inprocess("cases", "--mm-endpoints=hosts.toml", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "hosts.toml: endpoint 'smol': key 'expect_fail' names unknown case ids "
        "['basic-qaa']; known case ids: basic-qa, reasoning"
    ) in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_known_case_id_is_accepted(pytester, write_hosts, cases) -> None:
    write_hosts(HOSTS.format(ids='"basic-qa"'))
    result = pytester.runpytest_inprocess("cases", "--mm-endpoints=hosts.toml", "--co")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*4 tests collected*"])


def test_case_deselected_with_k_or_m_still_counts_as_known(pytester, write_hosts, cases) -> None:
    write_hosts(HOSTS.format(ids='"basic-qa"'))
    by_k = pytester.runpytest_inprocess(
        "cases", "--mm-endpoints=hosts.toml", "--co", "-k", "reasoning"
    )
    assert by_k.ret == pytest.ExitCode.OK
    by_k.stdout.fnmatch_lines(["*2/4 tests collected (2 deselected)*"])
    by_m = pytester.runpytest_inprocess(
        "cases", "--mm-endpoints=hosts.toml", "--co", "-m", "vision"
    )
    assert by_m.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "expect_fail" not in by_m.stderr.str() + by_m.stdout.str()


def test_unknown_case_id_under_xdist_stops_the_run_with_the_message(
    pytester, write_hosts, cases
) -> None:
    pytest.importorskip("xdist")
    write_hosts(HOSTS.format(ids='"basic-qaa"'))
    result = pytester.runpytest_subprocess(
        "cases", "--mm-endpoints=hosts.toml", "-n", "2", "-p", "xdist"
    )
    # Workers cannot raise a usage error the controller shows: a collection error it is.
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=1)
    assert "key 'expect_fail' names unknown case ids ['basic-qaa']" in result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_run_narrowed_to_a_file_is_not_checked(pytester, write_hosts, cases) -> None:
    # The unknown id may well be a case of a file this run does not collect.
    write_hosts(HOSTS.format(ids='"elsewhere"'))
    result = pytester.runpytest_inprocess("cases/mm_one.toml", "--mm-endpoints=hosts.toml", "--co")
    assert result.ret == pytest.ExitCode.OK


def test_glob_patterns_mark_a_whole_suite(pytester, write_hosts, cases) -> None:
    write_hosts(HOSTS.format(ids='"basic-*"'))
    result = pytester.runpytest_inprocess("cases", "--mm-endpoints=hosts.toml", "--co", "-q")
    assert result.ret == pytest.ExitCode.OK
    run = pytester.runpytest_inprocess("cases", "--mm-endpoints=hosts.toml", "-k", "smol")
    run.assert_outcomes(passed=0, xfailed=1, failed=1)  # basic-qa expected, reasoning not
    # A pattern may name a suite this run does not collect: no usage error for it.
    write_hosts(HOSTS.format(ids='"tool-*", "basic-qa"'))
    other = pytester.runpytest_inprocess("cases", "--mm-endpoints=hosts.toml", "--co")
    assert other.ret == pytest.ExitCode.OK
