"""media/make_media.py regenerates the committed media with the content the cases expect."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from support import REPO

pytest.importorskip("PIL")
soundfile = pytest.importorskip("soundfile")
av = pytest.importorskip("av")


def load_script(folder: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_media", REPO / "media" / "make_media.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.HERE = folder  # write into the test's folder, not the repository
    return module


def test_images_have_known_content(tmp_path: Path) -> None:
    script = load_script(tmp_path)
    grid = script.colour_grid()
    # five stripes left to right: red, green, blue, yellow, purple
    assert [grid.getpixel((50 + 100 * i, 150)) for i in range(5)] == list(script.COLOURS.values())
    shapes = script.shapes()
    assert shapes.getpixel((110, 120)) == script.COLOURS["red"]  # circle on the left
    assert shapes.getpixel((370, 120)) == script.COLOURS["blue"]  # square on the right
    counting = script.counting()
    assert sum(counting.getpixel((65 + 95 * i, 80)) == (0, 0, 0) for i in range(7)) == 7


def test_tone_and_video(tmp_path: Path) -> None:
    script = load_script(tmp_path)
    script.tone()
    info = soundfile.info(str(tmp_path / "tone-440hz.wav"))
    assert (info.samplerate, round(info.duration, 2)) == (16000, 2.0)
    script.video()
    with av.open(str(tmp_path / "clip-8s.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 64 and (frames[0].width, frames[0].height) == (1280, 720)
    first, late = frames[0].to_image(), frames[44].to_image()  # second 0 and second 5
    red, blue = script.COLOURS["red"], script.COLOURS["blue"]

    def near(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
        return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=True))

    assert near(first.getpixel((290, 360)), blue) and near(late.getpixel((290, 360)), red)


def test_committed_media_exist() -> None:
    for name in (
        "colour-grid.png",
        "shapes.png",
        "ocr.png",
        "counting.png",
        "speech-fox.wav",
        "speech-question.wav",
        "tone-440hz.wav",
        "clip-8s.mp4",
    ):
        assert (REPO / "media" / name).stat().st_size > 0, name
