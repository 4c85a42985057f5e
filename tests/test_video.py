"""Video in both request shapes, against llama.cpp with the tiny projector."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_mmbench.request.media import VideoSettings, encode_video
from support import REPO, load_report, records_by_case

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")


def make_clip(path: Path, seconds: int, fps: int = 4, size: tuple[int, int] = (64, 36)) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(seconds * fps):
            pixels = np.full((size[1], size[0], 3), (i * 20) % 255, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())


def test_frames_mode_samples_at_the_requested_rate_and_size() -> None:
    parts, info = encode_video(
        "clip-8s.mp4", REPO / "media", VideoSettings(mode="frames", fps=1.0, frame_size=320)
    )
    assert len(parts) == 8 and info["frames"] == 8 and info["seconds"] == pytest.approx(8, 0.05)
    assert all(p["type"] == "image_url" for p in parts)
    assert (info["width"], info["height"]) == (1280, 720)  # the source; frames were resized
    half, _ = encode_video("clip-8s.mp4", REPO / "media", VideoSettings("frames", 0.5, 320))
    assert len(half) == 4


def test_video_url_mode_sends_the_file_as_one_part() -> None:
    parts, info = encode_video("clip-8s.mp4", REPO / "media", VideoSettings())
    assert len(parts) == 1 and parts[0]["type"] == "video_url"
    assert parts[0]["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert info["bytes"] == (REPO / "media" / "clip-8s.mp4").stat().st_size


@pytest.mark.parametrize(
    "mode",
    [
        "frames",
        pytest.param(
            "video_url",
            marks=pytest.mark.skipif(
                shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                reason="llama.cpp's video_url needs ffmpeg and ffprobe on PATH "
                "(.ci/run installs them)",
            ),
        ),
    ],
)
def test_video_on_llama_cpp_with_the_tiny_projector(pytester, write_hosts, mode: str) -> None:
    pytest.importorskip("gguf")
    write_hosts(f"""
        [endpoints.mm]
        launch = "embedded"
        modalities = ["text", "video"]
        extra_body = {{ ignore_eos = true }}
        video = "{mode}"
        video_fps = 1
        video_frame_size = 64
        [endpoints.mm.embedded]
        projector = "tiny-random"
        """)
    make_clip(pytester.path / "short.mp4", 2)
    make_clip(pytester.path / "long.mp4", 6)
    (pytester.path / "mm_video.toml").write_text(
        "".join(
            f'[[case]]\nid = "{name}"\nmodality = "video"\nprompt = "What happens?"\n'
            f'max_tokens = 3\nvideo = {{ file = "{name}.mp4" }}\n'
            'check = { contains = "circle" }\n'
            for name in ("short", "long")
        ),
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_video.toml", "--mm-endpoints=hosts.toml")
    result.assert_outcomes(failed=2)  # random answers; the measurement is what is tested
    records = records_by_case(load_report(pytester.path / "mmbench-report.json"))
    short, long = records[("mm", "short")], records[("mm", "long")]
    for record in (short, long):
        assert record["status"] == "failed" and record["media"]["videos"] == 1
        assert record["rounds"][0]["metrics"]["ttft_ms"] > 0
    if mode == "frames":
        assert (short["media"]["video_frames_sent"], long["media"]["video_frames_sent"]) == (2, 6)
    tokens = [r["rounds"][0]["metrics"]["input_tokens"] for r in (short, long)]
    assert tokens[0] < tokens[1], tokens  # more video, more prompt tokens
