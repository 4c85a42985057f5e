"""Case ids of Python tests are the same on every endpoint, whatever the endpoint's id."""

from __future__ import annotations

import textwrap

from support import load_report

# Nothing listens on port 9: the tests below never send a request.
HOSTS = """
[endpoints.gemma-3090]
base_url = "http://127.0.0.1:9/v1"
model = "gemma"
[endpoints.local]
base_url = "http://127.0.0.1:9/v1"
model = "smollm2"
"""

TESTS = """
import pytest

@pytest.fixture(params=["f1", "f-2"])
def size(request):
    return request.param

def test_hi(mm_endpoint):
    pytest.skip("no request")

@pytest.mark.parametrize("word", ["a", "gemma-3090"])
def test_x(mm_endpoint, word):
    pytest.skip("no request")

@pytest.mark.parametrize(("word", "where"), [("a", "local")])
def test_pair(mm_endpoint, word, where):
    pytest.skip("no request")

def test_fixture_param(size, mm_endpoint):
    pytest.skip("no request")
"""


def test_case_id_leaves_out_only_the_endpoint_parameter(pytester, write_hosts) -> None:
    write_hosts(HOSTS)
    pytester.makepyfile(test_ids=textwrap.dedent(TESTS))
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml")
    result.assert_outcomes(skipped=12)
    records = load_report(pytester.path / "mmbench-report.json")["records"]
    by_endpoint: dict[str, set[str]] = {}
    for record in records:
        by_endpoint.setdefault(record["endpoint"], set()).add(record["case_id"])
    expected = {
        "test_hi",
        "test_x[a]",
        "test_x[gemma-3090]",
        "test_pair[a-local]",
        "test_fixture_param[f1]",
        "test_fixture_param[f-2]",
    }
    assert by_endpoint == {"gemma-3090": expected, "local": expected}
