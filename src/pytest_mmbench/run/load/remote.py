"""The client side of a load point on another host, run there through an execnet channel.

execnet sends this module's source to the client host (``gateway.remote_exec``); it runs
there as ``__channelexec__`` and imports the same load engine from the pytest-mmbench
installed on that host, so a request is sent, timed and parsed exactly as it is here.

The conversation, in plain tuples (all an execnet channel carries):

* -> ``("hello", {host, pid, version, python})`` once;
* <- ``("clock",)`` -> ``("clock", time.time())``: pings for the clock offset, any time;
* <- ``("share", target, share)``: warm up, then -> ``("ready", {})``;
* <- ``("go", start_at)``: start when this host's wall clock reads ``start_at``;
* -> ``("record", trace)`` for every request as it ends, so a host that dies later
  has already handed over what it completed;
* -> ``("alive",)`` every 5 s with nothing else sent;
* <- ``("stop",)``: the run was interrupted: stop sending, keep what ended;
* -> ``("done", {client_cpu_s, start_wall, end_wall, interrupted})`` after the share,
  or ``("failed", message)`` where the client itself broke.
"""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import sys
import threading
import time
from typing import Any

SPIN_S = 0.002  # the last moments before the start are busy-waited: sleep overshoots
HEARTBEAT_S = 5.0


def serve(channel: Any) -> None:
    import pytest_mmbench

    channel.send(  # first, before any import that an older install may lack
        (
            "hello",
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "version": pytest_mmbench.__version__,
                "python": sys.version.split()[0],
            },
        )
    )
    from pytest_mmbench.run.load.engine import ShareControl, Target, run_share
    from pytest_mmbench.run.load.shares import Share

    go, stopped = threading.Event(), threading.Event()
    start_at = [0.0]
    control = ShareControl()
    runner: threading.Thread | None = None
    # Records leave through a queue and a thread of their own: serialising and writing
    # them on the event loop's thread would stall the streams still being timed.
    outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def post() -> None:
        while True:
            try:
                item = outbox.get(timeout=HEARTBEAT_S)
            except queue.Empty:  # say it is alive: a host cut off would close nothing
                channel.send(("alive",))
                continue
            if item is None:
                return
            if isinstance(item, tuple):
                channel.send(item)
            else:
                channel.send(("record", item.to_wire()))

    poster = threading.Thread(target=post, daemon=True)
    poster.start()

    def wait_for_start() -> None:
        channel.send(("ready", {}))
        go.wait()
        if stopped.is_set():  # interrupted before the start: nothing is sent
            raise asyncio.CancelledError
        remaining = start_at[0] - time.time()
        if remaining > SPIN_S:
            time.sleep(remaining - SPIN_S)
        while time.time() < start_at[0]:
            pass

    def run(target: Target, share: Share, control: ShareControl) -> None:
        try:
            run = run_share(target, share, control)
        except BaseException as exc:  # never leave the main process waiting for "done"
            outbox.put(("failed", f"{type(exc).__name__}: {exc}"[:300]))
            return
        for trace in run.records:  # in flight when stopped: counted, as they are here
            if trace.error_kind == "interrupted":
                outbox.put(trace)
        wall_now, perf_now = time.time(), time.perf_counter_ns()
        outbox.put(
            (
                "done",
                {
                    "client_cpu_s": run.client_cpu_s,
                    "start_wall": wall_now - (perf_now - run.start_ns) / 1e9,
                    "end_wall": wall_now - (perf_now - run.end_ns) / 1e9,
                    "interrupted": run.interrupted,
                },
            )
        )

    while True:
        message = channel.receive()
        kind = message[0]
        if kind == "clock":
            channel.send(("clock", time.time()))
        elif kind == "share":
            target = Target(**message[1])
            share = Share.from_wire(message[2])
            go.clear()
            stopped.clear()
            control = ShareControl(wait_for_start=wait_for_start, on_record=outbox.put)
            runner = threading.Thread(target=run, args=(target, share, control), daemon=True)
            runner.start()
        elif kind == "go":
            start_at[0] = message[1]
            go.set()
        elif kind == "stop":
            stopped.set()
            go.set()
            control.cancel()
        elif kind == "close":
            stopped.set()
            go.set()
            control.cancel()
            if runner is not None:
                runner.join(5)
            outbox.put(None)
            poster.join(5)
            return


if __name__ == "__channelexec__":
    serve(globals()["channel"])
