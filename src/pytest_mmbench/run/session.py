"""Run-wide state shared by every case: endpoints, their servers and HTTP clients.

One :class:`BenchSession` lives in ``config.stash`` per process (each xdist worker has
its own).  Everything expensive is lazy: an embedded server starts on the first request
that needs it and an HTTP client is made on first use, so a pytest run that collects
no benchmark case pays nothing.
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mmbench.request.body import OPTIONAL_FIELDS
from pytest_mmbench.spec.client_hosts import ClientSpec
from pytest_mmbench.spec.endpoints import Endpoint

if TYPE_CHECKING:  # loaded on first use: a run that sends nothing never imports them
    import httpx

    from pytest_mmbench.request.probe import Capabilities
    from pytest_mmbench.run.load.hosts import ClientHosts
    from pytest_mmbench.servers.embedded import EmbeddedServer
    from pytest_mmbench.servers.managed import ManagedServer
    from pytest_mmbench.telemetry.sampler import EndpointTelemetry


class EndpointUnavailable(Exception):
    """The endpoint cannot be used at all this run (e.g. its embedded server failed)."""


@dataclass
class EndpointRuntime:
    """What the run learned about an endpoint while using it."""

    base_url: str | None = None
    server_start_s: float | None = None
    model_path: str | None = None
    warmup_requests: int = 0
    warmup_errors: list[str] = field(default_factory=list)
    unavailable: str | None = None
    capabilities: Capabilities | None = None
    reported: dict[str, Any] = field(default_factory=dict)  # merged from xdist workers
    timelines: list[dict[str, Any]] = field(default_factory=list)  # workers' power timelines
    server_log: str | None = None  # a managed server's output, as a file
    servers: list[ManagedServer] = field(default_factory=list)  # each start, in this process
    reported_runs: list[dict[str, Any]] = field(default_factory=list)  # workers' starts

    def merge(self, described: dict[str, Any]) -> None:
        """Add what a worker learned: first values win (a probe that ran cleanly over one
        that failed), counts add up."""
        for key, value in described.items():
            if key == "warmup_requests":
                self.warmup_requests += int(value or 0)
            elif key == "warmup_errors":
                self.warmup_errors.extend(value or [])
            elif key == "power_timeline":
                self.timelines.extend(value or [])
            elif key == "server_runs":
                self.reported_runs.extend(value or [])
            elif key == "capabilities" and value and not value.get("error"):
                current = self.reported.get(key)
                if not current or current.get("error") or not current.get("probed"):
                    self.reported[key] = value
            elif self.reported.get(key) is None:
                self.reported[key] = value

    def describe(self) -> dict[str, Any]:
        own = self._own()
        described = {
            key: own[key] if own[key] is not None else self.reported.get(key) for key in own
        }
        described["server_runs"] = [s.describe() for s in self.servers] + self.reported_runs
        return described

    def _own(self) -> dict[str, Any]:
        return {
            "capabilities": self.capabilities.describe() if self.capabilities else None,
            "resolved_base_url": self.base_url,
            "server_start_s": self.server_start_s,
            "model_path": self.model_path,
            "warmup_requests": self.warmup_requests,
            "warmup_errors": list(self.warmup_errors),
            "unavailable": self.unavailable,
            "server_log": self.server_log,
        }


class BenchSession:
    def __init__(
        self,
        endpoints: list[Endpoint],
        sample_hz: float = 10.0,
        idle_s: float = 2.0,
        probe: bool = True,
        run_id: str | None = None,
        log_dir: Path | None = None,
        clients: tuple[ClientSpec, ...] = (),
    ) -> None:
        self.endpoints = endpoints
        self.probe = probe
        self.run_id = run_id or secrets.token_hex(3)  # tags prompts: no two runs share a prefix
        self.sample_hz = sample_hz
        self.idle_s = idle_s
        self._telemetry: dict[str, EndpointTelemetry] = {}
        self.by_id = {e.id: e for e in endpoints}
        self.runtime: dict[str, EndpointRuntime] = {e.id: EndpointRuntime() for e in endpoints}
        self._servers: dict[str, EmbeddedServer] = {}
        self._managed: dict[str, ManagedServer] = {}  # running managed servers
        self.log_dir = log_dir or Path("mmbench-servers")
        self._clients: dict[str, httpx.Client] = {}
        self.warmed: set[str] = set()
        self.client_specs = clients
        self._client_hosts: ClientHosts | None = None

    def base_url(self, endpoint: Endpoint) -> str:
        """The endpoint's URL, starting its embedded server on first use."""
        runtime = self.runtime[endpoint.id]
        if runtime.unavailable:
            raise EndpointUnavailable(runtime.unavailable)
        if endpoint.managed is not None:
            return self._managed_url(endpoint)
        if runtime.base_url:
            return runtime.base_url
        if endpoint.base_url:
            runtime.base_url = endpoint.base_url
            return endpoint.base_url
        assert endpoint.embedded is not None, "validated: launch endpoints have embedded settings"
        from pytest_mmbench.servers.embedded import EmbeddedServer, EmbeddedServerError

        server = EmbeddedServer(endpoint.embedded)
        try:
            runtime.base_url = server.start()
        except EmbeddedServerError as exc:
            runtime.unavailable = f"endpoint {endpoint.id}: {exc}"
            raise EndpointUnavailable(runtime.unavailable) from None
        self._servers[endpoint.id] = server
        runtime.server_start_s = server.start_s
        runtime.model_path = server.model_path
        return runtime.base_url

    def _managed_url(self, endpoint: Endpoint) -> str:
        """Start the endpoint's server command unless this run already started it; first
        stop any other server of its ``gpu_group``, so they never run at the same time.

        Called before every request, inside telemetry windows: a started server's URL is
        returned as it is, with no process check and never a restart there.  A server
        that died on its own makes its requests fail, which the records show."""
        current = self._managed.get(endpoint.id)
        if current is not None and current.base_url:
            return current.base_url
        if endpoint.gpu_group is not None:
            for other in [e for e in self._managed if e != endpoint.id]:
                if self.by_id[other].gpu_group == endpoint.gpu_group:
                    self._managed.pop(other).stop()
        from pytest_mmbench.servers.managed import ManagedServer, ManagedServerError

        assert endpoint.managed is not None and endpoint.base_url is not None
        runtime = self.runtime[endpoint.id]
        server = ManagedServer(
            endpoint.id, endpoint.managed, endpoint.base_url, self.log_dir / f"{endpoint.id}.log"
        )
        runtime.server_log = str(server.log_path)
        runtime.servers.append(server)
        try:
            runtime.base_url = server.start()
        except ManagedServerError as exc:
            runtime.unavailable = f"endpoint {endpoint.id}: {exc}"
            raise EndpointUnavailable(runtime.unavailable) from None
        self._managed[endpoint.id] = server
        if runtime.server_start_s is None:
            runtime.server_start_s = server.cold_start_s
        return runtime.base_url

    def stop_servers(self) -> None:
        """Stop every managed server (before the report is written, so it has their ends)."""
        for server in self._managed.values():
            server.stop()
        self._managed.clear()

    def capabilities(self, endpoint: Endpoint) -> Capabilities | None:
        """What the endpoint really does, probed once before its first measured request
        (``--mm-probe=off``: None, and nothing is adapted)."""
        runtime = self.runtime[endpoint.id]
        if runtime.capabilities is None:
            from pytest_mmbench.request.probe import not_probed, probe

            base_url = self.base_url(endpoint)
            if not self.probe:
                runtime.capabilities = not_probed("--mm-probe=off")
            else:
                try:
                    runtime.capabilities = probe(self.http(endpoint), base_url, endpoint)
                except Exception as exc:  # a media library failing, say: probe nothing, once
                    runtime.capabilities = not_probed(f"the probe failed: {exc!r}")
        return runtime.capabilities if runtime.capabilities.probed else None

    def nonce(self, endpoint: Endpoint, case_id: str, index: int) -> str:
        """The tag of one request: unique per run, endpoint, case and round (or load
        request), so two endpoints on one server share no cached prefix either."""
        where = zlib.crc32(f"{endpoint.id}/{case_id}".encode()) & 0xFFFF
        return f"{self.run_id}-{where:04x}-{index}"

    def dropped_fields(self, endpoint: Endpoint) -> frozenset[str]:
        """Fields the benchmark adds that this endpoint rejects, so they are left out."""
        found = self.capabilities(endpoint)
        if found is None:
            return frozenset()
        return frozenset(name for name in OPTIONAL_FIELDS if name in found.rejected_fields)

    def telemetry(self, endpoint: Endpoint) -> EndpointTelemetry:
        """The endpoint's telemetry, started (with its idle window) on first use."""
        found = self._telemetry.get(endpoint.id)
        if found is None:
            from pytest_mmbench.telemetry import endpoint_telemetry

            found = endpoint_telemetry(
                endpoint.telemetry, endpoint.base_url, endpoint.gpus, self.sample_hz, self.idle_s
            )
            self._telemetry[endpoint.id] = found
        found.prepare()
        return found

    def http(self, endpoint: Endpoint) -> httpx.Client:
        client = self._clients.get(endpoint.id)
        if client is None:
            import httpx

            timeout = httpx.Timeout(endpoint.timeout_s, connect=min(endpoint.timeout_s, 10.0))
            client = httpx.Client(timeout=timeout)
            self._clients[endpoint.id] = client
        return client

    def client_hosts(self) -> ClientHosts | None:
        """The load client hosts of --mm-clients, or None to load from this host."""
        if self.client_specs and self._client_hosts is None:
            from pytest_mmbench.run.load.hosts import ClientHosts

            self._client_hosts = ClientHosts(list(self.client_specs))
        return self._client_hosts

    def close(self) -> None:
        if self._client_hosts is not None:
            self._client_hosts.close()
            self._client_hosts = None
        self.stop_servers()
        for telemetry in self._telemetry.values():
            telemetry.close()
        self._telemetry.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for server in self._servers.values():
            server.stop()
        self._servers.clear()

    def describe_runtime(self, endpoint_id: str) -> dict[str, Any]:
        """What this process (and the workers merged into it) learned about an endpoint,
        with the power timeline of every process that sampled its GPUs."""
        runtime = self.runtime[endpoint_id]
        telemetry = self._telemetry.get(endpoint_id)
        own = telemetry.timeline() if telemetry is not None else None
        return {
            **runtime.describe(),
            "power_timeline": ([own] if own is not None else []) + list(runtime.timelines),
        }

    def describe_endpoints(self) -> list[dict[str, Any]]:
        """Each endpoint as configured, what the probe found, and what the run saw."""
        described = []
        for endpoint in self.endpoints:
            runtime = self.describe_runtime(endpoint.id)
            capabilities = runtime.pop("capabilities")
            timeline = runtime.pop("power_timeline")
            described.append(
                {
                    **endpoint.describe(),
                    "capabilities": capabilities,
                    "runtime": runtime,
                    "power_timeline": timeline,
                }
            )
        return described

    def secrets(self) -> list[str]:
        return [s for e in self.endpoints for s in e.secrets()]
