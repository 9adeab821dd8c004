"""A TCP proxy with fault controls, put between the app and PostgreSQL or Redis so a test can
take the service away without touching the shared server (toxiproxy's server is in none of the
package registries this project installs from).

Modes, switched from the test's thread while the app keeps its connections through the proxy:
  pass       forward both ways (after `latency` seconds per chunk, when set)
  refuse     the listening socket is closed (connects get ECONNREFUSED) and every open
             connection is cut: what a stopped server looks like to its clients
  blackhole  connects are accepted and bytes read, but nothing is forwarded until the mode
             changes (a stalled network; clients hang until their own timeouts)
`cut()` drops the open connections without changing the mode (a server restart's blip).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

CHUNK = 65536


@dataclass
class ProxyStats:
    accepted: int = 0  # client connections accepted (refused ones never reach us)
    cut: int = 0  # connections this proxy closed on purpose
    bytes_up: int = 0
    bytes_down: int = 0


class FaultProxy:
    """127.0.0.1:<port> -> upstream, until `close()`; every control call returns once the
    change is in force."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.stats = ProxyStats()
        self.mode = "pass"
        self._latency = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._flowing: asyncio.Event | None = None
        # Bound once to an ephemeral port and kept: the app's URL names it, and refusing
        # then restoring must come back on the same port.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._call(self._init_async())
        self._call(self._listen())

    @property
    def host(self) -> str:
        return "127.0.0.1"

    # ------------------------------------------------------------------ controls
    def restore(self) -> None:
        """Back to forwarding, without latency; listening again if refused."""
        self._call(self._set_mode("pass"))
        self._latency = 0.0

    def refuse(self) -> None:
        self._call(self._set_mode("refuse"))

    def blackhole(self) -> None:
        self._call(self._set_mode("blackhole"))

    def latency(self, seconds: float) -> None:
        self._latency = seconds

    def cut(self) -> None:
        self._call(self._cut_all())

    @contextlib.contextmanager
    def outage(self, mode: str = "refuse") -> Iterator[None]:
        """The service is away ("refuse" or "blackhole") inside the block, back after it."""
        {"refuse": self.refuse, "blackhole": self.blackhole}[mode]()
        try:
            yield
        finally:
            self.restore()

    def outage_for(self, seconds: float, mode: str = "refuse") -> threading.Thread:
        """Start an outage of `seconds` in the background; join the thread to wait for its end."""

        def run() -> None:
            with self.outage(mode):
                time.sleep(seconds)

        thread = threading.Thread(target=run, name=f"outage-{self.port}", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    # ------------------------------------------------------------------ the loop's side
    def _call(self, coro) -> None:  # type: ignore[no-untyped-def]
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _init_async(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, self.host, self.port, reuse_address=True
            )

    async def _set_mode(self, mode: str) -> None:
        assert self._flowing is not None
        self.mode = mode
        if mode == "refuse":
            if self._server is not None:
                self._server.close()
                self._server = None
            await self._cut_all()
        else:
            await self._listen()
        if mode == "blackhole":
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _shutdown(self) -> None:
        await self._set_mode("refuse")
        # Cut connections end their tasks by themselves (cancelling them instead makes
        # asyncio's stream callback log the cancellation as an error).
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def _cut_all(self) -> None:
        for client, upstream in list(self._pairs):
            for writer in (client, upstream):
                # abort(): a reset, not a polite FIN, like a server that went away.
                writer.transport.abort()
            self.stats.cut += 1
        self._pairs.clear()

    async def _handle(self, client_reader, client_writer) -> None:  # type: ignore[no-untyped-def]
        self.stats.accepted += 1
        assert self._flowing is not None
        await self._flowing.wait()  # a black hole accepts and then says nothing
        if self.mode == "refuse":
            client_writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        pair = (client_writer, upstream_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream_writer, up=True),
                self._pump(upstream_reader, client_writer, up=False),
            )
        finally:
            self._pairs.discard(pair)
            for writer in pair:
                if self.mode == "refuse":
                    writer.transport.abort()
                else:
                    writer.close()

    async def _pump(self, reader, writer, *, up: bool) -> None:  # type: ignore[no-untyped-def]
        assert self._flowing is not None
        try:
            while data := await reader.read(CHUNK):
                await self._flowing.wait()  # stalled while black-holed, not dropped
                if self._latency:
                    await asyncio.sleep(self._latency)
                if writer.transport.is_closing():
                    return
                writer.write(data)
                await writer.drain()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
        except (ConnectionError, OSError):
            pass
        finally:
            # One side finished: finish the other (half-close is rare in these protocols).
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()
