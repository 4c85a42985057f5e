"""The power timeline: bounded, on the windows' clock, gaps not zeros, and drawn."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from pytest_mmbench.telemetry import EndpointTelemetry, GpuReading, NvmlSource, Sample
from pytest_mmbench.telemetry.timeline import Timeline
from telemetry_fakes import FakeNvml

S = 1_000_000_000


def reading(t_s: float, watts: float | None, temp: float = 50.0) -> Sample:
    return Sample(int(t_s * S), (GpuReading(0, power_instant_w=watts, temp_c=temp),))


def step_power(t_s: float) -> float:
    return 400.0 if 5.0 <= t_s < 7.0 else 100.0


def test_a_long_run_is_downsampled_within_its_bound_keeping_mean_and_peaks() -> None:
    timeline = Timeline(max_points=200)
    timeline.start_ns = 0
    times = [i * 0.01 for i in range(10_000)]  # 100 s at 100 Hz
    for t in times:
        timeline.add(reading(t, step_power(t), temp=90.0 if t == 6.0 else 50.0))
    described = timeline.describe("fake", idle_power_w=100.0)
    points = list(zip(described["t_s"], described["power_w"], strict=True))
    assert 100 <= len(points) <= 200
    assert described["samples"] == 10_000 and described["samples_per_point"] == 64
    # Mean power over the run survives merging (uniform samples: the plain mean).
    expected = sum(step_power(t) for t in times) / len(times)
    weights = [described["samples_per_point"]] * (len(points) - 1)
    weights.append(10_000 - sum(weights))
    mean = sum(w * p for w, (_, p) in zip(weights, points, strict=True)) / 10_000
    assert mean == pytest.approx(expected, rel=0.002)
    # The 400 W step is still there, at its time; outside it, 100 W.
    assert max(p for t, p in points if 5.4 < t < 6.6) == pytest.approx(400.0)
    assert all(p == pytest.approx(100.0) for t, p in points if t < 4.0 or t > 8.0)
    assert max(described["temp_c"]) == 90.0  # a spike is kept, not averaged away
    assert described["mem_used_mib"] is None  # never read: absent, not zeros


def test_failed_reads_are_gaps_not_zeros() -> None:
    timeline = Timeline()
    timeline.start_ns = 0
    timeline.add(reading(0.0, 120.0))
    timeline.add(Sample(int(0.1 * S), error="exporter answered 500"))
    timeline.add(reading(0.2, None))  # a GPU without a power sensor
    timeline.add(reading(0.3, 130.0))
    described = timeline.describe("fake", None)
    assert described["power_w"] == [120.0, None, None, 130.0]
    assert described["read_errors"] == 1


def test_windows_are_on_the_points_clock_with_energy_above_idle() -> None:
    timeline = Timeline()
    timeline.start_ns = 10 * S
    timeline.add_window("idle", "idle", None, 10 * S, 12 * S, {"energy_j": 200.0})
    timeline.add_window("qa", "case", 0, 13 * S, 14 * S, {"energy_j": 300.0})
    timeline.add_window(
        "qa", "case", 1, 15 * S, 16 * S, {"energy_j": None, "missing": {"energy_j": "too short"}}
    )
    idle, first, second = timeline.describe("fake", idle_power_w=100.0)["windows"]
    assert (idle["start_s"], idle["end_s"], idle["energy_above_idle_j"]) == (0.0, 2.0, None)
    assert idle["missing"] == "the idle window is the baseline"
    assert (first["start_s"], first["end_s"], first["round"]) == (3.0, 4.0, 0)
    assert first["energy_above_idle_j"] == pytest.approx(200.0) and first["missing"] is None
    assert second["energy_above_idle_j"] is None and second["missing"] == "too short"


def test_windows_beyond_the_limit_are_counted() -> None:
    timeline = Timeline(max_windows=2)
    for i in range(5):
        timeline.add_window("qa", "case", i, i * S, i * S + 1, {"energy_j": 1.0})
    described = timeline.describe(None, None)
    assert len(described["windows"]) == 2 and described["windows_dropped"] == 3


def test_live_sampling_shows_a_requests_power_inside_its_window() -> None:
    """Power rises to 400 W exactly while a window is open: the trace, the window edges
    and the window's energy above idle agree, because they share one clock."""
    nvml = FakeNvml(watts=100.0, gpus=1, unsupported=("energy",))
    telemetry = EndpointTelemetry(NvmlSource(nvml=nvml), hz=50, idle_s=0.3)
    telemetry.prepare()
    try:
        window = telemetry.open_window("busy-case", "case", round_=0)
        nvml.watts = 400.0
        time.sleep(0.5)
        nvml.watts = 100.0
        telemetry.close_window(window)
        time.sleep(0.2)
        described = telemetry.timeline()
    finally:
        telemetry.close()
    assert described is not None and described["source"] == "nvml"
    idle, busy = described["windows"]
    assert idle["kind"] == "idle" and idle["end_s"] <= busy["start_s"]
    assert (busy["label"], busy["kind"], busy["round"]) == ("busy-case", "case", 0)
    seconds = busy["end_s"] - busy["start_s"]
    assert busy["energy_above_idle_j"] == pytest.approx(300.0 * seconds, rel=0.15)
    points = list(zip(described["t_s"], described["power_w"], strict=True))
    inside = [p for t, p in points if busy["start_s"] + 0.05 < t < busy["end_s"] - 0.05]
    after = [p for t, p in points if t > busy["end_s"] + 0.05]
    assert len(inside) >= 10 and all(p == 400.0 for p in inside)
    assert after and all(p == 100.0 for p in after)
    assert described["idle_power_w"] == pytest.approx(100.0)


# --- the chart ----------------------------------------------------------------------------


def document(power: list[float | None]) -> dict[str, Any]:
    trace = {
        "source": "nvml", "worker": None, "start_epoch_s": 1000.0, "samples": len(power),
        "read_errors": 0, "samples_per_point": 1, "idle_power_w": 100.0,
        "t_s": [i * 0.5 for i in range(len(power))], "power_w": power,
        "temp_c": None, "mem_used_mib": None, "windows_dropped": 0,
        "windows": [
            {"label": "idle", "kind": "idle", "round": None, "start_s": 0.0, "end_s": 1.0,
             "energy_j": 100.0, "energy_method": "power_integration",
             "energy_above_idle_j": None, "missing": "the idle window is the baseline"},
            *[{"label": "qa", "kind": "case", "round": r, "start_s": 1.5 + r, "end_s": 2.0 + r,
               "energy_j": 150.0, "energy_method": "power_integration",
               "energy_above_idle_j": 100.0, "missing": None} for r in range(2)],
        ],
    }  # fmt: skip
    return {
        "endpoints": [
            {"id": "gpu", "power_timeline": [trace]},
            {"id": "cpu", "power_timeline": []},
        ],
        "summary": {
            "gpu": {"telemetry": {}},
            "cpu": {"telemetry": {"missing": {"energy_j": "NVML Shared Library Not Found"}}},
        },
        "records": [],
    }


@pytest.fixture
def figures(monkeypatch) -> list[Any]:
    pytest.importorskip("matplotlib")
    from pytest_mmbench.report import power_timeline

    kept: list[Any] = []
    monkeypatch.setattr(power_timeline, "png", lambda figure: kept.append(figure) or b"png")
    return kept


def test_chart_shades_windows_labels_energy_and_leaves_gaps(figures) -> None:
    from pytest_mmbench.report.power_timeline import power_timelines

    drawn, missing = power_timelines(document([100.0, 100.0, None, 300.0, 100.0, 300.0]))
    assert drawn.name == "power_timeline_gpu" and drawn.section == "energy"
    axes = figures[-1].axes[0]
    power = axes.get_lines()[0].get_ydata()
    assert math.isnan(power[2]) and 0.0 not in list(power)  # a gap, never a zero
    idle_line = axes.get_lines()[1]
    assert list(idle_line.get_ydata()) == [100.0, 100.0]
    labels = [t.get_text() for t in axes.texts]
    assert labels == ["idle: idle baseline", "qa: +200.0 J above idle"]
    assert len(axes.patches) == 3  # the idle window and both rounds are shaded
    assert missing.png is None
    assert missing.reason == "no power timeline: cpu (NVML Shared Library Not Found)"


def test_a_timeline_without_any_power_reading_is_not_drawn(figures) -> None:
    from pytest_mmbench.report.power_timeline import power_timelines

    (chart,) = power_timelines(document([None, None, None]))
    assert chart.png is None and "gpu (no power reading in 3 points)" in (chart.reason or "")
    assert not figures
