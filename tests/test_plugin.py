"""The plugin as a user drives it: options, selection, skips, failures, the report."""

from __future__ import annotations

import json
import textwrap

import pytest

from support import case_file, load_report, records_by_case

SMALL_CASES = """
[[case]]
id = "capital"
modality = "text"
system = "You are a helpful assistant."
prompt = "What is the capital of France?"
max_tokens = 12
check = { contains = "Paris" }

[[case]]
id = "describe-image"
modality = "vision"
prompt = "Describe the image."
max_tokens = 8
check = { contains = "red" }

[[case]]
id = "transcribe"
modality = "audio"
prompt = "Transcribe."
max_tokens = 8
check = { contains = "hello" }
"""


@pytest.fixture
def small_cases(pytester: pytest.Pytester) -> None:
    (pytester.path / "cases").mkdir()
    (pytester.path / "cases" / "mm_small.toml").write_text(SMALL_CASES, encoding="utf-8")


def test_bad_hosts_file_stops_the_run_with_one_clear_error(pytester, write_hosts) -> None:
    write_hosts('[endpoints.qwen]\nbase_url = "http://h/v1"\nmodel = "q"\nmodalities = ["smell"]\n')
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *hosts.toml: endpoint 'qwen': key 'modalities': unknown modality 'smell'*"]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--mm-rounds=zero"],
            {},
            "--mm-rounds (or MM_BENCH_ROUNDS / ini mm_rounds) must be a whole number",
        ),
        (["--mm-rounds=0"], {}, "must be >= 1, got 0"),
        (
            [],
            {"MM_BENCH_WARMUP": "-2"},
            "--mm-warmup (or MM_BENCH_WARMUP / ini mm_warmup) must be >= 0",
        ),
        (["--mm-endpoints=missing.toml"], {}, "*missing.toml: file not found*"),
    ],
)
def test_bad_options_are_usage_errors(pytester, monkeypatch, args, env, message) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_modality_skips_selection_and_report(pytester, write_hosts, small_cases, llama_url) -> None:
    write_hosts(f"""
        [endpoints.smol]
        base_url = "{llama_url}"
        model = "smollm2"
        modalities = ["text", "audio"]
        hardware = "CPU"
        [endpoints.textonly]
        base_url = "{llama_url}"
        model = "smollm2"
        """)
    result = pytester.runpytest_inprocess(
        "cases", "--mm-endpoints=hosts.toml", "-rs", "-m", "text or vision", "--strict-markers"
    )
    # 2 endpoints x (capital + describe-image); transcribe deselected by -m
    result.assert_outcomes(passed=2, skipped=2, deselected=2)
    result.stdout.fnmatch_lines(
        ["*endpoint smol does not accept image*", "*endpoint textonly does not accept image*"]
    )
    document = load_report(pytester.path / "mmbench-report.json")
    records = records_by_case(document)
    assert set(records) == {
        ("smol", "capital"),
        ("textonly", "capital"),
        ("smol", "describe-image"),
        ("textonly", "describe-image"),
    }
    skipped = records[("smol", "describe-image")]
    assert skipped["status"] == "skipped"
    assert skipped["skip_reason"] == "endpoint smol does not accept image"
    assert records[("smol", "capital")]["status"] == "passed"
    assert document["summary"]["smol"]["passed"] == 1
    assert document["summary"]["smol"]["skipped"] == 1

    by_k = pytester.runpytest_inprocess(
        "cases", "--mm-endpoints=hosts.toml", "-k", "textonly", "-m", "text"
    )
    by_k.assert_outcomes(passed=1, deselected=5)


def test_down_server_is_recorded_and_other_endpoints_still_run(
    pytester, write_hosts, small_cases, llama_url, fault_server
) -> None:
    write_hosts(f"""
        [endpoints.alive]
        base_url = "{llama_url}"
        model = "smollm2"
        [endpoints.broken]
        base_url = "{fault_server.url}"
        model = "fault:http500"
        [endpoints.down]
        base_url = "http://127.0.0.1:9/v1"
        model = "nothing"
        timeout_s = 3
        """)
    result = pytester.runpytest_inprocess("cases", "--mm-endpoints=hosts.toml", "-m", "text")
    result.assert_outcomes(passed=1, failed=2, deselected=6)
    result.stdout.fnmatch_lines(
        [
            "*endpoint broken error: HTTP 500: model crashed*",
            "*endpoint down error: cannot connect*",
        ]
    )
    records = records_by_case(load_report(pytester.path / "mmbench-report.json"))
    assert records[("alive", "capital")]["status"] == "passed"
    for endpoint in ("broken", "down"):
        record = records[(endpoint, "capital")]
        assert record["status"] == "error" and record["error"]
        round_ = record["rounds"][0]
        assert round_["metrics"]["ttft_ms"] is None and round_["metrics"]["output_tok_s"] is None
        assert "request failed" in round_["metrics"]["missing"]["output_tok_s"]
    assert records[("broken", "capital")]["rounds"][0]["error_kind"] == "http"
    assert records[("down", "capital")]["rounds"][0]["error_kind"] == "connect"


def test_rounds_and_warmup(pytester, write_hosts, fault_server) -> None:
    write_hosts(f'[endpoints.fake]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n')
    case_file(pytester.path, "c", "d")
    result = pytester.runpytest_inprocess(
        "mm_one.toml", "--mm-endpoints=hosts.toml", "--mm-rounds=3", "--mm-warmup=2"
    )
    result.assert_outcomes(passed=2)
    chats = [r for r in fault_server.requests if "messages" in r["body"]]
    measured = [r for r in chats if r["body"]["max_tokens"] != 1]
    assert len(measured) == 2 + 2 * 3  # warm-up once per endpoint, not per case
    probe = [r for r in chats if r["body"]["max_tokens"] == 1]
    assert len(probe) == 2  # the capability probe: once per endpoint, 2 tiny requests
    document = load_report(pytester.path / "mmbench-report.json")
    assert document["run"]["rounds"] == 3 and document["run"]["warmup"] == 2
    assert document["endpoints"][0]["runtime"]["warmup_requests"] == 2
    record = records_by_case(document)[("fake", "c")]
    assert [r["index"] for r in record["rounds"]] == [0, 1, 2]
    ttft = record["summary"]["ttft_ms"]
    assert ttft["n"] == 3 and ttft["min"] <= ttft["mean"] <= ttft["max"]
    assert ttft["stddev"] is not None


def test_ini_and_env_settings(pytester, write_hosts, fault_server, monkeypatch) -> None:
    write_hosts(f'[endpoints.fake]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n')
    case_file(pytester.path, "c", contains="Paris")
    pytester.makeini("[pytest]\nmm_endpoints = hosts.toml\nmm_rounds = 2\nmm_report = out/r.json\n")
    monkeypatch.setenv("MM_BENCH_ROUNDS", "4")  # environment beats ini
    result = pytester.runpytest_inprocess("mm_one.toml", "--mm-report=cli.json")  # CLI beats both
    result.assert_outcomes(passed=1)
    document = load_report(pytester.path / "cli.json")
    assert document["run"]["rounds"] == 4
    assert not (pytester.path / "out").exists()


def test_api_key_never_reaches_report_junit_or_output(
    pytester, write_hosts, fault_server, monkeypatch
) -> None:
    secret = "sk-live-DO-NOT-LEAK-4242"
    monkeypatch.setenv("FAKE_API_KEY", secret)
    write_hosts(f"""
        [endpoints.fake]
        base_url = "{fault_server.url}"
        model = "fault:http500"
        api_key_env = "FAKE_API_KEY"
        """)
    case_file(pytester.path, "c", contains="Paris")
    result = pytester.runpytest_inprocess(
        "mm_one.toml", "--mm-endpoints=hosts.toml", "--junitxml=junit.xml", "-v"
    )
    result.assert_outcomes(failed=1)
    assert fault_server.requests[0]["headers"]["Authorization"] == f"Bearer {secret}"
    report_text = (pytester.path / "mmbench-report.json").read_text(encoding="utf-8")
    assert secret not in report_text
    assert '"api_key_env": "FAKE_API_KEY"' in report_text
    assert secret not in (pytester.path / "junit.xml").read_text(encoding="utf-8")
    assert secret not in result.stdout.str() + result.stderr.str()


def test_python_test_with_fixtures(pytester, write_hosts, llama_url) -> None:
    write_hosts(
        f'[endpoints.smol]\nbase_url = "{llama_url}"\nmodel = "smollm2"\nmodalities = ["text"]\n'
    )
    pytester.makepyfile(
        test_custom=textwrap.dedent("""
        import pytest

        @pytest.mark.text
        def test_capital(mm_bench, mm_endpoint):
            assert mm_endpoint.id == "smol"
            result = mm_bench.chat("What is the capital of France?",
                                   system="You are a helpful assistant.", max_tokens=12,
                                   check={"contains": "Paris"})
            assert result.status == "passed", result.answer

        @pytest.mark.text
        def test_own_assertion_fails(mm_bench):
            result = mm_bench.chat("Say hi.", max_tokens=4)
            assert "zebra-never" in result.answer

        @pytest.mark.vision
        def test_needs_images(mm_bench):
            mm_bench.chat("Describe", max_tokens=4)

        def test_unrelated():
            assert True
        """)
    )
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "-rs")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*endpoint smol does not accept image*"])
    records = records_by_case(load_report(pytester.path / "mmbench-report.json"))
    assert set(records) == {
        ("smol", "test_capital"),
        ("smol", "test_own_assertion_fails"),
        ("smol", "test_needs_images"),
    }
    capital = records[("smol", "test_capital")]
    assert capital["status"] == "passed" and "Paris" in capital["answer"]
    own = records[("smol", "test_own_assertion_fails")]
    assert own["status"] == "failed" and own["pytest_outcome"] == "failed"
    assert own["rounds"][0]["metrics"]["ttft_ms"] > 0


def test_no_benchmark_case_means_no_set_up_no_server_and_no_report(pytester, monkeypatch) -> None:
    """A project that collects no mm case never loads the session, the request core or
    the report writer: the plugin costs it only its own import."""
    monkeypatch.delenv("MM_BENCH_RUN_ID")  # an mm setting: it would set the plugin up
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    pytester.makeconftest(
        textwrap.dedent("""
        import json, sys
        from pytest_mmbench.state import is_active

        def pytest_unconfigure(config):
            loaded = sorted(m for m in sys.modules if m.startswith("pytest_mmbench"))
            with open("loaded.json", "w") as handle:
                json.dump({"active": is_active(config), "loaded": loaded}, handle)
        """)
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "mmbench-report.json").exists()
    seen = json.loads((pytester.path / "loaded.json").read_text())
    assert seen["active"] is False
    heavy = {"glue.runtime", "run.session", "request.transport", "report.collector", "config"}
    assert not heavy & {m.removeprefix("pytest_mmbench.") for m in seen["loaded"]}
    assert "mmbench summary" not in result.stdout.str()
    assert "mmbench:" not in result.stdout.str()


def test_a_case_file_alone_sets_the_plugin_up(pytester, monkeypatch) -> None:
    """No mm setting anywhere: the first collected case file sets the session up, on
    the default endpoint."""
    monkeypatch.delenv("MM_BENCH_RUN_ID")
    case_file(pytester.path, "hi", name="mm_cases.toml")
    pytester.makeconftest(
        textwrap.dedent("""
        from pytest_mmbench.state import is_active

        def pytest_collection_finish(session):
            print("active after collection:", is_active(session.config))
        """)
    )
    result = pytester.runpytest_inprocess("--collect-only", "-s")
    assert "active after collection: True" in result.stdout.str()
    assert "<CaseItem hi[local]>" in result.stdout.str()
    assert "running on the embedded" in result.stdout.str()


def test_interrupted_run_still_writes_what_was_measured(pytester, write_hosts, llama_url) -> None:
    write_hosts(f'[endpoints.smol]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n')
    pytester.makepyfile(
        test_stop=textwrap.dedent("""
        def test_a_measured(mm_bench):
            mm_bench.chat("Say hi.", max_tokens=4)

        def test_b_interrupt(mm_bench):
            raise KeyboardInterrupt
        """)
    )
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    document = load_report(pytester.path / "mmbench-report.json")
    assert document["run"]["interrupted"] is True
    measured = records_by_case(document)[("smol", "test_a_measured")]
    assert measured["rounds"][0]["metrics"]["output_tokens"] > 0


def test_expect_fail_marks_known_weaknesses(pytester, write_hosts, fault_server) -> None:
    write_hosts(
        f'[endpoints.fake]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n'
        'expect_fail = ["wrong"]\n'
    )
    case_file(pytester.path, "wrong", contains="Rome")
    result = pytester.runpytest_inprocess("mm_one.toml", "--mm-endpoints=hosts.toml")
    result.assert_outcomes(xfailed=1)
    record = load_report(pytester.path / "mmbench-report.json")["records"][0]
    assert record["status"] == "failed" and record["pytest_outcome"] == "xfailed"
    assert "FAIL(expected)" in result.stdout.str()


def test_failed_check_shows_prompt_check_and_answer(pytester, write_hosts, fault_server) -> None:
    write_hosts(f'[endpoints.fake]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n')
    case_file(pytester.path, "rome", contains="Rome", prompt="Capital of Italy?")
    result = pytester.runpytest_inprocess("mm_one.toml", "--mm-endpoints=hosts.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*case rome failed its check on endpoint fake*",
            "*user: Capital of Italy?*",
            "*result: contains: FAIL (contains none of ?'Rome'?)*",
            "*Paris is the capital*",
        ]
    )


def test_bad_case_file_is_a_collection_error_naming_the_case(pytester) -> None:
    (pytester.path / "mm_bad.toml").write_text(
        '[[case]]\nid = "x"\nmodality = "text"\nprompt = "p"\ncheck = { contians = "a" }\n',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_bad.toml")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest stops on collection errors
    result.stdout.fnmatch_lines(["*mm_bad.toml: case 'x': key 'check': unknown check kind*"])
    assert "Traceback" not in result.stdout.str()


def test_hooks_extend_records_and_metadata(pytester, write_hosts, fault_server) -> None:
    write_hosts(f'[endpoints.fake]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n')
    case_file(pytester.path, "c", contains="Paris")
    pytester.makeconftest(
        textwrap.dedent("""
        def pytest_mm_run_metadata(config, metadata):
            metadata["lab"] = "bench-room-2"

        def pytest_mm_case_record(config, record):
            record["extra"]["answer_chars"] = len(record["answer"])
        """)
    )
    pytester.runpytest_inprocess("mm_one.toml", "--mm-endpoints=hosts.toml").assert_outcomes(
        passed=1
    )
    document = load_report(pytester.path / "mmbench-report.json")
    assert document["run"]["lab"] == "bench-room-2"
    assert document["records"][0]["extra"] == {"answer_chars": len("Paris is the capital")}


def test_a_key_echoed_by_the_server_is_scrubbed_everywhere(
    pytester, write_hosts, fault_server, monkeypatch
) -> None:
    secret = "sk-live-ECHOED-BACK-9191"
    monkeypatch.setenv("FAKE_API_KEY", secret)
    write_hosts(
        f'[endpoints.echo]\nbase_url = "{fault_server.url}"\nmodel = "fault:echokey"\n'
        'api_key_env = "FAKE_API_KEY"\n'
    )
    (pytester.path / "mm_t.toml").write_text(
        '[[case]]\nid = "t"\nmodality = "text"\nprompt = "Hi"\ncheck = { contains = "Paris" }\n',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "invalid key: Bearer ***" in output  # the message is kept, the key is not
    assert secret not in output
    assert secret not in (pytester.path / "junit.xml").read_text(encoding="utf-8")
    assert secret not in (pytester.path / "mmbench-report.json").read_text(encoding="utf-8")
