"""The capability probe: what each endpoint really does, and how runs act on it.

Real servers for the main path (the embedded llama.cpp, with and without a projector);
the fault server only where a real one will not misbehave on demand.  The second real
server (transformers serve) is in tests/test_transformers_server.py.
"""

from __future__ import annotations

import httpx
import pytest

from pytest_mmbench.request.probe import probe
from pytest_mmbench.spec.endpoints import Endpoint
from support import load_report, records_by_case


def run_probe(url: str, model: str = "m", modalities: tuple[str, ...] = ("text",)) -> dict:
    endpoint = Endpoint(id="e", model=model, base_url=url, modalities=modalities)
    with httpx.Client(timeout=60) as http:
        return probe(http, url, endpoint).describe()


def test_llama_cpp_capabilities(llama_url: str) -> None:
    found = run_probe(llama_url)
    assert found["streams"] and found["done_marker"] and found["role_chunk"]
    assert found["usage"] == "separate chunk" and found["timings"] and found["tokenize"]
    assert found["rejected_fields"] == {}
    assert found["accepted_fields"] == ["ignore_eos", "min_tokens", "seed"]
    assert found["evidence"]["base"]["status"] == 200
    assert found["evidence"]["base"]["prompt_tokens"] > 0
    assert found["duration_s"] > 0  # measured; its cost is quoted from benchmarks, not timed here


def test_a_server_rejecting_length_fields_is_found_out(fault_server) -> None:
    found = run_probe(fault_server.url, "fault:strict")
    assert set(found["rejected_fields"]) == {"ignore_eos", "min_tokens"}
    assert "Unexpected fields" in found["rejected_fields"]["ignore_eos"]
    assert found["accepted_fields"] == ["seed"]
    assert found["evidence"]["field ignore_eos"]["status"] == 422


def test_usage_on_the_finish_chunk_and_no_done(fault_server) -> None:
    found = run_probe(fault_server.url, "fault:nodone")
    assert found["usage"] == "finish chunk" and found["done_marker"] is False


def test_media_that_does_not_change_prompt_tokens_is_ignored(fault_server) -> None:
    pytest.importorskip("PIL")
    found = run_probe(fault_server.url, "fault:textonly", modalities=("text", "image"))
    image = found["media"]["image"]
    assert image["verdict"] == "ignored"
    assert image["prompt_tokens_with"] == image["prompt_tokens_without"] == 5 + 5
    control = found["evidence"]["control"]["prompt_tokens"]
    assert control > image["prompt_tokens_without"]  # counts do follow the text


def test_counts_that_never_change_prove_nothing(fault_server) -> None:
    """A server whose prompt_tokens ignore the input cannot show media being dropped."""
    pytest.importorskip("PIL")
    found = run_probe(fault_server.url, "fault:ok", modalities=("text", "image"))
    image = found["media"]["image"]
    assert image["verdict"] == "unverified"
    assert "did not grow with a longer prompt" in image["note"]


def test_without_usage_media_is_unverified(fault_server) -> None:
    pytest.importorskip("PIL")
    found = run_probe(fault_server.url, "fault:nousage", modalities=("text", "image"))
    assert found["usage"] == "none"
    assert found["media"]["image"]["verdict"] == "unverified"
    assert "cannot be verified" in found["media"]["image"]["note"]


def test_llama_cpp_with_a_projector_consumes_images_and_audio(pytester, write_hosts) -> None:
    pytest.importorskip("PIL")
    pytest.importorskip("gguf")
    write_hosts(
        '[endpoints.mm]\nlaunch = "embedded"\nmodalities = ["text", "image", "audio"]\n'
        '[endpoints.mm.embedded]\nprojector = "tiny-random"\n'
    )
    (pytester.path / "mm_v.toml").write_text(
        '[[case]]\nid = "hi"\nmodality = "text"\nprompt = "Hi"\nmax_tokens = 2\n'
        "check = { max_words = 1000 }\n",
        encoding="utf-8",
    )
    pytester.runpytest_inprocess("--mm-endpoints=hosts.toml").assert_outcomes(passed=1)
    document = load_report(pytester.path / "mmbench-report.json")
    media = document["endpoints"][0]["capabilities"]["media"]
    assert media["image"]["verdict"] == "consumed"
    assert media["image"]["prompt_tokens_with"] > media["image"]["prompt_tokens_without"]
    assert media["audio"]["verdict"] == "consumed"


def test_vision_cases_on_a_server_that_drops_images_are_unsupported(
    pytester, write_hosts, fault_server
) -> None:
    """The fake accepts images with HTTP 200 and never counts them, like a text-only
    model behind a lenient server; the real-server version is in the transformers test."""
    pytest.importorskip("PIL")
    write_hosts(
        f'[endpoints.lenient]\nbase_url = "{fault_server.url}"\nmodel = "fault:textonly"\n'
        'modalities = ["text", "image"]\n'
    )
    (pytester.path / "mm_v.toml").write_text(
        '[[case]]\nid = "grid"\nmodality = "vision"\nprompt = "Colours?"\n'
        'images = [{ file = "grid.png" }]\ncheck = { contains = "red" }\n',
        encoding="utf-8",
    )
    from PIL import Image

    Image.new("RGB", (64, 64), (255, 0, 0)).save(pytester.path / "grid.png")
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*server accepted the image but prompt tokens did not change*"])
    result.stdout.fnmatch_lines(["lenient capabilities: image IGNORED (10 prompt tokens with*"])
    (record,) = load_report(pytester.path / "mmbench-report.json")["records"]
    assert record["status"] == "unsupported" and record["rounds"] == []
    assert record["unsupported"]["evidence"]["verdict"] == "ignored"
    assert "the model never saw it" in record["unsupported"]["message"]
    chats = [r["body"] for r in fault_server.requests if "messages" in r["body"]]
    assert all(body["max_tokens"] == 1 for body in chats)  # only the probe was sent


def test_probe_off_sends_no_probe_and_reports_none(pytester, write_hosts, fault_server) -> None:
    write_hosts(f'[endpoints.f]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n')
    (pytester.path / "mm_t.toml").write_text(
        '[[case]]\nid = "t"\nmodality = "text"\nprompt = "Hi"\ncheck = { contains = "Paris" }\n',
        encoding="utf-8",
    )
    pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--mm-probe=off").assert_outcomes(
        passed=1
    )
    document = load_report(pytester.path / "mmbench-report.json")
    assert document["run"]["probe"] is False
    capabilities = document["endpoints"][0]["capabilities"]
    assert capabilities["probed"] is False and capabilities["error"] == "--mm-probe=off"
    assert [r["body"]["max_tokens"] for r in fault_server.requests] == [256]  # no probe
    bad = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--mm-probe=maybe")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--mm-probe*must be on or off*"])


def test_load_point_on_a_strict_server_runs_without_length_fields(
    pytester, write_hosts, fault_server
) -> None:
    write_hosts(f'[endpoints.strict]\nbase_url = "{fault_server.url}"\nmodel = "fault:strict"\n')
    (pytester.path / "mm_load.toml").write_text(
        '[[case]]\nid = "chat"\nmodality = "text"\n'
        "load = { concurrency = [2], requests = 6, input_tokens = 30, output_tokens = 8 }\n",
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_load.toml", "--mm-endpoints=hosts.toml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*chat/c2: output length not enforced (max_tokens only: the endpoint rejects "
            "ignore_eos, min_tokens); 6 (100%) requests missed 8 tokens",
            "strict capabilities: rejects ignore_eos, min_tokens (left out)",
        ]
    )
    (row,) = load_report(pytester.path / "mmbench-report.json")["load"]["strict"]
    assert row["errors"] == 0 and row["completed"] == 6
    assert row["output_length_not_enforced"] is True
    length = row["output_length"]
    assert length["fields_dropped"] == ["ignore_eos", "min_tokens"]
    assert "rejects ignore_eos, min_tokens" in length["enforced_by"]
    assert length["missed"] == 6 and length["missed_share"] == 1.0  # 4 tokens, not 8
    assert row["output_tokens"]["mean"] == 4  # the real lengths
    log = row["request_log"]
    assert [entry["index"] for entry in log] == list(range(6))
    assert all(entry["output_tokens"] == 4 and entry["error"] is None for entry in log)
    starts = [entry["wall_start"] for entry in log]
    assert all(abs(start - row["wall_start"]) < 60 for start in starts)  # epoch seconds


def test_records_say_what_cache_hygiene_was_done(pytester, write_hosts, fault_server) -> None:
    write_hosts(f'[endpoints.f]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n')
    (pytester.path / "mm_t.toml").write_text(
        '[[case]]\nid = "t"\nmodality = "text"\nprompt = "Hi"\ncheck = { contains = "Paris" }\n'
        '[[case]]\nid = "same"\nmodality = "text"\nprompt = "Hi"\nreuse_prefix = true\n'
        'check = { contains = "Paris" }\n',
        encoding="utf-8",
    )
    pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--mm-rounds=2").assert_outcomes(
        passed=2
    )
    records = records_by_case(load_report(pytester.path / "mmbench-report.json"))
    assert "unique [run-case-round] tag" in records[("f", "t")]["cache_hygiene"]
    assert "prefix reuse requested" in records[("f", "same")]["cache_hygiene"]
    chats = [r["body"] for r in fault_server.requests if "messages" in r["body"]]
    sent = [body["messages"][0]["content"] for body in chats if body["max_tokens"] > 1]
    tagged = [text for text in sent if text.endswith("Hi") and text.startswith("[t3-")]
    assert len(set(tagged)) == 2  # two rounds of "t", each with its own tag
    assert sent.count("Hi") == 2  # both rounds of "same" as written


def test_a_field_the_user_asked_for_is_never_dropped(pytester, write_hosts, fault_server) -> None:
    """The endpoint's own extra_body asks for ignore_eos: the strict server's refusal is
    the case's error, with its message, not a silent drop."""
    write_hosts(
        f'[endpoints.strict]\nbase_url = "{fault_server.url}"\nmodel = "fault:strict"\n'
        "extra_body = { ignore_eos = true }\n"
    )
    (pytester.path / "mm_t.toml").write_text(
        '[[case]]\nid = "t"\nmodality = "text"\nprompt = "Hi"\ncheck = { contains = "Paris" }\n',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*HTTP 422: Unexpected fields in the request: {'ignore_eos'}*"])
    (record,) = load_report(pytester.path / "mmbench-report.json")["records"]
    assert record["status"] == "error" and "Unexpected fields" in record["error"]
    sent = [r["body"] for r in fault_server.requests if r["body"].get("max_tokens") == 256]
    assert sent and all(body["ignore_eos"] is True for body in sent)


def test_media_without_usage_is_measured_but_marked_unverified(
    pytester, write_hosts, fault_server
) -> None:
    pytest.importorskip("PIL")
    write_hosts(
        f'[endpoints.quiet]\nbase_url = "{fault_server.url}"\nmodel = "fault:nousage"\n'
        'modalities = ["text", "image"]\n'
    )
    from PIL import Image

    Image.new("RGB", (64, 64), (255, 0, 0)).save(pytester.path / "grid.png")
    (pytester.path / "mm_v.toml").write_text(
        '[[case]]\nid = "grid"\nmodality = "vision"\nprompt = "Colours?"\n'
        'images = [{ file = "grid.png" }]\ncheck = { contains = "Paris" }\n',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["quiet capabilities: sends no usage (token counts estimated); image unverified (*"]
    )
    (record,) = load_report(pytester.path / "mmbench-report.json")["records"]
    assert record["status"] == "passed" and record["media_check"]["verdict"] == "unverified"
    assert record["output_tokens_estimated"] is True
