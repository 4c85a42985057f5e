"""``--mm-clients``: the hosts a load point's client processes run on, as execnet specs.

The specs are the ones pytest-xdist's ``--tx`` takes (``socket=HOST:PORT``,
``ssh=[USER@]HOST//python=PYTHON``, ``popen``), with ``N*`` for N client processes on
one host.  Parsing only: the gateways open in :mod:`pytest_mmbench.run.load.hosts`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientSpec:
    spec: str  # an execnet gateway spec
    processes: int = 1

    @property
    def remote(self) -> bool:
        """Reached over the network (socket=, ssh=), not a process on this host."""
        return not self.spec.startswith("popen")


def parse_client_specs(text: str) -> list[ClientSpec]:
    """``"2*socket=10.0.0.2:8888;ssh=box"`` -> specs; ValueError says what is wrong."""
    import execnet

    specs = []
    for part in (p.strip() for p in text.replace("\n", ";").split(";")):
        if not part:
            continue
        count, rest = part.split("*", 1) if "*" in part.split("//")[0] else ("1", part)
        count, rest = count.strip(), rest.strip()
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"{part!r}: the count before '*' must be a whole number >= 1")
        spec = execnet.XSpec(rest)
        if not (spec.popen or spec.socket or spec.ssh):
            raise ValueError(
                f"{part!r}: not an execnet gateway spec; use socket=HOST:PORT, "
                "ssh=[USER@]HOST//python=PYTHON or popen (this host)"
            )
        specs.append(ClientSpec(rest, int(count)))
    if not specs:
        raise ValueError("no client host given; e.g. socket=10.0.0.2:8888")
    return specs
