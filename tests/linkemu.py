"""A link emulator for whole-system tests and field benchmarks: 2G, rural DSL, offline.

An office talks to its hub over whatever the commune has: a 2G modem, a rural DSL line, or
nothing for a week. `LinkEmulator` puts such a link between a client and a server on
127.0.0.1, so a test or a benchmark can measure what the sync protocol costs on it:

    from linkemu import PROFILES, LinkEmulator, netem_probe

    with LinkEmulator("127.0.0.1", hub_port, profile=PROFILES["offline"], seed=1) as link:
        ...                                   # a week of desk work, no hub
        link.set_profile(PROFILES["2g"])      # the modem comes back
        client = httpx.Client(base_url=link.url)
        ...                                   # sync, retrying on transport errors
        print(link.describe(), link.stats)    # says which emulator ran ("userspace" here)

The issue asks for `tc netem` in network namespaces the test creates (office and hub on either
side of a veth pair) where the kernel allows it, else a userspace shaping proxy with the same
profile. `netem_probe()` runs that check (`unshare -rn`, a veth pair, `tc qdisc add ... netem`)
once and says why it failed. **The netem data path is not implemented**: the kernels this
project runs on have no sch_netem ("Specified qdisc kind is unknown"), so such code could never
be run or tested here. `LinkEmulator` therefore always runs the userspace proxy and records why
in `mode` / `netem_reason`; "netem" is reserved for the day a kernel with sch_netem exists.

The userspace proxy models the link as seen from TCP, because the client and the server still
talk TCP over loopback and the kernel hides any loss or reordering we could inject:

* **Segments.** Each direction is cut into segments of at most `MSS` (1448) payload bytes, as
  read from the sender (small writes make small segments, as on a real wire). Each segment
  costs `HEADER` (52) bytes of TCP/IP header on the wire.
* **Bandwidth.** One modem: each direction has one serialiser at `rate_bps`, shared by every
  connection through the emulator (round robin, one segment per connection in turn). Up and
  down are independent. Header bytes take link time too, so 60 KB at 64 kbit/s takes ~7.8 s.
  The sender's next segment is read only once the previous one has been serialised, so a slow
  link backs up into the sender's socket buffers as a real one would.
* **Latency.** Each segment reaches the other side `rtt_s / 2` after it has been serialised
  (pipelined, not stop-and-wait). A new connection first pays one round trip for the TCP
  handshake: the client's `connect()` returns at once (loopback), so it sees that cost as
  latency of its first request (~2 RTT for the first answer, ~1 RTT later on).
* **Loss.** Each segment is "lost" with probability `loss` and then delivered only after a
  retransmission timeout `rto_s = max(rto_min_s, 2 * rtt_s)` (`rto_min_s` = 1 s, RFC 6298).
  Delivery is in order per connection and direction, so a lost segment holds back the ones
  behind it there (other connections are not held back). A retransmission does not take link
  time again (at 2% loss that is 2% of capacity), but it is counted in `wire_bytes`. The
  handshake, FINs and ACKs are never lost and take no link time. Loss decisions come from one
  `random.Random` per connection and direction, seeded from `seed`, the connection's accept
  number and the direction: the same seed and the same traffic give the same losses.
* **Down windows.** If `down_every_s` is set the link goes down for `down_for_s` every
  `down_every_s`; the first window starts `down_phase_s` after the emulator starts or the
  profile is switched (default: drawn from the seed in [0, down_every_s)). With
  `down_action="reset"` (the "2G" profile: a modem that loses signal re-attaches, and its TCP
  connections die with the old session) every open connection is reset (RST to both peers) when
  the window starts, and new connections are accepted and reset at once while it lasts. With
  `"stall"` nothing dies: no segment is serialised or delivered until the window ends, and new
  connections wait in their handshake. `force_down(seconds, action)` starts a window now, for
  fast and deterministic tests. Overlapping windows merge (the later call's action applies).
* **Offline.** Every new connection is accepted and reset at once (the client sees a transport
  error promptly; a reset rather than ENETUNREACH, which loopback cannot fake), and switching to
  the profile resets every open connection.
* **Switching profile.** `set_profile()` takes effect at once for every later segment, also on
  open connections (rate, latency, loss). Any down window ends and the new profile's schedule
  starts from the switch.

Stats (`link.stats`, a snapshot): `up_bytes` / `down_bytes` are payload bytes delivered to the
server / the client; `wire_bytes` estimates the link's traffic, counted when serialised: every
segment's payload plus `HEADER`, twice for a lost one, plus 4 x `HEADER` per connection for the
handshake and FINs (ACKs are not counted); `connections` counts connections carried over the
link, `refused` the ones reset at accept (offline or inside a reset window); `resets` the open
connections killed by the link (reset windows, switching to offline); `stalled_seconds` the time
spent inside stall windows.

Like `faultproxy`, everything runs on an asyncio loop in a background thread, so synchronous
tests and synchronous httpx clients can use it; every await has a timeout and `stop()` aborts
everything, so a misbehaving peer can fail a test but never hang it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from loopserver import LoopServer, close, reset

__all__ = [
    "HEADER",
    "MSS",
    "PROFILES",
    "DownAction",
    "LinkEmulator",
    "LinkStats",
    "Mode",
    "NetemProbe",
    "Profile",
    "netem_probe",
]

DownAction: TypeAlias = Literal["reset", "stall"]
Mode: TypeAlias = Literal["netem", "userspace"]
Direction: TypeAlias = Literal["up", "down"]

MSS = 1448  # payload bytes per segment (Ethernet MTU 1500 minus IPv4, TCP and timestamps)
HEADER = 52  # IPv4 20 + TCP 20 + timestamp option 12
_HANDSHAKE_SEGMENTS = 4  # SYN, SYN-ACK, and a FIN each way (their ACKs ride along or are ignored)
_QUEUE_SEGMENTS = 128  # segments in flight per direction before the sender is held back
_JITTER = 0.02  # a serialiser idle for less than this was only waiting for its pump to wake up
_POLL = 1.0  # bound of the waits that loop while their connection lives


@dataclass(frozen=True)
class Profile:
    """What the link does. Rates are bits per second of the link, times are seconds."""

    name: str
    rate_bps: float
    rtt_s: float
    loss: float = 0.0
    down_every_s: float | None = None
    down_for_s: float = 0.0
    down_action: DownAction = "reset"
    offline: bool = False
    rto_min_s: float = 1.0  # lower bound of the retransmission timeout (RFC 6298)

    def __post_init__(self) -> None:
        if not self.offline and not self.rate_bps > 0:
            raise ValueError(f"rate_bps must be > 0, not {self.rate_bps}")
        if self.rtt_s < 0:
            raise ValueError(f"rtt_s must be >= 0, not {self.rtt_s}")
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"loss must be within 0..1, not {self.loss}")
        if self.down_every_s is not None and not 0 < self.down_for_s < self.down_every_s:
            raise ValueError("need 0 < down_for_s < down_every_s for a down schedule")
        if self.down_action not in ("reset", "stall"):
            raise ValueError(f"down_action must be 'reset' or 'stall': {self.down_action!r}")
        if not self.rto_min_s > 0:
            raise ValueError(f"rto_min_s must be > 0, not {self.rto_min_s}")

    @property
    def rto_s(self) -> float:
        """How late a lost segment arrives: its retransmission timeout."""
        return max(self.rto_min_s, 2 * self.rtt_s)

    def describe(self) -> str:
        """One line for a benchmark report."""
        if self.offline:
            return f"{self.name}: no link"
        text = (
            f"{self.name}: {_rate(self.rate_bps)}, {self.rtt_s * 1000:g} ms RTT, "
            f"{self.loss * 100:g}% loss"
        )
        if self.down_every_s is not None:
            text += (
                f", down {self.down_for_s:g} s every {self.down_every_s:g} s ({self.down_action})"
            )
        return text


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "2g": Profile("2G", 64_000, 0.6, 0.02, 60.0, 10.0, "reset"),
        "dsl": Profile("rural DSL", 1_000_000, 0.08, 0.005),
        "offline": Profile("offline", 0, 0.0, offline=True),
    }
)


@dataclass
class LinkStats:
    """Counters since start (or `reset_stats()`). `LinkEmulator.stats` returns a copy."""

    up_bytes: int = 0  # payload delivered to the server
    down_bytes: int = 0  # payload delivered to the client
    wire_bytes: int = 0  # estimate of the link's traffic, headers and retransmissions included
    connections: int = 0  # carried over the link
    resets: int = 0  # open connections killed by the link (reset window, switch to offline)
    down_windows: int = 0  # windows entered (scheduled or forced)
    lost_segments: int = 0  # emulated losses
    stalled_seconds: float = 0.0  # time inside stall windows
    refused: int = 0  # reset at accept: offline, or inside a reset window
    segments: int = 0  # data segments serialised, both directions
    upstream_errors: int = 0  # the server refused (or did not answer) a connection


@dataclass(frozen=True)
class NetemProbe:
    """Whether `tc netem` in a user network namespace works here, and why (not)."""

    available: bool
    reason: str


_PROBE_SCRIPT = (
    "ip link add v0 type veth peer name v1 && tc qdisc add dev v0 root netem delay 100ms"
)
_PROBE_ARGV = ("unshare", "-rn", "sh", "-c", _PROBE_SCRIPT)
_probe_lock = threading.Lock()
_probe_result: NetemProbe | None = None


def netem_probe() -> NetemProbe:
    """Try netem in a throwaway user + network namespace, once per process; never raises."""
    global _probe_result
    with _probe_lock:
        if _probe_result is None:
            _probe_result = _run_probe(_PROBE_ARGV)
        return _probe_result


def _run_probe(argv: Sequence[str], timeout: float = 10.0) -> NetemProbe:
    """Run one probe command: exit status 0 means netem works. The namespace dies with it."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        return NetemProbe(False, f"{argv[0]} not found")
    except subprocess.TimeoutExpired:
        return NetemProbe(False, f"probe timed out after {timeout:g} s")
    except Exception as exc:  # the promise is "never raises": a probe must not fail a run
        return NetemProbe(False, f"probe could not run: {exc!r}")
    if proc.returncode == 0:
        return NetemProbe(True, "unshare -rn, a veth pair and tc netem all work")
    detail = " ".join((proc.stderr or proc.stdout).split()) or f"exit status {proc.returncode}"
    return NetemProbe(False, f"{' '.join(argv[:2])} + veth + tc netem failed: {detail}")


@dataclass
class _Lane:
    """One direction's serialiser, shared by every connection (one modem)."""

    busy_until: float = 0.0

    def reserve(self, wire_bytes: int, rate_bps: float, now: float) -> float:
        """Book the link for `wire_bytes`; returns when their last bit has left."""
        # Right after the previous segment if the link was busy a moment ago: pumps wake a little
        # late, and that jitter must not eat link capacity.
        start = self.busy_until if self.busy_until >= now - _JITTER else now
        self.busy_until = start + wire_bytes * 8 / rate_bps
        return self.busy_until


@dataclass(eq=False)
class _Flow:
    """One direction of one connection: segments in flight, in delivery order."""

    direction: Direction
    lane: _Lane
    rng: random.Random
    queue: asyncio.Queue[tuple[float, bytes | None]]
    last_delivery: float = 0.0
    deliverer: asyncio.Task[str] | None = None


@dataclass(eq=False)
class _Conn:
    """One relayed connection (loop thread only)."""

    index: int
    client: asyncio.StreamWriter
    task: asyncio.Task[Any] | None
    upstream: asyncio.StreamWriter | None = None
    last_activity: float = 0.0
    workers: list[asyncio.Task[str]] = field(default_factory=list)


class LinkEmulator(LoopServer):
    """Relay `listen_host`:`port` to `upstream_host`:`upstream_port` through an emulated link."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        profile: Profile,
        *,
        seed: int = 0,
        prefer_netem: bool = True,
        down_phase_s: float | None = None,
        listen_host: str = "127.0.0.1",
        connect_timeout: float = 5.0,
        io_timeout: float = 30.0,
        idle_timeout: float = 300.0,
    ) -> None:
        """Configure; nothing listens until `start()` (or `with`).

        `down_phase_s` fixes when the first scheduled down window starts after start or a profile
        switch (None: from the seed). `io_timeout` bounds each write to a peer that stopped
        reading; `idle_timeout` resets a connection silent in both directions.
        """
        if down_phase_s is not None and down_phase_s < 0:
            raise ValueError(f"down_phase_s must be >= 0, not {down_phase_s}")
        super().__init__(listen_host=listen_host, connect_timeout=connect_timeout)
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.seed = seed
        self.io_timeout = io_timeout
        self.idle_timeout = idle_timeout
        self._phase_override = down_phase_s
        self._profile = profile

        self.mode: Mode = "userspace"
        if not prefer_netem:
            self.netem_reason = "not requested (prefer_netem=False)"
        else:
            probe = netem_probe()
            if probe.available:
                self.netem_reason = (
                    f"netem works here ({probe.reason}), but linkemu has no netem data path yet"
                )
            else:
                self.netem_reason = f"netem unavailable: {probe.reason}"

        self._lock = threading.Lock()  # guards _stats and the window state below
        self._stats = LinkStats()
        self._down_until = 0.0  # time.monotonic() at which the current window ends
        self._down_action: DownAction = "reset"
        self._stall_since: float | None = None  # start of the uncounted part of a stall
        self._phase: float | None = None

        self._lanes: dict[Direction, _Lane] = {"up": _Lane(), "down": _Lane()}
        self._next_index = 0
        self._closing = False
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scheduler: asyncio.Task[None] | None = None

    # -- public, called from the test thread --------------------------------------------------

    @property
    def profile(self) -> Profile:
        """The profile in force."""
        return self._profile

    @property
    def stats(self) -> LinkStats:
        """A snapshot of the counters."""
        with self._lock:
            return replace(self._stats, stalled_seconds=self._stalled_now(time.monotonic()))

    @property
    def is_down(self) -> bool:
        """True while nothing gets through: offline, or inside a down window."""
        with self._lock:
            return self._profile.offline or time.monotonic() < self._down_until

    @property
    def schedule_phase_s(self) -> float | None:
        """Seconds from start (or the last profile switch) to the first scheduled down window."""
        with self._lock:
            return self._phase

    def describe(self) -> str:
        """One line for a benchmark report: which emulator ran, with which profile."""
        return f"{self.mode} link emulator, {self._profile.describe()} [{self.netem_reason}]"

    def reset_stats(self) -> None:
        """Zero the counters (a stall in progress counts only from now on)."""
        with self._lock:
            self._stats = LinkStats()
            if self._stall_since is not None:
                self._stall_since = time.monotonic()

    def set_profile(self, profile: Profile) -> None:
        """Switch the link to `profile` now; returns once it is in force."""
        if self._loop is None:
            self._profile = profile
            return
        self._call(self._apply_profile(profile))

    def force_down(self, seconds: float, action: DownAction | None = None) -> None:
        """Start a down window now, for `seconds`, with `action` (default: the profile's)."""
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, not {seconds}")
        if action not in (None, "reset", "stall"):
            raise ValueError(f"action must be None, 'reset' or 'stall': {action!r}")

        async def enter() -> None:
            self._enter_down(seconds, action or self._profile.down_action)

        self._call(enter())

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` on the loop and wait for it, so its effect is visible on return."""
        loop = self._loop
        if loop is None or loop.is_closed():
            coro.close()
            raise RuntimeError("LinkEmulator is not running")
        asyncio.run_coroutine_threadsafe(coro, loop).result(self.connect_timeout)

    # -- link state (loop thread; the lock only for what other threads read) -------------------

    def _stalled_now(self, now: float) -> float:
        """stalled_seconds including the running stall (caller holds the lock)."""
        extra = 0.0
        if self._stall_since is not None:
            extra = max(0.0, min(now, self._down_until) - self._stall_since)
        return self._stats.stalled_seconds + extra

    def _settle_stall(self, now: float) -> None:
        """Book the stall time so far (caller holds the lock)."""
        self._stats.stalled_seconds = self._stalled_now(now)
        self._stall_since = None

    def _enter_down(self, seconds: float, action: DownAction) -> None:
        """Take the link down for `seconds` from now."""
        now = time.monotonic()
        with self._lock:
            was_down = now < self._down_until
            if not was_down:
                self._stats.down_windows += 1
            self._settle_stall(now)
            self._down_until = max(self._down_until, now + seconds) if was_down else now + seconds
            self._down_action = action
            if action == "stall":
                self._stall_since = now
            until = self._down_until
        if action == "reset":
            self._kill_all()
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, until - time.monotonic()), self._window_over)

    def _window_over(self) -> None:
        """Timer at a window's end: book its stall time (unless it was extended)."""
        now = time.monotonic()
        with self._lock:
            if now >= self._down_until:
                self._settle_stall(now)

    def _refusing(self) -> bool:
        """Whether a new connection must be reset at once."""
        if self._profile.offline:
            return True
        return self._down_action == "reset" and time.monotonic() < self._down_until

    async def _wait_up(self) -> None:
        """Return once the link is not inside a window (only stalls make anyone wait)."""
        while (left := self._down_until - time.monotonic()) > 0:
            await asyncio.sleep(left)

    def _kill_all(self) -> None:
        """Reset every open connection: the link dropped them."""
        victims = list(self._conns)
        for conn in victims:
            self._kill(conn)
        for lane in self._lanes.values():
            lane.busy_until = 0.0  # the modem's queue went with them
        if victims:
            with self._lock:
                self._stats.resets += len(victims)

    def _kill(self, conn: _Conn) -> None:
        """RST both sides of `conn` and stop its tasks."""
        self._conns.discard(conn)
        reset(conn.client)
        if conn.upstream is not None:
            reset(conn.upstream)
        for task in conn.workers:  # directly: they must not run another step first
            task.cancel()
        if conn.task is not None:
            conn.task.cancel()

    async def _apply_profile(self, profile: Profile) -> None:
        """A new profile is a new link state: windows end and the schedule restarts now."""
        self._profile = profile
        now = time.monotonic()
        with self._lock:
            self._settle_stall(now)
            self._down_until = 0.0
            self._phase = None
        if self._scheduler is not None:
            self._scheduler.cancel()
            self._scheduler = None
        if profile.offline:
            self._kill_all()
            return
        if profile.down_every_s is not None:
            phase = self._phase_override
            if phase is None:
                draw = random.Random(f"{self.seed}:down-phase:{profile.name}")
                phase = draw.uniform(0.0, profile.down_every_s)
            with self._lock:
                self._phase = phase
            self._scheduler = asyncio.get_running_loop().create_task(
                self._schedule(profile, now + phase)
            )
            self._track(self._scheduler)

    async def _schedule(self, profile: Profile, first: float) -> None:
        """Enter the profile's down windows, every `down_every_s` from `first`."""
        assert profile.down_every_s is not None
        k = 0
        while not self._closing:
            await asyncio.sleep(max(0.0, first + k * profile.down_every_s - time.monotonic()))
            self._enter_down(profile.down_for_s, profile.down_action)
            k += 1

    # -- the loop thread ----------------------------------------------------------------------

    async def _started(self) -> None:
        await self._apply_profile(self._profile)

    async def _shutdown(self) -> None:
        """Stop accepting, reset every socket, cancel every task."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            self._kill(conn)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.gather(*tasks, return_exceptions=True)

    def _track(self, task: asyncio.Task[Any]) -> None:
        """Register `task` so that shutdown can cancel it."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        """One client connection: refuse it, or carry it over the link."""
        task = asyncio.current_task()
        if task is not None:
            self._track(task)
        try:
            if self._closing or self._refusing():
                with self._lock:
                    self._stats.refused += 1
                reset(c_writer)
                return
            with self._lock:
                index = self._next_index
                self._next_index += 1
                self._stats.connections += 1
                self._stats.wire_bytes += _HANDSHAKE_SEGMENTS * HEADER
            conn = _Conn(index, c_writer, task, last_activity=time.monotonic())
            self._conns.add(conn)
            try:
                await self._relay(conn, c_reader)
            finally:
                self._conns.discard(conn)
        except asyncio.CancelledError:
            # Only a kill or shutdown cancels us. Returning normally matters: on Python 3.11
            # start_server logs a spurious error for a connection callback that ends cancelled.
            reset(c_writer)

    async def _relay(self, conn: _Conn, c_reader: asyncio.StreamReader) -> None:
        """Handshake, then pump and deliver both directions; reset both sides on any error."""
        await self._wait_up()
        # The client's connect() already returned (loopback), so the SYN / SYN-ACK round trip is
        # charged here: the server hears of the client half an RTT later, the first data can
        # leave a whole RTT later.
        await asyncio.sleep(self._profile.rtt_s / 2)
        try:
            async with asyncio.timeout(self.connect_timeout):
                u_reader, u_writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
        except (OSError, TimeoutError):
            with self._lock:
                self._stats.upstream_errors += 1
            reset(conn.client)
            return
        conn.upstream = u_writer
        await asyncio.sleep(self._profile.rtt_s / 2)

        loop = asyncio.get_running_loop()
        flows: list[tuple[_Flow, asyncio.StreamReader, asyncio.StreamWriter]] = []
        ends: list[tuple[Direction, asyncio.StreamReader, asyncio.StreamWriter]] = [
            ("up", c_reader, u_writer),
            ("down", u_reader, conn.client),
        ]
        for direction, reader, writer in ends:
            flow = _Flow(
                direction=direction,
                lane=self._lanes[direction],
                rng=random.Random(f"{self.seed}:{conn.index}:{direction}"),
                queue=asyncio.Queue(_QUEUE_SEGMENTS),
            )
            flows.append((flow, reader, writer))
        for flow, reader, writer in flows:
            flow.deliverer = loop.create_task(self._deliver(conn, flow, writer))
            conn.workers += [flow.deliverer, loop.create_task(self._pump(conn, flow, reader))]

        graceful = False
        try:
            pending: set[asyncio.Task[str]] = set(conn.workers)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(_outcome(task) != "eof" for task in done):
                    break
            else:
                graceful = True  # both directions delivered their FIN
        finally:
            for task in conn.workers:
                task.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.gather(*conn.workers, return_exceptions=True)
            if graceful and not self._closing:
                await close(conn.client, self.io_timeout)
                await close(u_writer, self.io_timeout)
            else:
                reset(conn.client)
                reset(u_writer)

    async def _pump(self, conn: _Conn, flow: _Flow, reader: asyncio.StreamReader) -> str:
        """Read one direction segment by segment and put each on the link.

        Returns "eof", "reset" or "idle".
        """
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        data = await reader.read(MSS)
                except TimeoutError:
                    if time.monotonic() - conn.last_activity >= self.idle_timeout:
                        return "idle"
                    continue  # the other direction is busy: keep waiting
                conn.last_activity = time.monotonic()
                await self._wait_up()  # a stalled link serialises nothing
                profile = self._profile
                if profile.offline:
                    return "reset"  # being killed: the switch to offline resets us
                now = time.monotonic()
                if not data:
                    # The FIN travels behind the data, like any segment.
                    at = max(now + profile.rtt_s / 2, flow.last_delivery)
                    return "eof" if await self._enqueue(flow, at, None) else "reset"
                wire = len(data) + HEADER
                finish = flow.lane.reserve(wire, profile.rate_bps, now)
                lost = flow.rng.random() < profile.loss  # one draw per segment, always
                at = finish + profile.rtt_s / 2 + (profile.rto_s if lost else 0.0)
                at = max(at, flow.last_delivery)  # in order: a loss holds back what follows
                flow.last_delivery = at
                with self._lock:
                    self._stats.segments += 1
                    self._stats.wire_bytes += 2 * wire if lost else wire
                    self._stats.lost_segments += int(lost)
                if not await self._enqueue(flow, at, data):
                    return "reset"
                # The modem is busy until `finish`: only then read the next segment, so a slow
                # link backs up into the sender's socket buffers as a real one would.
                await asyncio.sleep(max(0.0, finish - time.monotonic()))
        except OSError:  # ConnectionResetError and friends
            return "reset"

    async def _enqueue(self, flow: _Flow, at: float, data: bytes | None) -> bool:
        """Hand a segment to the deliverer; False if it is gone (its connection is dying)."""
        while True:
            try:
                async with asyncio.timeout(_POLL):
                    await flow.queue.put((at, data))
                return True
            except TimeoutError:
                if flow.deliverer is None or flow.deliverer.done():
                    return False

    async def _deliver(self, conn: _Conn, flow: _Flow, writer: asyncio.StreamWriter) -> str:
        """Write each segment to the far side when it arrives there.

        Returns "eof", "reset" or "stalled".
        """
        try:
            while True:
                try:
                    async with asyncio.timeout(_POLL):
                        at, data = await flow.queue.get()
                except TimeoutError:
                    continue  # nothing in flight; the pump notices idleness
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._wait_up()  # segments in flight wait out a stall too
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return "eof"
                writer.write(data)
                async with asyncio.timeout(self.io_timeout):
                    await writer.drain()
                conn.last_activity = time.monotonic()
                with self._lock:
                    if flow.direction == "up":
                        self._stats.up_bytes += len(data)
                    else:
                        self._stats.down_bytes += len(data)
        except TimeoutError:
            return "stalled"
        except OSError:
            return "reset"


def _outcome(task: asyncio.Task[str]) -> str:
    """A worker's result, or "error" if it failed or was cancelled."""
    if task.cancelled() or task.exception() is not None:
        return "error"
    return task.result()


def _rate(bps: float) -> str:
    """64000 -> "64 kbit/s"."""
    if bps >= 1_000_000:
        return f"{bps / 1_000_000:g} Mbit/s"
    return f"{bps / 1000:g} kbit/s"
