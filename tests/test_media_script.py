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


# --- the vision eval suite (cases/mm_vision_eval.toml) ----------------------------------------
EVAL_CASES = REPO / "cases" / "mm_vision_eval.toml"
CATEGORIES = {
    "defect_detection",
    "document_understanding",
    "counting",
    "object_understanding",
    "spatial",
}


def mask(picture, colour: tuple[int, int, int]):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.all(np.asarray(picture) == colour, axis=-1)


def blobs(picture, colour: tuple[int, int, int]) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    """Centres (x, y) of the 4-connected patches of exactly ``colour``, left to right."""
    import numpy as np

    on = mask(picture, colour)
    seen = np.zeros_like(on)
    centres = []
    for y, x in zip(*np.nonzero(on), strict=True):
        if seen[y, x]:
            continue
        seen[y, x] = True
        stack, points = [(y, x)], []
        while stack:
            py, px = stack.pop()
            points.append((px, py))
            for ny, nx in ((py + 1, px), (py - 1, px), (py, px + 1), (py, px - 1)):
                inside = 0 <= ny < on.shape[0] and 0 <= nx < on.shape[1]
                if inside and on[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        if len(points) > 50:  # a shape, not an anti-aliasing speck
            xs, ys = zip(*points, strict=True)
            centres.append((sum(xs) / len(xs), sum(ys) / len(ys)))
    return sorted(centres)


def test_defect_images(tmp_path: Path) -> None:
    script = load_script(tmp_path)
    white, steel, red = (255, 255, 255), script.STEEL, script.COLOURS["red"]
    gears = script.defect_gears()
    top = [gears.getpixel((x, y - script.GEAR_RADIUS - 8)) for x, y in script.GEAR_CENTRES]
    bottom = [gears.getpixel((x, y + script.GEAR_RADIUS + 8)) for x, y in script.GEAR_CENTRES]
    assert top == [steel, steel, steel, white, steel]  # the 4th gear's top tooth is gone
    assert bottom == [steel] * 5
    bottles = script.defect_bottles()
    caps = [bottles.getpixel((x + 30, 50)) for x in script.BOTTLE_LEFTS]
    assert caps == [red, white, red, red, red, red]  # the 2nd bottle has no cap
    assert all(bottles.getpixel((x + 30, 250)) == script.GLASS for x in script.BOTTLE_LEFTS)
    cracked, intact = script.defect_bolts_cracked(), script.defect_bolts_ok()
    on_crack = [cracked.getpixel((x - 4, 100)) for x in script.BOLT_CENTRES]
    assert on_crack == [steel, steel, script.CRACK, steel, steel]  # the 3rd bolt is cracked
    crack_columns = mask(cracked, script.CRACK).any(axis=0).nonzero()[0]
    assert crack_columns.min() > script.BOLT_CENTRES[1] + 40
    assert crack_columns.max() < script.BOLT_CENTRES[3] - 40
    assert not mask(intact, script.CRACK).any()  # the control: no crack anywhere
    assert [intact.getpixel((x - 4, 100)) for x in script.BOLT_CENTRES] == [steel] * 5


def test_document_images(tmp_path: Path) -> None:
    import numpy as np

    script = load_script(tmp_path)
    for make in (script.doc_invoice, script.doc_receipt, script.doc_form):
        pixels = np.asarray(make())
        border = np.concatenate([pixels[:8].reshape(-1, 3), pixels[-8:].reshape(-1, 3)])
        border = np.concatenate(
            [border, pixels[:, :8].reshape(-1, 3), pixels[:, -8:].reshape(-1, 3)]
        )
        assert (border == 255).all(), f"{make.__name__}: text runs off the page"
    # the invoice adds up: qty x price = amount, and the amounts sum to the total
    for _, qty, price, amount in script.INVOICE_ITEMS:
        assert round(qty * float(price), 2) == float(amount)
    total = sum(float(amount) for *_, amount in script.INVOICE_ITEMS)
    assert f"{total:.2f}" == script.INVOICE_TOTAL == "86.40"
    invoice = np.asarray(script.doc_invoice())
    assert (invoice[276:306, 470:590] < 100).any()  # the total is printed where expected
    assert script.RECEIPT_VENDOR == "BLUE FERN CAFE"
    assert dict(script.FORM_FIELDS)["Start date"] == "14 Mar 2024"
    form = np.asarray(script.doc_form())
    start_row = [label for label, _ in script.FORM_FIELDS].index("Start date")
    value_y = 90 + 52 * start_row
    assert (np.all(form[value_y : value_y + 24, 232:400] == script.INK, axis=-1)).any()


def test_counting_images(tmp_path: Path) -> None:
    script = load_script(tmp_path)
    colours = script.COLOURS
    assert len(blobs(script.count_squares(), colours["blue"])) == 4
    assert len(blobs(script.count_triangles(), colours["green"])) == 9
    mixed = script.count_mixed_circles()
    assert len(blobs(mixed, colours["red"])) == 5
    assert len(blobs(mixed, colours["blue"])) == 6


def test_object_images(tmp_path: Path) -> None:
    script = load_script(tmp_path)
    colours = script.COLOURS
    triangle = script.object_triangle()
    assert {colour for _, colour in triangle.getcolors()} == {(255, 255, 255), colours["green"]}
    green = mask(triangle, colours["green"])
    rows = green.nonzero()[0]
    assert green[rows.min() + 5].sum() < green[rows.max() - 5].sum() / 4  # narrow top: a triangle
    odd = script.object_odd_one_out()
    assert len(blobs(odd, colours["purple"])) == 5
    corners = [odd.getpixel((32 + 105 * i, 57)) == colours["purple"] for i in range(5)]
    assert corners == [False, False, False, True, False]  # only the 4th fills its corner
    house = script.object_house()
    assert house.getpixel((200, 110)) == colours["red"]  # roof
    assert house.getpixel((140, 260)) != house.getpixel((200, 260))  # wall, door
    assert house.getpixel((140, 200)) == (255, 255, 255)  # window


def test_spatial_images(tmp_path: Path) -> None:
    script = load_script(tmp_path)
    colours = script.COLOURS
    left_right = script.spatial_left_right()
    (square_x, _), (triangle_x, _) = (
        blobs(left_right, colours["yellow"])[0],
        blobs(left_right, colours["green"])[0],
    )
    assert triangle_x > square_x + 100  # the triangle is to the right of the square
    above_below = script.spatial_above_below()
    (_, circle_y), (_, square_y) = (
        blobs(above_below, colours["blue"])[0],
        blobs(above_below, colours["red"])[0],
    )
    assert square_y > circle_y + 100  # the square is below the circle
    grid = script.spatial_grid()
    centre = {name: blobs(grid, colours[name])[0] for name in ("red", "blue", "green", "purple")}
    assert abs(centre["green"][0] - centre["red"][0]) < 10  # triangle directly below circle
    assert centre["green"][1] > centre["red"][1] + 100
    assert centre["blue"][0] > centre["red"][0] + 100 and centre["purple"][0] > centre["green"][0]


def test_committed_eval_images_match_the_script(tmp_path: Path) -> None:
    from PIL import Image

    script = load_script(tmp_path)
    sizes = []
    for name, make in script.EVAL_IMAGES.items():
        path = REPO / "media" / f"{name}.png"
        with Image.open(path) as committed:
            assert committed.convert("RGB").tobytes() == make().tobytes(), f"{name}: stale"
        sizes.append(path.stat().st_size)
        assert sizes[-1] < 30_000, name
    assert sum(sizes) < 300_000


def eval_cases():  # type: ignore[no-untyped-def]
    from pytest_mmbench.spec.cases import load_case_file

    return load_case_file(EVAL_CASES)


def test_eval_cases_load() -> None:
    cases = eval_cases()
    assert 12 <= len(cases) <= 16
    assert {case.category for case in cases} == CATEGORIES
    for case in cases:
        assert case.modality == "image" and case.max_tokens <= 32, case.id
        assert case.images, case.id
        for image in case.images:
            assert (EVAL_CASES.parent / image.file).resolve().is_file(), (case.id, image.file)


# For each case: answers that must pass, and near misses that must fail.
ANSWERS = {
    "defect-gear-missing-tooth": (["4", "Gear 4."], ["3", "5", "1 of 5"]),
    "defect-bottle-missing-cap": (["2"], ["1", "6"]),
    "defect-bolt-cracked": (
        ["Yes", "yes, the third one", "The answer is yes.", "**Answer:** Yes"],
        ["No", "No. Yes?", "not sure, yes", "The answer is no."],
    ),
    "defect-bolts-intact": (
        ["No", "**No**, all intact.", "The answer is no."],
        ["Yes", "Not sure", "Yes. No.", "The answer is yes, no doubt"],
    ),
    "doc-invoice-total": (["86.40", "$86.40", "Total: $86.40"], ["84.60", "86", "25.00"]),
    "doc-receipt-vendor": (["Blue Fern Cafe", "BLUE FERN CAFE"], ["Blue Fir Cafe", "Fern Cafe"]),
    "doc-form-start-date": (
        ["14 Mar 2024", "14 March 2024", "March 14, 2024", "2024-03-14"],
        ["02 Jun 1988", "14 Mar 2023", "4 Mar 2024"],
    ),
    "count-blue-squares": (["4", "There are 4."], ["3", "5"]),
    "count-green-triangles": (["9"], ["8", "10"]),
    "count-red-among-blue": (["5"], ["6", "11"]),
    "object-colour-and-shape": (
        ["Green triangle", "green Triangle."],
        ["green square", "blue triangle"],
    ),
    "object-odd-one-out": (["Square", "The square."], ["Circle", "square or circle"]),
    "object-house": (["House", "It is a house."], ["Tree", "house, car, tree or boat"]),
    "spatial-triangle-left-or-right": (["Right", "To the right."], ["Left", "left or right"]),
    "spatial-square-above-or-below": (["Below", "It is below."], ["Above", "above or below"]),
    "spatial-below-red-circle": (["Triangle", "The green triangle"], ["Square", "Diamond"]),
}


def test_eval_checks_pass_right_answers_and_fail_near_misses() -> None:
    from pytest_mmbench.results.checks import evaluate

    cases = {case.id: case for case in eval_cases()}
    assert set(ANSWERS) == set(cases)
    for case_id, (right, near_misses) in ANSWERS.items():
        check = dict(cases[case_id].check)
        for answer in right:
            assert evaluate(check, answer).passed, (case_id, answer)
        for answer in near_misses:
            assert not evaluate(check, answer).passed, (case_id, answer)
