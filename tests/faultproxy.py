"""A loopback TCP fault proxy for whole-system sync tests.

A station talks to its hub over a rural link that drops connections mid-transfer, adds
latency, and sometimes delivers a request twice. `FaultProxy` sits between a client and a
server on 127.0.0.1 and does those things reproducibly, so a test can check that the sync
protocol survives them:

    from faultproxy import Cut, Duplicate, FaultPlan, FaultProxy, Pass

    plan = FaultPlan(seed=7, cut_rate=0.3, cut_max_bytes=4096, duplicate_rate=0.1,
                     script=[Cut("down", 0, duplicate=True), Pass()])
    with FaultProxy("127.0.0.1", hub_port, plan=plan) as proxy:
        client = httpx.Client(base_url=proxy.url)
        ...                       # sync, retrying on transport errors
        client.close()
        proxy.settle()            # let the duplicated requests reach the hub
        assert proxy.stats.cuts >= 1

It runs its own asyncio loop in a background thread, so synchronous tests and synchronous
httpx clients can use it. Every await has a timeout and `stop()` aborts everything, so a
misbehaving peer can fail a test but never hang it.

Semantics worth knowing:

* Faults are decided per accepted connection, in accept order, from `random.Random(seed)`
  (after the explicit `script`, if any). Each random decision draws the same number of values,
  so the plan of connection *n* depends only on the seed and *n*.
* A cut counts bytes per direction over the whole connection, ignoring HTTP request
  boundaries (keep-alive connections carry several requests). It fires on the chunk that
  reaches the offset: the proxy forwards exactly the prefix, waits until the kernel has
  delivered it, and then resets both sockets (SO_LINGER 0). Offset 0 fires on the first chunk
  in that direction: a "down" cut at 0 means the server got the request but the client got
  nothing. A cut whose offset lies beyond the traffic in its direction never fires; only
  fired cuts are recorded in `cut_points`.
* A duplicate replays, on a new upstream connection, every byte the client sent on the
  connection so far (all requests of a keep-alive connection, not just the last one), and
  discards the answer. It happens once per connection: when the connection ends (cleanly,
  by a cut, or by a reset), or earlier, once the server has answered and the link has been
  quiet for `duplicate_after_idle` seconds. A connection on which the client sent nothing
  is not replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from loopserver import LoopServer, close, reset

try:  # Linux: lets a cut wait until the prefix has really left the proxy
    import fcntl
    import termios

    _TIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - non-Linux
    _TIOCOUTQ = None

__all__ = [
    "Action",
    "ConnectionPlan",
    "Cut",
    "Direction",
    "Duplicate",
    "FaultPlan",
    "FaultProxy",
    "Pass",
    "ProxyStats",
]

Direction: TypeAlias = Literal["up", "down"]
""""up" is client -> server, "down" is server -> client."""

CHUNK = 64 * 1024
_REPLAY_IDLE = 0.2  # a replay stops listening this long after the server's last byte


@dataclass(frozen=True)
class Pass:
    """Script action: relay this connection untouched (delay still applies)."""


@dataclass(frozen=True)
class Cut:
    """Script action: cut the connection after `offset` bytes in `direction`.

    `duplicate=True` also replays the client's bytes afterwards: with `Cut("down", n)` this is
    the case a sync protocol must handle, where the server acted but the client never knew.
    """

    direction: Direction
    offset: int
    duplicate: bool = False

    def __post_init__(self) -> None:
        if self.direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up' or 'down', not {self.direction!r}")
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0, not {self.offset}")


@dataclass(frozen=True)
class Duplicate:
    """Script action: relay the connection, then replay the client's bytes to the server."""


Action: TypeAlias = Pass | Cut | Duplicate


@dataclass(frozen=True)
class FaultPlan:
    """What the link does to connections; the same plan and seed give the same faults."""

    seed: int = 0
    cut_rate: float = 0.0
    cut_min_bytes: int = 0
    cut_max_bytes: int = 64 * 1024
    cut_direction: Direction | None = None  # None: "up" or "down" at random
    delay: tuple[float, float] | None = None  # seconds before relaying each chunk
    duplicate_rate: float = 0.0
    script: Sequence[Action] = ()

    def __post_init__(self) -> None:
        for name in ("cut_rate", "duplicate_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be within 0..1, not {rate}")
        if not 0 <= self.cut_min_bytes <= self.cut_max_bytes:
            raise ValueError("need 0 <= cut_min_bytes <= cut_max_bytes")
        if self.cut_direction not in (None, "up", "down"):
            raise ValueError(f"cut_direction must be None, 'up' or 'down': {self.cut_direction!r}")
        if self.delay is not None:
            low, high = self.delay
            if not 0.0 <= low <= high:
                raise ValueError("delay must be (min, max) with 0 <= min <= max")
        for action in self.script:
            if not isinstance(action, Pass | Cut | Duplicate):
                raise TypeError(f"script entries must be Pass, Cut or Duplicate: {action!r}")
        object.__setattr__(self, "script", tuple(self.script))  # frozen means frozen


@dataclass(frozen=True)
class ConnectionPlan:
    """The faults decided for one accepted connection (kept for debugging failed runs)."""

    index: int
    cut: Cut | None
    duplicate: bool
    scripted: bool


@dataclass
class ProxyStats:
    """Counters since start. `FaultProxy.stats` returns a copy, safe to keep."""

    connections: int = 0  # accepted client connections
    cuts: int = 0  # cuts that fired
    cut_points: list[tuple[Direction, int]] = field(default_factory=list)
    duplicates: int = 0  # replays whose bytes were delivered to the server
    duplicate_errors: int = 0  # replays that could not connect or write
    bytes_up: int = 0  # relayed client -> server (replays not included)
    bytes_down: int = 0  # relayed server -> client
    upstream_errors: int = 0  # connections refused by (or timed out to) the server
    resets: int = 0  # ended by a peer reset, a stalled write or idleness, not by a cut

    @property
    def cut_offsets(self) -> list[int]:
        """The byte offsets of the fired cuts, in order."""
        return [offset for _, offset in self.cut_points]


@dataclass(eq=False)
class _Conn:
    """Mutable state of one relayed connection (loop thread only)."""

    plan: ConnectionPlan
    rng: random.Random
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    record: bytearray | None = None
    replayed: bool = False
    answered: bool = False
    in_flight: int = 0
    last_activity: float = 0.0


class FaultProxy(LoopServer):
    """Relay 127.0.0.1:`port` to `upstream_host:upstream_port`, injecting the plan's faults."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        plan: FaultPlan | None = None,
        *,
        listen_host: str = "127.0.0.1",
        connect_timeout: float = 5.0,
        io_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        duplicate_after_idle: float | None = 0.2,
        replay_timeout: float = 5.0,
    ) -> None:
        """Configure; nothing listens until `start()` (or `with`).

        `io_timeout` bounds each write to a peer that stopped reading; `idle_timeout` closes a
        connection silent in both directions; `duplicate_after_idle=None` replays duplicates
        only when their connection ends; `replay_timeout` bounds one replay.
        """
        super().__init__(listen_host=listen_host, connect_timeout=connect_timeout)
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.plan = plan if plan is not None else FaultPlan()
        self.io_timeout = io_timeout
        self.idle_timeout = idle_timeout
        self.duplicate_after_idle = duplicate_after_idle
        self.replay_timeout = replay_timeout

        self._rng = random.Random(self.plan.seed)
        self._script = list(self.plan.script)
        self._lock = threading.Lock()
        self._stats = ProxyStats()
        self._plans: list[ConnectionPlan] = []
        self._open = 0  # connections being relayed
        self._pending_replays = 0

        self._closing = False
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- public, called from the test thread --------------------------------------------------

    @property
    def stats(self) -> ProxyStats:
        """A snapshot of the counters."""
        with self._lock:
            s = self._stats
            return ProxyStats(
                connections=s.connections,
                cuts=s.cuts,
                cut_points=list(s.cut_points),
                duplicates=s.duplicates,
                duplicate_errors=s.duplicate_errors,
                bytes_up=s.bytes_up,
                bytes_down=s.bytes_down,
                upstream_errors=s.upstream_errors,
                resets=s.resets,
            )

    @property
    def cut_points(self) -> list[tuple[Direction, int]]:
        """Every (direction, offset) cut that fired, in order."""
        with self._lock:
            return list(self._stats.cut_points)

    @property
    def plans(self) -> list[ConnectionPlan]:
        """The plan of every accepted connection, in accept order."""
        with self._lock:
            return list(self._plans)

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no connection is open and no replay is pending; False on timeout.

        Close the client (its keep-alive pool) first, or open connections keep this waiting.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._open == 0 and self._pending_replays == 0:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    # -- the loop thread ----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Stop accepting, reset every socket, cancel every task."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            reset(conn.client)
            if conn.upstream is not None:
                reset(conn.upstream)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.gather(*tasks, return_exceptions=True)

    def _next_plan(self) -> ConnectionPlan:
        """Decide the faults of the next connection: the script first, then the seeded dice."""
        with self._lock:
            index = len(self._plans)
            if self._script:
                action = self._script.pop(0)
                cut = action if isinstance(action, Cut) else None
                duplicate = isinstance(action, Duplicate) or (cut is not None and cut.duplicate)
                plan = ConnectionPlan(index, cut, duplicate, scripted=True)
            else:
                p, rng = self.plan, self._rng
                # Always four draws, so connection n's plan depends only on seed and n.
                cut_roll = rng.random()
                offset = rng.randint(p.cut_min_bytes, p.cut_max_bytes)
                direction: Direction = "up" if rng.random() < 0.5 else "down"
                dup_roll = rng.random()
                duplicate = dup_roll < p.duplicate_rate
                cut = None
                if cut_roll < p.cut_rate:
                    cut = Cut(p.cut_direction or direction, offset, duplicate)
                plan = ConnectionPlan(index, cut, duplicate, scripted=False)
            self._plans.append(plan)
            self._stats.connections += 1
            self._open += 1
            return plan

    def _track(self) -> None:
        """Register the current task so that shutdown can cancel it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        """One client connection: connect upstream, relay, then maybe replay."""
        self._track()
        plan = self._next_plan()
        conn = _Conn(
            plan=plan,
            rng=random.Random(f"{self.plan.seed}:{plan.index}"),  # delays: own, stable stream
            client=c_writer,
            record=bytearray() if plan.duplicate else None,
            last_activity=asyncio.get_running_loop().time(),
        )
        self._conns.add(conn)
        try:
            if self._closing:
                reset(c_writer)
                return
            await self._relay(conn, c_reader, c_writer)
        except asyncio.CancelledError:
            # Only shutdown cancels us. Returning normally matters: on Python 3.11 asyncio's
            # start_server logs a spurious error for a connection callback that ends cancelled.
            pass
        finally:
            self._conns.discard(conn)
            if plan.duplicate and not conn.replayed and not self._closing:
                self._replay_soon(conn)
            with self._lock:
                self._open -= 1

    async def _relay(
        self, conn: _Conn, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter
    ) -> None:
        """Pump both directions until both reach EOF, or reset both on a cut or an error."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                u_reader, u_writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
        except (OSError, TimeoutError):
            with self._lock:
                self._stats.upstream_errors += 1
            reset(c_writer)
            return
        conn.upstream = u_writer
        loop = asyncio.get_running_loop()
        pumps = {
            loop.create_task(self._pump(conn, "up", c_reader, u_writer)),
            loop.create_task(self._pump(conn, "down", u_reader, c_writer)),
        }
        helpers: set[asyncio.Task[str] | asyncio.Task[None]] = set(pumps)
        if conn.plan.duplicate and self.duplicate_after_idle is not None:
            helpers.add(loop.create_task(self._replay_when_quiet(conn, self.duplicate_after_idle)))
        graceful = True
        try:
            pending = pumps
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                outcomes = [task.result() for task in done]
                if any(outcome != "eof" for outcome in outcomes):
                    graceful = False
                    if "cut" not in outcomes:
                        with self._lock:
                            self._stats.resets += 1
                    break
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if graceful and not self._closing:
                await close(c_writer, self.io_timeout)
                await close(u_writer, self.io_timeout)
            else:
                reset(c_writer)
                reset(u_writer)

    async def _pump(
        self,
        conn: _Conn,
        direction: Direction,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> str:
        """Relay one direction; returns "eof", "cut", "reset", "stalled" or "idle"."""
        loop = asyncio.get_running_loop()
        cut = conn.plan.cut if conn.plan.cut and conn.plan.cut.direction == direction else None
        delay = self.plan.delay
        relayed = 0
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        data = await reader.read(CHUNK)
                except TimeoutError:
                    if loop.time() - conn.last_activity >= self.idle_timeout:
                        return "idle"
                    continue  # the other direction is busy: keep waiting
                conn.last_activity = loop.time()
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return "eof"
                if direction == "up" and conn.record is not None:
                    conn.record += data
                conn.in_flight += 1
                try:
                    if delay is not None:
                        await asyncio.sleep(conn.rng.uniform(*delay))
                    if cut is not None and relayed + len(data) >= cut.offset:
                        prefix = data[: cut.offset - relayed]
                        writer.write(prefix)
                        await self._flush(writer)
                        with self._lock:
                            self._count(direction, len(prefix))
                            self._stats.cuts += 1
                            self._stats.cut_points.append((direction, cut.offset))
                        return "cut"
                    writer.write(data)
                    async with asyncio.timeout(self.io_timeout):
                        await writer.drain()
                    relayed += len(data)
                    with self._lock:
                        self._count(direction, len(data))
                finally:
                    conn.in_flight -= 1
                if direction == "down":
                    conn.answered = True
                conn.last_activity = loop.time()
        except TimeoutError:
            return "stalled"
        except OSError:  # ConnectionResetError, BrokenPipeError, ...
            return "reset"

    def _count(self, direction: Direction, n: int) -> None:
        """Add relayed bytes (caller holds the lock)."""
        if direction == "up":
            self._stats.bytes_up += n
        else:
            self._stats.bytes_down += n

    async def _flush(self, writer: asyncio.StreamWriter) -> None:
        """Wait until written bytes have left the proxy, so a reset cannot destroy them."""
        transport = writer.transport
        transport.set_write_buffer_limits(high=0)  # drain() now waits for an empty buffer
        async with asyncio.timeout(self.io_timeout):
            await writer.drain()
            sock = transport.get_extra_info("socket")
            if _TIOCOUTQ is None or sock is None:
                return
            buf = bytearray(struct.pack("i", 0))
            while True:  # unsent or unacknowledged bytes in the kernel
                try:
                    fcntl.ioctl(sock.fileno(), _TIOCOUTQ, buf)
                except OSError:
                    return
                if struct.unpack("i", buf)[0] == 0:
                    return
                await asyncio.sleep(0.001)

    async def _replay_when_quiet(self, conn: _Conn, quiet: float) -> None:
        """Replay once the server has answered and the link has been quiet for `quiet` s."""
        loop = asyncio.get_running_loop()
        while not conn.replayed:
            await asyncio.sleep(min(quiet / 4, 0.05))
            idle = loop.time() - conn.last_activity
            if conn.answered and conn.in_flight == 0 and idle >= quiet:
                self._replay_soon(conn)

    def _replay_soon(self, conn: _Conn) -> None:
        """Start replaying the client's bytes of `conn` on a new upstream connection."""
        conn.replayed = True
        data = bytes(conn.record or b"")
        if not data:
            return
        with self._lock:
            self._pending_replays += 1
        task = asyncio.get_running_loop().create_task(self._replay(data))
        self._tasks.add(task)
        task.add_done_callback(self._replay_done)

    def _replay_done(self, task: asyncio.Task[None]) -> None:
        """Forget a finished (or cancelled) replay."""
        self._tasks.discard(task)
        with self._lock:
            self._pending_replays -= 1

    async def _replay(self, data: bytes) -> None:
        """Send `data` to the server as a new connection and discard whatever it answers."""
        loop = asyncio.get_running_loop()
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            writer.write(data)
            async with asyncio.timeout(self.io_timeout):
                await writer.drain()
            with self._lock:
                self._stats.duplicates += 1
            deadline = loop.time() + self.replay_timeout
            answered = False
            while (left := deadline - loop.time()) > 0:
                try:
                    async with asyncio.timeout(min(left, _REPLAY_IDLE) if answered else left):
                        chunk = await reader.read(CHUNK)
                except TimeoutError:
                    break
                if not chunk:
                    break
                answered = True
        except OSError:  # includes TimeoutError from connect or drain
            with self._lock:
                self._stats.duplicate_errors += 1
        finally:
            if writer is not None:
                if self._closing:
                    reset(writer)
                else:
                    await close(writer, self.io_timeout)
