"""Client hosts simulated by Linux network namespaces, each with its execnet socketserver.

A bridge in this namespace holds the server's address; each client namespace is joined
to it by a veth pair and has an address of its own, so load from a "host" really
crosses a network interface to reach the server, and the gateway to each host is a
TCP connection to that namespace's socketserver, as it would be to a machine.
Needs root and ``ip`` (iproute2); :func:`available` says why not where they lack.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

GATEWAY_PORT = 8888


@dataclass
class ClientHost:
    namespace: str
    address: str
    name: str
    link: str  # its end of the veth pair, inside the namespace
    server: subprocess.Popen[bytes] | None = None  # its execnet socketserver

    @property
    def spec(self) -> str:
        return f"socket={self.address}:{GATEWAY_PORT}"

    def start(self) -> None:
        """Its socketserver, under a host name of its own where ``unshare`` exists."""
        serve = [sys.executable, "-m", "execnet.script.socketserver"]
        serve.append(f"{self.address}:{GATEWAY_PORT}")
        if shutil.which("unshare"):
            named = ["sh", "-c", 'hostname "$0" && exec "$@"', self.name]
            serve = ["unshare", "--uts", *named, *serve]
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, *serve],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_listening(self)

    def pids(self) -> list[int]:
        """Every process in its namespace."""
        found = subprocess.run(
            ["ip", "netns", "pids", self.namespace], capture_output=True, text=True
        )
        return [int(pid) for pid in found.stdout.split()]

    def kill(self) -> None:
        """The host dies: every process in its namespace is killed at once."""
        for pid in self.pids():
            with suppress(ProcessLookupError):
                os.kill(pid, 9)
        if self.server is not None:
            self.server.wait(10)


def available() -> str | None:
    """None where namespaces can be made here, else the reason they cannot."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("ss") is None:
        return "iproute2's ip and ss commands are not installed"
    probe = f"mmp{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def client_hosts(count: int, subnet: int = 77) -> Iterator[tuple[str, list[ClientHost]]]:
    """``(server address, hosts)``: the server listens on the address in this namespace."""
    tag = uuid.uuid4().hex[:4]
    bridge, server_ip = f"mmbr{tag}", f"10.{subnet}.0.1"
    namespaces: list[str] = []
    hosts: list[ClientHost] = []
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{server_ip}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for k in range(count):
            ns, veth = f"mm{tag}n{k}", f"mm{tag}v{k}"
            _ip("netns", "add", ns)
            namespaces.append(ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
            _ip("link", "set", f"{veth}p", "netns", ns)
            _ip("link", "set", veth, "master", bridge)
            _ip("link", "set", veth, "up")
            address = f"10.{subnet}.0.{11 + k}"
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", f"{veth}p")
            _ip("-n", ns, "link", "set", f"{veth}p", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            host = ClientHost(ns, address, f"client-{k + 1}", f"{veth}p")
            hosts.append(host)
            host.start()
        yield server_ip, hosts
    finally:
        for host in hosts:
            host.kill()
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def _wait_listening(host: ClientHost, timeout_s: float = 20.0) -> None:
    """Until the socketserver accepts; checked from inside its namespace, as a probe
    from here would use up its one accepted connection."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listening = subprocess.run(
            ["ip", "netns", "exec", host.namespace, "ss", "-ltn", f"sport = :{GATEWAY_PORT}"],
            capture_output=True,
            text=True,
        ).stdout
        if f"{host.address}:{GATEWAY_PORT}" in listening:
            return
        if host.server.poll() is not None:
            raise RuntimeError(
                f"socketserver in {host.namespace} exited ({host.server.returncode})"
            )
        time.sleep(0.1)
    raise RuntimeError(f"socketserver in {host.namespace} not listening after {timeout_s:g} s")


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])
