"""Images end to end: media encoding, sweeps, and a real llama.cpp with a tiny projector."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest

from pytest_mmbench.request.media import ImageSpec, encode_image, with_images
from pytest_mmbench.spec.cases import CaseError, load_case_file
from support import REPO, load_report, records_by_case

PIL = pytest.importorskip("PIL.Image")


def test_images_are_resized_and_encoded_as_asked() -> None:
    url, info = encode_image(ImageSpec("colour-grid.png", size=256, format="jpeg"), REPO / "media")
    assert url.startswith("data:image/jpeg;base64,")
    decoded = PIL.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.format == "JPEG" and decoded.size == (256, 154)  # longest side 256
    assert info == {
        "kind": "image",
        "file": "colour-grid.png",
        "format": "jpeg",
        "width": 256,
        "height": 154,
        "pixels": 256 * 154,
        "bytes": info["bytes"],
    }
    assert info["bytes"] == len(base64.b64decode(url.split(",", 1)[1]))
    _, original = encode_image(ImageSpec("colour-grid.png"), REPO / "media")
    assert (original["width"], original["height"], original["format"]) == (500, 300, "png")


def test_request_shape_puts_images_in_the_last_user_message() -> None:
    messages = with_images(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Describe."}],
        ["data:a", "data:b"],
    )
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1]["content"] == [
        {"type": "text", "text": "Describe."},
        {"type": "image_url", "image_url": {"url": "data:a"}},
        {"type": "image_url", "image_url": {"url": "data:b"}},
    ]


def test_a_size_list_is_a_sweep(tmp_path: Path) -> None:
    path = tmp_path / "mm_v.toml"
    path.write_text(
        '[[case]]\nid = "grid"\nmodality = "vision"\nprompt = "Colours?"\n'
        'images = [{ file = "x.png", size = [256, 512] }]\n'
        'check = { contains = "red" }\n',
        encoding="utf-8",
    )
    cases = load_case_file(path)
    assert [(c.id, c.images[0].size) for c in cases] == [("grid-256px", 256), ("grid-512px", 512)]


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ("[{ size = 256 }]", "needs file"),
        ('[{ file = "x.png", size = 0 }]', "positive whole number"),
        ('[{ file = "x.png", format = "bmp" }]', "format must be one of png, jpeg"),
        ('[{ file = "x.png", dpi = 3 }]', "unknown image key 'dpi'"),
    ],
)
def test_bad_image_entries(tmp_path: Path, images: str, message: str) -> None:
    path = tmp_path / "mm_v.toml"
    path.write_text(
        f'[[case]]\nid = "x"\nmodality = "vision"\nprompt = "p"\nimages = {images}\n'
        'check = { contains = "a" }\n',
        encoding="utf-8",
    )
    with pytest.raises(CaseError, match=message):
        load_case_file(path)


def test_image_sweep_on_llama_cpp_with_the_tiny_projector(pytester, write_hosts) -> None:
    pytest.importorskip("gguf")
    write_hosts("""
        [endpoints.mm]
        launch = "embedded"
        modalities = ["text", "image"]
        extra_body = { ignore_eos = true }
        [endpoints.mm.embedded]
        projector = "tiny-random"
        [endpoints.textonly]
        launch = "embedded"
        """)
    (pytester.path / "grid.png").write_bytes((REPO / "media" / "colour-grid.png").read_bytes())
    (pytester.path / "mm_v.toml").write_text(
        '[[case]]\nid = "grid"\nmodality = "vision"\nprompt = "Colours?"\nmax_tokens = 4\n'
        'images = [{ file = "grid.png", size = [128, 256, 512] }]\ncheck = { contains = "red" }\n',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_v.toml", "--mm-endpoints=hosts.toml", "-rs")
    result.assert_outcomes(failed=3, skipped=3)  # random answers fail; textonly skips
    result.stdout.fnmatch_lines(
        [
            "*case grid-128px failed its check on endpoint mm*",
            "*endpoint textonly does not accept image*",
        ]
    )
    records = records_by_case(load_report(pytester.path / "mmbench-report.json"))
    tokens, ttfts = [], []
    for size in (128, 256, 512):
        record = records[("mm", f"grid-{size}px")]
        assert record["status"] == "failed" and record["answer"]  # the answer is shown
        metrics = record["rounds"][0]["metrics"]
        assert record["media"]["images"] == 1 and record["media"]["items"][0]["width"] == size
        assert metrics["output_tokens"] == 4 and metrics["ttft_ms"] > 0
        tokens.append(metrics["input_tokens"])
        ttfts.append(metrics["ttft_ms"])
    assert tokens[0] < tokens[1] < tokens[2], tokens  # anyres tiling: more pixels, more tokens
    assert ttfts[0] < ttfts[2], ttfts


def test_a_server_that_refuses_images_is_unsupported_not_a_crash(
    pytester, write_hosts, llama_url
) -> None:
    # The shared server has no projector: it declares nothing, but hosts.toml says it
    # takes images, so the server's refusal is what the report must show.
    write_hosts(
        f'[endpoints.smol]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n'
        'modalities = ["text", "image"]\n'
    )
    (pytester.path / "grid.png").write_bytes((REPO / "media" / "colour-grid.png").read_bytes())
    (pytester.path / "mm_v.toml").write_text(
        '[[case]]\nid = "grid"\nmodality = "vision"\nprompt = "Colours?"\nmax_tokens = 4\n'
        'images = [{ file = "grid.png", size = 64 }]\ncheck = { contains = "red" }\n',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_v.toml", "--mm-endpoints=hosts.toml", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            "grid * unsupported",
            "*endpoint smol cannot take image input (HTTP 500: image input is not supported*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    document = load_report(pytester.path / "mmbench-report.json")
    record = records_by_case(document)[("smol", "grid")]
    assert record["status"] == "unsupported"
    assert record["unsupported"]["modality"] == "image"
    assert "image input is not supported" in record["unsupported"]["message"]
    assert document["summary"]["smol"]["unsupported"] == 1


def test_http_image_urls_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "mm_v.toml"
    path.write_text(
        '[[case]]\nid = "web"\nmodality = "vision"\nprompt = "What is this?"\n'
        'images = [{ url = "https://example.org/cat.png" }]\n'
        'check = { contains = "cat" }\n',
        encoding="utf-8",
    )
    (case,) = load_case_file(path)
    url, info = encode_image(case.images[0], tmp_path)
    assert url == "https://example.org/cat.png" and info["format"] == "url"
    bad = tmp_path / "mm_bad.toml"
    bad.write_text(
        '[[case]]\nid = "x"\nmodality = "vision"\nprompt = "p"\n'
        'images = [{ url = "ftp://x" }]\ncheck = { contains = "a" }\n',
        encoding="utf-8",
    )
    with pytest.raises(CaseError, match="url must be an http"):
        load_case_file(bad)


def test_python_tests_send_media_through_mm_bench(pytester, write_hosts, fault_server) -> None:
    write_hosts(
        f'[endpoints.fake]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n'
        'modalities = ["text", "image"]\n'
    )
    (pytester.path / "grid.png").write_bytes((REPO / "media" / "colour-grid.png").read_bytes())
    pytester.makepyfile(
        test_media="""
        import pytest

        @pytest.mark.vision
        def test_grid(mm_bench):
            result = mm_bench.chat("Colours?", images=[{"file": "grid.png", "size": 100}],
                                   max_tokens=4)
            assert result.media["images"] == 1
        """
    )
    # The fake's usage never changes with media, so the probe would rule images out
    # (tests/test_probe.py); here only what is sent matters.
    run = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--mm-probe=off")
    run.assert_outcomes(passed=1)
    (request,) = [r["body"] for r in fault_server.requests if r["body"].get("stream")]
    parts = request["messages"][0]["content"]
    assert re.fullmatch(r"\[t3-[0-9a-f]{4}-0\] Colours\?", parts[0]["text"])  # the round's tag
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    record = load_report(pytester.path / "mmbench-report.json")["records"][0]
    assert record["media"]["items"][0]["width"] == 100


def test_energy_per_image_when_energy_was_measured() -> None:
    from pytest_mmbench.results.checks import CheckOutcome
    from pytest_mmbench.results.metrics import RequestMetrics
    from pytest_mmbench.results.records import CaseResult, RoundResult

    result = CaseResult(
        endpoint="e",
        case_id="c",
        marker="vision",
        media={
            "images": 2,
            "pixels": 10,
            "audio_seconds": 0,
            "video_frames_sent": 0,
            "bytes": 1,
            "items": [],
        },
    )
    round_ = RoundResult(
        0, RequestMetrics(), "a", "", "stop", 200, CheckOutcome(True, "ok"), None, None, None
    )
    round_.telemetry = {"energy_j": 30.0}
    result.rounds.append(round_)
    media = result.to_dict()["media"]
    assert media["j_per_image"] == pytest.approx(15.0)
    assert media["j_per_audio_second"] is None and media["j_per_video_frame"] is None
    assert "energy_missing" not in media
