"""Regenerate media/ (from the repository root: python media/make_media.py [--speech]).

Every image is drawn here with Pillow, so the files are license-clean and their
content is known exactly: the checks in cases/mm_vision.toml and cases/mm_vision_eval.toml
rely on it.
"""

from __future__ import annotations

import math
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


# --- vision eval suite (cases/mm_vision_eval.toml) --------------------------------------------
# Five categories, a few images each; every answer is a fact of the drawing below, and
# tests/test_media_script.py checks each one with a pixel scan.
STEEL = (150, 155, 165)
STEEL_DARK = (100, 105, 115)
CRACK = (15, 15, 15)
GLASS = (30, 130, 70)
LABEL = (245, 235, 200)
INK = (20, 40, 120)

GEAR_CENTRES = [(70 + 120 * i, 105) for i in range(5)]
GEAR_RADIUS = 38
GEAR_MISSING_TOOTH = 4  # 1-based, from the left; the tooth at 12 o'clock is gone
BOTTLE_LEFTS = [30 + 90 * i for i in range(6)]
BOTTLE_WITHOUT_CAP = 2  # 1-based, from the left
BOLT_CENTRES = [60 + 100 * i for i in range(5)]
BOLT_CRACKED = 3  # 1-based, from the left, in defect-bolts-cracked.png only
CRACK_POINTS = [(-15, 97), (-9, 104), (-4, 100), (2, 113), (8, 109), (15, 121)]  # bolt x + dx

INVOICE_ITEMS = [
    ("Hammer", 2, "12.50", "25.00"),
    ("Wrench set", 1, "38.90", "38.90"),
    ("Screws (box)", 3, "7.50", "22.50"),
]
INVOICE_TOTAL = "86.40"
RECEIPT_VENDOR = "BLUE FERN CAFE"
FORM_FIELDS = [
    ("Name", "Maria Lopez"),
    ("Employee ID", "E-2087"),
    ("Date of birth", "02 Jun 1988"),
    ("Start date", "14 Mar 2024"),
    ("Department", "Logistics"),
]

SQUARE_CORNERS = [(40, 40), (300, 30), (150, 180), (380, 190)]  # 4 blue squares
TRIANGLE_CORNERS = [
    (30, 30),
    (160, 60),
    (300, 20),
    (450, 50),
    (60, 200),
    (200, 250),
    (330, 170),
    (480, 230),
    (250, 100),
]
MIXED_CIRCLES = [
    ((90, 70), "red"),
    ((235, 80), "blue"),
    ((370, 60), "blue"),
    ((515, 75), "red"),
    ((80, 185), "blue"),
    ((225, 175), "red"),
    ((375, 190), "blue"),
    ((510, 180), "blue"),
    ((95, 290), "red"),
    ((240, 285), "blue"),
    ((380, 295), "red"),
]
ODD_ONE_OUT = 4  # 1-based: a square among circles


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _gear(draw: ImageDraw.ImageDraw, centre: tuple[int, int], missing: bool) -> None:
    cx, cy = centre
    r = GEAR_RADIUS
    for k in range(10):
        if missing and k == 0:
            continue
        a = math.radians(-90 + 36 * k)
        u, t = (math.cos(a), math.sin(a)), (-math.sin(a), math.cos(a))
        corners = [(r - 4, 8), (r + 14, 6), (r + 14, -6), (r - 4, -8)]
        draw.polygon(
            [
                (round(cx + u[0] * d + t[0] * w), round(cy + u[1] * d + t[1] * w))
                for d, w in corners
            ],
            fill=STEEL,
        )
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=STEEL)
    draw.ellipse((cx - 11, cy - 11, cx + 11, cy + 11), fill="white")


def defect_gears() -> Image.Image:
    """Five identical ten-tooth gears in a row; the fourth has lost its top tooth."""
    picture = Image.new("RGB", (620, 210), "white")
    draw = ImageDraw.Draw(picture)
    for i, centre in enumerate(GEAR_CENTRES):
        _gear(draw, centre, missing=i + 1 == GEAR_MISSING_TOOTH)
    return picture


def defect_bottles() -> Image.Image:
    """Six green bottles with red caps in a row; the second has no cap."""
    picture = Image.new("RGB", (570, 300), "white")
    draw = ImageDraw.Draw(picture)
    for i, x in enumerate(BOTTLE_LEFTS):
        draw.rectangle((x, 120, x + 60, 270), fill=GLASS)
        draw.polygon([(x, 120), (x + 60, 120), (x + 42, 90), (x + 18, 90)], fill=GLASS)
        draw.rectangle((x + 18, 60, x + 42, 90), fill=GLASS)
        draw.rectangle((x + 8, 170, x + 52, 215), fill=LABEL)
        if i + 1 != BOTTLE_WITHOUT_CAP:
            draw.rectangle((x + 15, 40, x + 45, 60), fill=COLOURS["red"])
    return picture


def _bolts(cracked: int | None) -> Image.Image:
    picture = Image.new("RGB", (520, 290), "white")
    draw = ImageDraw.Draw(picture)
    for i, cx in enumerate(BOLT_CENTRES):
        draw.rectangle((cx - 32, 40, cx + 32, 78), fill=STEEL)
        for facet in (cx - 11, cx + 11):
            draw.line((facet, 40, facet, 78), fill=STEEL_DARK, width=2)
        draw.rectangle((cx - 16, 78, cx + 16, 255), fill=STEEL)
        for y in range(150, 250, 10):
            draw.line((cx - 16, y, cx + 16, y + 6), fill=STEEL_DARK, width=2)
        if cracked == i + 1:
            draw.line([(cx + dx, y) for dx, y in CRACK_POINTS], fill=CRACK, width=4)
    return picture


def defect_bolts_cracked() -> Image.Image:
    """Five identical bolts; the third has a black crack across its shank."""
    return _bolts(cracked=BOLT_CRACKED)


def defect_bolts_ok() -> Image.Image:
    """The same five bolts, none damaged: the no-defect control."""
    return _bolts(cracked=None)


def doc_invoice() -> Image.Image:
    """An invoice from ACME TOOLS LTD, dated 2024-03-14: three lines, TOTAL $86.40."""
    picture = Image.new("RGB", (620, 340), "white")
    draw = ImageDraw.Draw(picture)
    body = _font(18)
    draw.text((30, 20), "ACME TOOLS LTD", fill="black", font=_font(32))
    draw.text((30, 72), "INVOICE No. 1093", fill="black", font=body)
    draw.text((380, 72), "Date: 2024-03-14", fill="black", font=body)
    draw.line((30, 108, 590, 108), fill="black", width=2)
    for x, head in ((30, "Item"), (290, "Qty"), (370, "Price"), (480, "Amount")):
        draw.text((x, 118), head, fill="black", font=body)
    for row, (item, qty, price, amount) in enumerate(INVOICE_ITEMS):
        y = 155 + 34 * row
        for x, text in ((30, item), (290, str(qty)), (370, price), (480, amount)):
            draw.text((x, y), text, fill="black", font=body)
    draw.line((30, 262, 590, 262), fill="black", width=2)
    draw.text((290, 276), "TOTAL", fill="black", font=_font(26))
    draw.text((470, 276), f"${INVOICE_TOTAL}", fill="black", font=_font(26))
    return picture


def doc_receipt() -> Image.Image:
    """A till receipt from BLUE FERN CAFE: three items, a date, a total."""
    picture = Image.new("RGB", (320, 420), "white")
    draw = ImageDraw.Draw(picture)
    body = _font(16)
    draw.text((30, 24), RECEIPT_VENDOR, fill="black", font=_font(28))
    draw.text((30, 66), "12 Harbour Road", fill="black", font=body)
    draw.text((30, 90), "05 Nov 2024   09:41", fill="black", font=body)
    draw.line((30, 122, 290, 122), fill="black", width=1)
    for row, (item, price) in enumerate(
        (("Latte", "3.80"), ("Croissant", "2.60"), ("Orange juice", "3.10"))
    ):
        draw.text((30, 136 + 30 * row), item, fill="black", font=body)
        draw.text((230, 136 + 30 * row), price, fill="black", font=body)
    draw.line((30, 232, 290, 232), fill="black", width=1)
    draw.text((30, 246), "TOTAL", fill="black", font=_font(22))
    draw.text((220, 246), "9.50", fill="black", font=_font(22))
    draw.text((30, 320), "Thank you!", fill="black", font=body)
    return picture


def doc_form() -> Image.Image:
    """A filled-in staff registration form: five labelled fields, start date 14 Mar 2024."""
    picture = Image.new("RGB", (600, 360), "white")
    draw = ImageDraw.Draw(picture)
    body = _font(20)
    draw.text((30, 20), "STAFF REGISTRATION FORM", fill="black", font=_font(28))
    for row, (label, value) in enumerate(FORM_FIELDS):
        y = 90 + 52 * row
        draw.text((30, y), f"{label}:", fill="black", font=body)
        draw.rectangle((220, y - 8, 570, y + 30), outline=(120, 120, 120), width=2)
        draw.text((232, y), value, fill=INK, font=body)
    return picture


def count_squares() -> Image.Image:
    """Four blue squares, scattered."""
    picture = Image.new("RGB", (500, 300), "white")
    draw = ImageDraw.Draw(picture)
    for x, y in SQUARE_CORNERS:
        draw.rectangle((x, y, x + 60, y + 60), fill=COLOURS["blue"])
    return picture


def count_triangles() -> Image.Image:
    """Nine green triangles, scattered."""
    picture = Image.new("RGB", (600, 340), "white")
    draw = ImageDraw.Draw(picture)
    for x, y in TRIANGLE_CORNERS:
        draw.polygon([(x + 30, y), (x + 60, y + 55), (x, y + 55)], fill=COLOURS["green"])
    return picture


def count_mixed_circles() -> Image.Image:
    """Eleven circles: five red, six blue, mixed together."""
    picture = Image.new("RGB", (600, 360), "white")
    draw = ImageDraw.Draw(picture)
    for (x, y), colour in MIXED_CIRCLES:
        draw.ellipse((x - 28, y - 28, x + 28, y + 28), fill=COLOURS[colour])
    return picture


def object_triangle() -> Image.Image:
    """One large green triangle on white."""
    picture = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(picture).polygon([(200, 40), (340, 250), (60, 250)], fill=COLOURS["green"])
    return picture


def object_odd_one_out() -> Image.Image:
    """Five purple shapes of one size in a row: circles, except the fourth, a square."""
    picture = Image.new("RGB", (560, 180), "white")
    draw = ImageDraw.Draw(picture)
    for i in range(5):
        box = (30 + 105 * i, 55, 100 + 105 * i, 125)
        if i + 1 == ODD_ONE_OUT:
            draw.rectangle(box, fill=COLOURS["purple"])
        else:
            draw.ellipse(box, fill=COLOURS["purple"])
    return picture


def object_house() -> Image.Image:
    """A simple house: walls, a red roof, a chimney, a door, two windows, grass."""
    picture = Image.new("RGB", (400, 340), (200, 225, 250))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 300, 399, 339), fill=COLOURS["green"])
    draw.rectangle((250, 80, 275, 140), fill=(110, 60, 30))
    draw.rectangle((100, 160, 300, 300), fill=(215, 170, 110))
    draw.polygon([(80, 160), (200, 60), (320, 160)], fill=COLOURS["red"])
    draw.rectangle((180, 225, 220, 300), fill=(110, 60, 30))
    for x in (120, 240):
        draw.rectangle((x, 185, x + 40, 220), fill="white", outline=(80, 80, 80), width=3)
    return picture


def spatial_left_right() -> Image.Image:
    """A yellow square on the left, a green triangle on the right."""
    picture = Image.new("RGB", (600, 260), "white")
    draw = ImageDraw.Draw(picture)
    draw.rectangle((80, 70, 200, 190), fill=COLOURS["yellow"])
    draw.polygon([(460, 70), (520, 190), (400, 190)], fill=COLOURS["green"])
    return picture


def spatial_above_below() -> Image.Image:
    """A blue circle at the top, a red square below it."""
    picture = Image.new("RGB", (300, 460), "white")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((90, 40, 210, 160), fill=COLOURS["blue"])
    draw.rectangle((90, 290, 210, 410), fill=COLOURS["red"])
    return picture


def spatial_grid() -> Image.Image:
    """Two by two: red circle, blue square on top; green triangle, purple diamond below."""
    picture = Image.new("RGB", (440, 440), "white")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((60, 60, 180, 180), fill=COLOURS["red"])
    draw.rectangle((260, 60, 380, 180), fill=COLOURS["blue"])
    draw.polygon([(120, 260), (180, 380), (60, 380)], fill=COLOURS["green"])
    draw.polygon([(320, 260), (380, 320), (320, 380), (260, 320)], fill=COLOURS["purple"])
    return picture


EVAL_IMAGES = {
    "defect-gears": defect_gears,
    "defect-bottles": defect_bottles,
    "defect-bolts-cracked": defect_bolts_cracked,
    "defect-bolts-ok": defect_bolts_ok,
    "doc-invoice": doc_invoice,
    "doc-receipt": doc_receipt,
    "doc-form": doc_form,
    "count-squares": count_squares,
    "count-triangles": count_triangles,
    "count-mixed-circles": count_mixed_circles,
    "object-triangle": object_triangle,
    "object-odd-one-out": object_odd_one_out,
    "object-house": object_house,
    "spatial-left-right": spatial_left_right,
    "spatial-above-below": spatial_above_below,
    "spatial-grid": spatial_grid,
}


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
        *EVAL_IMAGES.items(),
    ):
        make().save(HERE / f"{name}.png", optimize=True)
    tone()
    video()
    if "--speech" in sys.argv:
        for name, text in SPEECH.items():
            speech(name, text)


if __name__ == "__main__":
    main()
