"""Telemetry without a GPU: window arithmetic, an injected fake NVML, a real exporter."""

from __future__ import annotations

import time

import pytest

from pytest_mmbench.results.stats import endpoint_energy, energy_figures
from pytest_mmbench.telemetry import (
    EndpointTelemetry,
    GpuReading,
    NvmlSource,
    PrometheusSource,
    Sample,
    Sampler,
    TelemetryConfig,
    TelemetryUnavailable,
    endpoint_telemetry,
)
from pytest_mmbench.telemetry.prometheus import PRESETS
from pytest_mmbench.telemetry.window import summarize
from telemetry_fakes import ExporterServer, FakeNvml

S = 1_000_000_000


def series(
    seconds: list[float], watts: list[float], energy: list[float | None], **extra: object
) -> list[Sample]:
    return [
        Sample(t_ns=int(t * S), gpus=(GpuReading(index=0, power_instant_w=w, energy_j=e, **extra),))  # type: ignore[arg-type]
        for t, w, e in zip(seconds, watts, energy, strict=True)
    ]


# --- window arithmetic -----------------------------------------------------------------------


def test_long_window_uses_the_counter_at_its_edges() -> None:
    times = [0.0, 1.0, 2.0, 3.0]
    samples = series(times, [100, 300, 300, 100], [1000.0, None, None, 1750.0])
    out = summarize(samples, 0, 3 * S, unsupported={})
    assert out["energy_method"] == "counter"
    assert out["energy_j"] == pytest.approx(750.0)
    assert out["avg_power_w"] == pytest.approx(250.0)  # energy / time, not a mean of samples
    assert out["peak_power_w"] == pytest.approx(300.0)
    assert "within +/-3.3 %" in out["energy_note"]


def test_short_window_integrates_instantaneous_power() -> None:
    times = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    samples = series(times, [100, 200, 200, 200, 200, 100], [0.0, None, None, None, None, 90.0])
    out = summarize(samples, 0, S // 2, unsupported={})
    assert out["energy_method"] == "power_integration"
    # trapezoids: 0.1*(150) + 3*0.1*200 + 0.1*150 = 90 J
    assert out["energy_j"] == pytest.approx(90.0)
    assert "under 2 s" in out["energy_note"]


def test_counter_reset_falls_back_to_integration_and_says_so() -> None:
    samples = series([0.0, 1.5, 3.0], [200, 200, 200], [5000.0, None, 10.0])
    out = summarize(samples, 0, 3 * S, unsupported={})
    assert out["energy_method"] == "power_integration"
    assert out["energy_j"] == pytest.approx(600.0)
    assert "went backwards (reset)" in out["energy_note"]


def test_window_shorter_than_sensor_refresh_has_no_energy() -> None:
    samples = series([0.0, 0.05], [200, 200], [0.0, 10.0])
    out = summarize(samples, 0, S // 20, unsupported={})
    assert out["energy_j"] is None and out["avg_power_w"] is not None
    assert "shorter than the 100 ms sensor refresh" in out["missing"]["energy_j"]


def test_unsupported_fields_are_missing_with_the_sources_reason() -> None:
    samples = [Sample(t_ns=t * S, gpus=(GpuReading(index=0, temp_c=40.0),)) for t in (0, 1, 3)]
    reasons = {
        "power_w": "no power on GB10 here",
        "energy_j": "no counter",
        "mem_used_mib": "GB10 reports no framebuffer memory through NVML",
    }
    out = summarize(samples, 0, 3 * S, unsupported=reasons)
    assert out["energy_j"] is None and "no counter" in out["missing"]["energy_j"]
    assert out["avg_power_w"] is None and out["missing"]["avg_power_w"] == "no power on GB10 here"
    assert out["mem_used_peak_mib"] is None
    assert "GB10" in out["missing"]["mem_used_peak_mib"]
    assert out["avg_temp_c"] == pytest.approx(40.0)


def test_failed_samples_leave_figures_missing_with_the_failure() -> None:
    samples = [
        Sample(t_ns=0, error="scrape of http://gpu:9400/metrics failed: 500"),
        Sample(t_ns=S, error="scrape of http://gpu:9400/metrics failed: 500"),
    ]
    out = summarize(samples, 0, S, unsupported={})
    assert out["energy_j"] is None
    assert "telemetry failed during the window: scrape" in out["missing"]["energy_j"]


def test_temperature_memory_and_throttle_over_several_gpus() -> None:
    def sample(t: float, temps: tuple[float, float], throttle: frozenset[str]) -> Sample:
        return Sample(
            t_ns=int(t * S),
            gpus=tuple(
                GpuReading(
                    index=i,
                    power_w=100.0,
                    temp_c=temps[i],
                    mem_used_mib=1000.0 * (i + 1),
                    util_pct=50.0,
                    throttle=throttle,
                )
                for i in range(2)
            ),
        )

    samples = [
        sample(0, (40, 50), frozenset()),
        sample(1, (45, 60), frozenset({"sw_power_cap"})),
        sample(2, (41, 52), frozenset()),
    ]
    out = summarize(samples, 0, 2 * S, unsupported={"energy_j": "no counter"})
    assert out["peak_temp_c"] == 60 and out["avg_temp_c"] == pytest.approx((50 + 60 + 52) / 3)
    assert out["mem_used_peak_mib"] == 3000.0  # summed over the endpoint's GPUs
    assert out["peak_power_w"] == 200.0
    assert out["throttle_reasons"] == ["sw_power_cap"] and out["throttle_changed"]


def test_derived_figures_and_their_reasons() -> None:
    window = {"energy_j": 50.0, "avg_power_w": 100.0, "window_s": 0.5, "missing": {}}
    out = energy_figures(window, output_tokens=20, output_tok_s=40.0, idle_power_w=60.0)
    assert out["j_per_output_token"] == pytest.approx(2.5)
    assert out["tok_s_per_w"] == pytest.approx(0.4)  # seed 000: output tok/s / average power
    assert out["j_per_request"] == 50.0
    assert out["energy_above_idle_j"] == pytest.approx(50.0 - 60.0 * 0.5)
    none = energy_figures(
        {
            "energy_j": None,
            "avg_power_w": None,
            "window_s": None,
            "missing": {"energy_j": "NVML unavailable", "avg_power_w": "NVML unavailable"},
        },
        output_tokens=20,
        output_tok_s=40.0,
        idle_power_w=None,
    )
    for key in ("j_per_output_token", "tok_s_per_w", "energy_above_idle_j", "j_per_request"):
        assert none[key] is None and none["missing"][key] == "NVML unavailable"


def test_endpoint_summary_is_time_weighted() -> None:
    def record(windows: list[tuple[float, float]]) -> dict[str, object]:
        return {
            "telemetry_context": {
                "source": "nvml",
                "gpus": [0],
                "idle_power_w": 20.0,
                "baseline_mem_mib": 900.0,
            },
            "rounds": [
                {
                    "telemetry": {
                        "energy_j": e,
                        "window_s": s,
                        "peak_power_w": e / s,
                        "avg_temp_c": 50.0,
                        "peak_temp_c": 55.0,
                        "mem_used_peak_mib": 1000.0,
                        "missing": {},
                    }
                }
                for e, s in windows
            ],
        }

    out = endpoint_energy([record([(100.0, 1.0)]), record([(900.0, 3.0)])], mean_output_tok_s=30.0)
    assert out["avg_inference_power_w"] == pytest.approx(1000.0 / 4.0)
    assert out["tok_s_per_w"] == pytest.approx(30.0 / 250.0)
    assert out["peak_power_w"] == pytest.approx(300.0)
    assert out["idle_power_w"] == 20.0 and out["windows"] == 2 and out["missing"] == {}


# --- NVML through an injected fake -----------------------------------------------------------


def test_nvml_source_reads_every_supported_field() -> None:
    nvml = FakeNvml(watts=150.0)
    source = NvmlSource(nvml=nvml)
    source.open()
    assert source.info.gpus == [0, 1] and source.info.unsupported == {}
    first, second = source.read()
    assert first.power_w == 150.0 and first.power_instant_w == 150.0
    assert first.temp_c == 50.0 and second.temp_c == 51.0 and first.mem_used_mib == 1024.0
    energy_reads = nvml.calls["energy"]
    source.read(with_energy=False)  # the background sampler skips the costly counter
    assert nvml.calls["energy"] == energy_reads


def test_nvml_unsupported_fields_become_reasons_not_zeros(tmp_path) -> None:
    source = NvmlSource(
        gpus=[1],
        nvml=FakeNvml(unsupported=("memory", "energy", "instant")),
        meminfo=str(tmp_path / "no-meminfo"),
    )
    source.open()
    assert set(source.info.unsupported) == {"mem_used_mib", "energy_j", "power_instant_w"}
    assert "Not Supported" in source.info.unsupported["mem_used_mib"]
    (reading,) = source.read()
    assert reading.index == 1 and reading.mem_used_mib is None and reading.energy_j is None
    assert reading.best_power_w == 200.0  # falls back to the averaged power figure


def test_unified_memory_gpu_reports_system_memory_once(tmp_path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       131072000 kB\nMemAvailable:   122880000 kB\n")
    source = NvmlSource(nvml=FakeNvml(unsupported=("memory",)), meminfo=str(meminfo))
    source.open()
    assert "mem_used_mib" not in source.info.unsupported
    assert str(meminfo) in source.info.notes["mem_used_mib"]
    assert "Not Supported" in source.info.notes["mem_used_mib"]
    first, second = source.read()
    assert first.mem_used_mib == pytest.approx((131072000 - 122880000) / 1024)
    assert second.mem_used_mib == 0.0  # system memory is counted once, not per GPU


@pytest.mark.parametrize(
    ("nvml", "gpus", "reason"),
    [
        (FakeNvml(init_error="Driver Not Loaded"), None, "NVML unavailable"),
        (FakeNvml(gpus=0), None, "no GPU"),
        (FakeNvml(gpus=2), [3], r"gpus \[3\] do not exist; NVML sees 2 GPU"),
    ],
)
def test_nvml_unavailable_reasons(nvml: FakeNvml, gpus: list[int] | None, reason: str) -> None:
    with pytest.raises(TelemetryUnavailable, match=reason):
        NvmlSource(gpus, nvml=nvml).open()


def test_endpoint_telemetry_with_fake_nvml_measures_windows_and_idle() -> None:
    nvml = FakeNvml(watts=100.0, gpus=1, unsupported=("energy",))  # forces integration
    telemetry = EndpointTelemetry(NvmlSource(nvml=nvml), hz=50, idle_s=0.3)
    telemetry.prepare()
    try:
        with telemetry.window() as window:
            time.sleep(0.4)
        context = telemetry.context()
    finally:
        telemetry.close()
    result = window.result
    assert result["energy_method"] == "power_integration"
    assert result["energy_j"] == pytest.approx(100.0 * result["window_s"], rel=0.02)
    assert result["samples"] >= 10
    assert context["idle_power_w"] == pytest.approx(100.0)
    assert context["baseline_mem_mib"] == 1024.0
    assert context["unsupported"]["energy_j"].startswith("NVML cannot read energy_j")


def test_sampler_runs_at_its_rate_in_the_background() -> None:
    sampler = Sampler(NvmlSource(nvml=FakeNvml(gpus=1)), hz=20)
    sampler.start()
    time.sleep(0.5)
    sampler.stop()
    assert 6 <= sampler.reads <= 14  # ~10 at 20 Hz, with slack for a busy CI machine
    assert sampler.thread_cpu_s >= 0


def test_no_nvml_is_a_reason_and_windows_stay_empty() -> None:
    telemetry = EndpointTelemetry(
        NvmlSource(nvml=FakeNvml(init_error="NVML Shared Library Not Found")), hz=10, idle_s=1.0
    )
    started = time.perf_counter()
    telemetry.prepare()
    with telemetry.window() as window:
        pass
    assert time.perf_counter() - started < 0.5  # no idle wait without a source
    assert window.result["energy_j"] is None
    assert "Library Not Found" in window.result["missing"]["energy_j"]
    assert "Library Not Found" in (telemetry.context()["idle_reason"] or "")


# --- Prometheus, served for real over HTTP ---------------------------------------------------


def test_dcgm_exporter_preset() -> None:
    with ExporterServer("dcgm", watts=300.0) as exporter:
        source = PrometheusSource(exporter.url, PRESETS["dcgm"], gpus=[1])
        source.open()
        assert source.info.gpus == [1]
        assert "power_instant_w" in source.info.unsupported  # not in this exporter's output
        (reading,) = source.read()
        source.close()
    assert reading.power_w == 300.0 and reading.temp_c == 61 and reading.mem_used_mib == 10547
    assert reading.util_pct == 93 and reading.energy_j is not None  # mJ converted to J


def test_nvidia_gpu_exporter_preset_joins_uuid_to_index() -> None:
    with ExporterServer("nvidia_gpu_exporter", watts=120.0) as exporter:
        source = PrometheusSource(exporter.url, PRESETS["nvidia_gpu_exporter"])
        source.open()
        readings = source.read()
        source.close()
    assert [r.index for r in readings] == [0, 1]
    assert readings[0].mem_used_mib == 10 * 1024 and readings[0].util_pct == pytest.approx(50.0)
    assert "energy_j" in source.info.unsupported and readings[0].energy_j is None


def test_prometheus_windows_measure_energy_from_the_scraped_counter() -> None:
    with ExporterServer("dcgm", watts=250.0, gpus=1) as exporter:
        config = TelemetryConfig(source="prometheus", url=exporter.url, preset="dcgm")
        telemetry = endpoint_telemetry(config, "http://gpu-host:8000/v1", None, hz=20, idle_s=0)
        telemetry.prepare()
        with telemetry.window() as window:
            time.sleep(2.2)
        telemetry.close()
    result = window.result
    assert result["energy_method"] == "counter"
    assert result["energy_j"] == pytest.approx(250.0 * result["window_s"], rel=0.02)
    assert result["avg_temp_c"] == 61


def test_exporter_failing_mid_run_turns_figures_missing_and_run_goes_on() -> None:
    with ExporterServer("dcgm", watts=250.0, gpus=1) as exporter:
        telemetry = EndpointTelemetry(
            PrometheusSource(exporter.url, PRESETS["dcgm"]), hz=20, idle_s=0
        )
        telemetry.prepare()
        exporter.failing = True
        with telemetry.window() as window:
            time.sleep(0.3)
        exporter.failing = False
        with telemetry.window() as recovered:
            time.sleep(0.3)
        telemetry.close()
    assert window.result["energy_j"] is None
    assert (
        "HTTP" in window.result["missing"]["energy_j"]
        or "500" in window.result["missing"]["energy_j"]
    )
    assert recovered.result["energy_j"] is not None


def test_unreachable_exporter_is_unavailable_with_the_url() -> None:
    telemetry = EndpointTelemetry(
        PrometheusSource("http://127.0.0.1:9/metrics", PRESETS["dcgm"], timeout_s=0.5),
        hz=10,
        idle_s=0,
    )
    telemetry.prepare()
    assert "127.0.0.1:9/metrics" in (telemetry.unavailable or "")


def test_remote_endpoint_without_exporter_says_how_to_configure_one() -> None:
    telemetry = endpoint_telemetry(TelemetryConfig(), "http://gpu-host:8000/v1", None, 10, 0)
    telemetry.prepare()
    with telemetry.window() as window:
        pass
    reason = window.result["missing"]["energy_j"]
    assert "remote endpoint (gpu-host)" in reason and 'source = "prometheus"' in reason
