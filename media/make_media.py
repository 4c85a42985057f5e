"""Regenerate media/ (from the repository root: python media/make_media.py [--speech]).

Every image is drawn here with Pillow, so the files are license-clean and their
content is known exactly: the checks in cases/mm_vision.toml rely on it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 70, 220),
    "yellow": (240, 210, 20),
    "purple": (130, 40, 160),
}


def colour_grid() -> Image.Image:
    """Five vertical stripes, left to right: red, green, blue, yellow, purple."""
    picture = Image.new("RGB", (500, 300), "white")
    draw = ImageDraw.Draw(picture)
    for i, rgb in enumerate(COLOURS.values()):
        draw.rectangle((i * 100, 0, i * 100 + 99, 299), fill=rgb)
    return picture


def shapes() -> Image.Image:
    """A red circle on the left, a blue square on the right, on white."""
    picture = Image.new("RGB", (480, 240), "white")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((40, 50, 180, 190), fill=COLOURS["red"])
    draw.rectangle((300, 50, 440, 190), fill=COLOURS["blue"])
    return picture


def ocr() -> Image.Image:
    """Large black text on white: INVOICE 4721."""
    picture = Image.new("RGB", (640, 200), "white")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=72)
    draw.text((30, 55), "INVOICE 4721", fill="black", font=font)
    return picture


def counting() -> Image.Image:
    """Seven black dots in a row."""
    picture = Image.new("RGB", (700, 160), "white")
    draw = ImageDraw.Draw(picture)
    for i in range(7):
        draw.ellipse((30 + i * 95, 45, 100 + i * 95, 115), fill="black")
    return picture


# --- audio ------------------------------------------------------------------------------------
# Speech is made once with Debian's espeak-ng (`python media/make_media.py --speech`) and the
# WAVs are committed, so tests and CI never need espeak-ng; the tone needs only numpy.
SPEECH = {
    "speech-fox": "The quick brown fox jumps over the lazy dog.",
    "speech-question": "What is the capital of France?",
}


def speech(name: str, text: str) -> None:
    import subprocess

    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(HERE / f"{name}.wav"), text], check=True
    )


def tone() -> None:
    """Two seconds of a 440 Hz sine at 16 kHz: audio with no words in it."""
    import numpy as np
    import soundfile

    t = np.arange(0, 2.0, 1 / 16000)
    soundfile.write(
        HERE / "tone-440hz.wav",
        (0.3 * np.sin(2 * np.pi * 440 * t)).astype("float32"),
        16000,
        subtype="PCM_16",
    )


def video() -> None:
    """8 s of 1280x720 at 8 fps: seconds 0-3 show a blue square, seconds 4-7 a red circle,
    with the second number written large, so a frame-aware answer can be checked."""
    import av
    import numpy as np

    font = ImageFont.load_default(size=160)
    with av.open(str(HERE / "clip-8s.mp4"), mode="w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"crf": "32", "preset": "veryfast"}
        for index in range(64):
            second = index // 8
            frame = Image.new("RGB", (1280, 720), "white")
            draw = ImageDraw.Draw(frame)
            if second < 4:
                draw.rectangle((140, 210, 440, 510), fill=COLOURS["blue"])
            else:
                draw.ellipse((140, 210, 440, 510), fill=COLOURS["red"])
            draw.text((760, 260), str(second), fill="black", font=font)
            picture = av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode())


def main() -> None:
    import sys

    for name, make in (
        ("colour-grid", colour_grid),
        ("shapes", shapes),
        ("ocr", ocr),
        ("counting", counting),
    ):
        make().save(HERE / f"{name}.png", optimize=True)
    tone()
    video()
    if "--speech" in sys.argv:
        for name, text in SPEECH.items():
            speech(name, text)


if __name__ == "__main__":
    main()
