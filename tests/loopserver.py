"""A TCP server on its own asyncio loop in a background thread, for the test proxies
(`faultproxy.FaultProxy`, `linkemu.LinkEmulator`): synchronous tests and synchronous httpx
clients use them, and `stop()` never hangs on a misbehaving peer.

A subclass implements `_serve(reader, writer)` (one accepted connection) and `_shutdown()`
(stop accepting, reset its sockets, cancel its tasks); `_started()` runs on the loop once the
port is known, before `start()` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

__all__ = ["LoopServer", "close", "reset"]


class LoopServer(ABC):
    def __init__(self, *, listen_host: str, connect_timeout: float) -> None:
        self.listen_host = listen_host
        self.connect_timeout = connect_timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._startup_error: BaseException | None = None

    # -- what a subclass provides -------------------------------------------------------------
    @abstractmethod
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one accepted connection."""

    @abstractmethod
    async def _shutdown(self) -> None:
        """Stop accepting, reset every socket, cancel every task."""

    async def _started(self) -> None:
        """Runs on the loop once listening, before `start()` returns (a subclass may add to it)."""
        await asyncio.sleep(0)

    # -- public, called from the test thread --------------------------------------------------
    @property
    def port(self) -> int:
        """The ephemeral port it listens on."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def url(self) -> str:
        """`http://host:port`, for an httpx base_url."""
        return f"http://{self.listen_host}:{self.port}"

    def start(self) -> Self:
        """Start listening; returns self once `port` is known."""
        name = type(self).__name__
        if self._thread is not None:
            raise RuntimeError(f"{name} already started")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name=name.lower(), daemon=True
        )
        self._thread.start()
        if not ready.wait(self.connect_timeout):
            raise RuntimeError(f"{name} did not start in time")
        if self._startup_error is not None:
            self._thread.join(self.connect_timeout)
            raise RuntimeError(f"{name} could not listen") from self._startup_error
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Reset every connection (`_shutdown`), stop the loop and join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError, TimeoutError):  # loop already stopping
                future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
                future.result(timeout)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the loop thread ----------------------------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        """Thread body: listen, serve until stopped, then tidy the loop."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.listen_host, 0)
            )
            self._port = self._server.sockets[0].getsockname()[1]
            loop.run_until_complete(self._started())
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            loop.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close abruptly: SO_LINGER 0 makes the kernel send RST instead of FIN."""
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def close(writer: asyncio.StreamWriter, timeout: float) -> None:
    """Close politely (FIN after pending data), but never wait longer than `timeout`."""
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timeout):
            await writer.wait_closed()
