"""Stand-ins for GPU telemetry on a machine without a GPU.

``FakeNvml`` mimics the few pynvml functions the NVML source calls, driven by a power
figure and the real clock, so windows see a counter that advances like a GPU's.
``ExporterServer`` is a real HTTP server serving Prometheus text in the formats of
dcgm-exporter and nvidia_gpu_exporter.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any


class FakeNvmlError(Exception):
    pass


class FakeNotSupported(FakeNvmlError):
    def __str__(self) -> str:
        return "Not Supported"


class FakeNvml:
    """Two GPUs drawing ``watts`` each; unsupported calls raise NotSupported."""

    NVMLError = FakeNvmlError
    NVML_TEMPERATURE_GPU = 0
    NVML_FI_DEV_POWER_INSTANT = 186
    NVML_SUCCESS = 0
    nvmlClocksEventReasonGpuIdle = 1
    nvmlClocksEventReasonSwPowerCap = 4

    def __init__(
        self,
        watts: float = 200.0,
        unsupported: tuple[str, ...] = (),
        gpus: int = 2,
        init_error: str | None = None,
    ) -> None:
        self.watts = watts
        self.unsupported = set(unsupported)
        self.count = gpus
        self.init_error = init_error
        self.started = time.perf_counter()
        self.throttle_mask = 0
        self.energy_offset_mj = 0.0
        self.calls: dict[str, int] = {}

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if name in self.unsupported:
            raise FakeNotSupported()

    def nvmlInit(self) -> None:
        if self.init_error:
            raise FakeNvmlError(self.init_error)

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return self.count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"Fake GPU"

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self._call("power")
        return int(self.watts * 1000)

    def nvmlDeviceGetFieldValues(self, handle: int, fields: list[int]) -> list[Any]:
        self._call("instant")
        value = SimpleNamespace(uiVal=int(self.watts * 1000))
        return [SimpleNamespace(nvmlReturn=0, value=value)]

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        self._call("energy")
        elapsed = time.perf_counter() - self.started
        return int(self.watts * elapsed * 1000 + self.energy_offset_mj)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        self._call("temp")
        return 50 + handle

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        self._call("memory")
        return SimpleNamespace(used=1024 * 2**20)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        self._call("util")
        return SimpleNamespace(gpu=80)

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: int) -> int:
        self._call("throttle")
        return self.throttle_mask


DCGM_TEMPLATE = """# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
{power}
# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).
# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter
{energy}
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
{temp}
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
{fb}
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
{util}
"""


class ExporterServer(ThreadingHTTPServer):
    """Serves ``/metrics``; energy advances with real time at ``watts`` per GPU."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, flavour: str = "dcgm", watts: float = 300.0, gpus: int = 2) -> None:
        super().__init__(("127.0.0.1", 0), _ExporterHandler)
        self.flavour = flavour
        self.watts = watts
        self.gpus = gpus
        self.failing = False
        self.scrapes = 0
        self.started = time.perf_counter()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/metrics"

    def __enter__(self) -> ExporterServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def text(self) -> str:
        elapsed = time.perf_counter() - self.started
        if self.flavour == "dcgm":

            def rows(name: str, value: Any) -> str:
                return "\n".join(
                    f'{name}{{gpu="{i}",UUID="GPU-{i}",modelName="Fake H100"}} {value}'
                    for i in range(self.gpus)
                )

            return DCGM_TEMPLATE.format(
                power=rows("DCGM_FI_DEV_POWER_USAGE", self.watts),
                energy=rows(
                    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", int(self.watts * elapsed * 1000)
                ),
                temp=rows("DCGM_FI_DEV_GPU_TEMP", 61),
                fb=rows("DCGM_FI_DEV_FB_USED", 10547),
                util=rows("DCGM_FI_DEV_GPU_UTIL", 93),
            )
        lines = []
        for i in range(self.gpus):
            uuid = f'uuid="GPU-{i}"'
            lines += [
                f"nvidia_smi_index{{{uuid}}} {i}",
                f"nvidia_smi_power_draw_watts{{{uuid}}} {self.watts}",
                f"nvidia_smi_temperature_gpu{{{uuid}}} 58",
                f"nvidia_smi_memory_used_bytes{{{uuid}}} {10 * 2**30}",
                f"nvidia_smi_utilization_gpu_ratio{{{uuid}}} 0.5",
            ]
        return "\n".join(lines) + "\n"


class _ExporterHandler(BaseHTTPRequestHandler):
    server: ExporterServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.scrapes += 1
        if self.server.failing:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.server.text().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
