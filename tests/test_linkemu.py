"""The link emulator itself: field benchmarks quote its 2G and DSL numbers, so its rate,
latency, loss, down windows and byte counts must be what it says. Real sockets on loopback,
a threaded TCP server and a threaded HTTP server; time bounds are loose enough for a loaded
2-core machine (the whole file runs in about 15 s)."""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import linkemu
import pytest
from linkemu import (
    HEADER,
    MSS,
    PROFILES,
    LinkEmulator,
    LinkStats,
    NetemProbe,
    Profile,
    netem_probe,
)

WAIT = 5.0  # generous per-step bound; nothing here should come close
BLOB = random.Random(0).randbytes(512 * 1024)


class LineServer:
    """Thread-per-connection server. Per request line "<up> <down>\\n" it reads <up> bytes,
    then answers BLOB[:<down>]; connections are kept alive until the client closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(WAIT * 2)
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn, conn.makefile("rb") as stream:
                while line := stream.readline():
                    up, down = (int(word) for word in line.split())
                    if len(stream.read(up)) != up:
                        return
                    conn.sendall(BLOB[:down])
        except OSError:
            pass  # the link reset us: that is what some tests want

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(WAIT)
        self.listener.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def server() -> Iterator[LineServer]:
    srv = LineServer()
    yield srv
    srv.close()


def connect(link: LinkEmulator) -> socket.socket:
    return socket.create_connection(("127.0.0.1", link.port), timeout=WAIT)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        data = sock.recv(min(65536, n - len(got)))
        if not data:
            raise EOFError(f"EOF after {len(got)} of {n} bytes")
        got += data
    return bytes(got)


def request(sock: socket.socket, up: int, down: int) -> bytes:
    """One exchange: send the line and `up` bytes, return the `down` bytes of the answer."""
    sock.sendall(f"{up} {down}\n".encode() + bytes(up))
    return recv_exact(sock, down)


def timed(fn: Callable[[], object]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def eventually(pred: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def read_until_dead(sock: socket.socket, timeout: float) -> tuple[int, str]:
    """Read until EOF or reset; returns (bytes read, "eof" | "reset" | "timeout")."""
    sock.settimeout(timeout)
    total = 0
    try:
        while data := sock.recv(65536):
            total += len(data)
    except TimeoutError:
        return total, "timeout"
    except OSError:
        return total, "reset"
    return total, "eof"


def try_request(link: LinkEmulator) -> tuple[int, str]:
    """Connect and ask for 10 bytes; returns (bytes read, how the connection ended)."""
    try:
        sock = connect(link)  # the kernel accepts: a refusal is a reset, maybe already here
    except ConnectionResetError:
        return 0, "reset"
    with sock:
        with contextlib.suppress(OSError):
            sock.sendall(b"0 10\n")
        return read_until_dead(sock, WAIT)


def fast(name: str = "fast", **kwargs: object) -> Profile:
    """A link too fast to matter, with whatever else a test wants."""
    values: dict[str, object] = {"rate_bps": 50_000_000, "rtt_s": 0.01, **kwargs}
    return Profile(name, **values)  # type: ignore[arg-type]


# -- profiles and netem -----------------------------------------------------------------------


def test_profiles_are_the_ones_the_issue_names() -> None:
    g2, dsl, off = PROFILES["2g"], PROFILES["dsl"], PROFILES["offline"]
    assert (g2.rate_bps, g2.rtt_s, g2.loss) == (64_000, 0.6, 0.02)
    assert (g2.down_every_s, g2.down_for_s, g2.down_action) == (60.0, 10.0, "reset")
    assert g2.rto_s == 1.2  # max(1 s, 2 x RTT)
    assert (dsl.rate_bps, dsl.rtt_s, dsl.loss, dsl.down_every_s) == (1_000_000, 0.08, 0.005, None)
    assert dsl.rto_s == 1.0
    assert off.offline
    assert g2.describe() == "2G: 64 kbit/s, 600 ms RTT, 2% loss, down 10 s every 60 s (reset)"
    assert dsl.describe() == "rural DSL: 1 Mbit/s, 80 ms RTT, 0.5% loss"
    with pytest.raises(TypeError):
        PROFILES["2g"] = dsl  # type: ignore[index]
    for bad in (
        {"rate_bps": 0},
        {"loss": 1.5},
        {"rtt_s": -1},
        {"down_every_s": 5.0, "down_for_s": 5.0},
        {"down_action": "explode"},
    ):
        with pytest.raises(ValueError):
            fast(**bad)


def test_netem_probe_tells_the_truth_and_the_emulator_falls_back_to_userspace(
    server: LineServer,
) -> None:
    probe = netem_probe()
    assert netem_probe() is probe  # probed once per process
    kernel = subprocess.run(
        ["unshare", "-rn", "sh", "-c", linkemu._PROBE_SCRIPT],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert probe.available == (kernel.returncode == 0)
    if not probe.available:  # on this project's kernels: "Specified qdisc kind is unknown"
        assert kernel.stderr.split()[-1] in probe.reason
    with LinkEmulator("127.0.0.1", server.port, fast(), prefer_netem=True) as link:
        assert link.mode == "userspace"
        assert probe.reason in link.netem_reason
        assert link.describe().startswith("userspace link emulator, fast:")
        with connect(link) as sock:
            assert request(sock, 10, 100) == BLOB[:100]  # and it really relays
    with LinkEmulator("127.0.0.1", server.port, fast(), prefer_netem=False) as link:
        assert link.mode == "userspace"
        assert "not requested" in link.netem_reason


def test_netem_probe_never_raises() -> None:
    missing = linkemu._run_probe(["/nonexistent/unshare", "-rn"])
    assert missing == NetemProbe(False, "/nonexistent/unshare not found")
    slow = linkemu._run_probe(["sleep", "5"], timeout=0.2)
    assert not slow.available and "timed out" in slow.reason
    failing = linkemu._run_probe(["sh", "-c", "echo no qdisc for you >&2; exit 3"])
    assert not failing.available and "no qdisc for you" in failing.reason
    assert linkemu._run_probe(["true"]).available


# -- bandwidth and latency --------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["up", "down"])
def test_throughput_matches_the_rate(server: LineServer, direction: str) -> None:
    size = 40 * 1024
    rate = 256_000
    ideal = size * 8 / rate  # 1.28 s of payload; headers add 3.6%
    with LinkEmulator("127.0.0.1", server.port, fast(rate_bps=rate)) as link, connect(link) as s:
        request(s, 0, 1)  # the handshake is not what we measure
        if direction == "up":
            elapsed = timed(lambda: request(s, size, 1))
        else:
            elapsed = timed(lambda: request(s, 0, size))
    assert 0.8 * ideal <= elapsed <= 2 * ideal, (elapsed, ideal)


def test_up_and_down_are_independent(server: LineServer) -> None:
    size, rate = 40 * 1024, 512_000
    ideal = size * 8 / rate  # 0.64 s; sharing one serialiser would take twice that
    times: dict[str, float] = {}
    link = LinkEmulator("127.0.0.1", server.port, fast(rate_bps=rate))
    with link, connect(link) as a, connect(link) as b:
        request(a, 0, 1)
        request(b, 0, 1)

        def run(name: str, sock: socket.socket, up: int, down: int) -> None:
            times[name] = timed(lambda: request(sock, up, down))

        threads = [
            threading.Thread(target=run, args=("up", a, size, 1)),
            threading.Thread(target=run, args=("down", b, 0, size)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT * 2)
    assert set(times) == {"up", "down"}
    for name, elapsed in times.items():
        assert 0.8 * ideal <= elapsed <= 1.6 * ideal, (name, elapsed, ideal)


def test_connections_share_the_link(server: LineServer) -> None:
    size, rate = 40 * 1024, 512_000
    ideal_both = 2 * size * 8 / rate  # one modem: two downloads take twice as long
    times: list[float] = []
    link = LinkEmulator("127.0.0.1", server.port, fast(rate_bps=rate))
    with link, connect(link) as a, connect(link) as b:
        request(a, 0, 1)
        request(b, 0, 1)
        lock = threading.Lock()

        def run(sock: socket.socket) -> None:
            elapsed = timed(lambda: request(sock, 0, size))
            with lock:
                times.append(elapsed)

        threads = [threading.Thread(target=run, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT * 2)
    assert len(times) == 2
    # Fair sharing: both finish near the end, not one after the other.
    for elapsed in times:
        assert 0.8 * ideal_both <= elapsed <= 2 * ideal_both, (times, ideal_both)


def test_round_trip_time_and_handshake(server: LineServer) -> None:
    rtt = 0.2
    with LinkEmulator("127.0.0.1", server.port, fast(rtt_s=rtt)) as link, connect(link) as s:
        first = timed(lambda: request(s, 10, 10))  # SYN/SYN-ACK, then request and answer
        later = [timed(lambda: request(s, 10, 10)) for _ in range(3)]
    assert 1.9 * rtt <= first <= 2 * rtt + 0.2, first
    for elapsed in later:
        assert 0.95 * rtt <= elapsed <= rtt + 0.2, later


# -- loss -------------------------------------------------------------------------------------


def test_a_lost_segment_arrives_one_retransmission_timeout_late(server: LineServer) -> None:
    prof = fast(rtt_s=0.1, loss=1.0, rto_min_s=0.15)  # rto = max(0.15, 2 x 0.1) = 0.2 s
    assert prof.rto_s == pytest.approx(0.2)
    with LinkEmulator("127.0.0.1", server.port, prof) as link, connect(link) as s:
        request(s, 0, 1)
        assert eventually(lambda: link.stats.down_bytes == 1)  # counted a moment after delivery
        link.reset_stats()
        elapsed = timed(lambda: request(s, 0, 10))  # request and answer each lost once
        assert eventually(lambda: link.stats.down_bytes == 10)
        stats = link.stats
    assert 0.1 + 2 * 0.2 <= elapsed <= 0.5 + 0.25, elapsed
    assert (stats.segments, stats.lost_segments) == (2, 2)


def test_loss_rate_is_about_right_and_deterministic_per_seed(server: LineServer) -> None:
    size = 200 * MSS
    prof = fast(rate_bps=8_000_000, rtt_s=0.0, loss=0.1, rto_min_s=0.05)

    def run(seed: int) -> tuple[int, int]:
        with LinkEmulator("127.0.0.1", server.port, prof, seed=seed) as link, connect(link) as s:
            assert request(s, 0, size) == BLOB[:size]  # losses delay, never corrupt or reorder
            assert eventually(lambda: link.stats.down_bytes == size)
            stats = link.stats
        return stats.segments, stats.lost_segments

    segments, lost = run(7)
    assert segments == 201  # the request line, then 200 full segments
    assert 0.06 <= lost / segments <= 0.14, lost
    assert run(7) == (segments, lost)
    assert run(8)[1] != lost  # another seed, other dice


# -- down windows and offline -----------------------------------------------------------------


def test_reset_window_kills_open_connections_refuses_new_ones_then_recovers(
    server: LineServer,
) -> None:
    prof = Profile("slow", 64_000, 0.05, down_action="reset")
    size = 40 * 1024  # ~5 s at 64 kbit/s: still running when the link drops
    with LinkEmulator("127.0.0.1", server.port, prof) as link:
        with connect(link) as a:
            a.sendall(f"0 {size}\n".encode())
            assert len(a.recv(65536)) > 0  # the answer is flowing
            link.force_down(1.0)
            assert link.is_down
            got, end = read_until_dead(a, WAIT)
            assert end in ("reset", "eof") and got < size
        start = time.monotonic()
        got, end = try_request(link)
        assert (got, end in ("reset", "eof")) == (0, True)
        assert time.monotonic() - start < 0.5
        stats = link.stats
        assert (stats.resets, stats.refused, stats.down_windows) == (1, 1, 1)
        assert eventually(lambda: not link.is_down, 3.0)
        with connect(link) as c:
            assert request(c, 10, 1000) == BLOB[:1000]


def test_stall_window_pauses_traffic_then_everything_completes(server: LineServer) -> None:
    with LinkEmulator("127.0.0.1", server.port, fast(down_action="stall")) as link:
        with connect(link) as a:
            request(a, 0, 1)
            link.force_down(0.6)
            late: list[float] = []
            start = time.monotonic()

            def newcomer() -> None:  # a connection opened inside the window waits too
                with connect(link) as b:
                    assert request(b, 10, 100) == BLOB[:100]
                    late.append(time.monotonic() - start)

            thread = threading.Thread(target=newcomer)
            thread.start()
            assert request(a, 5000, 20_000) == BLOB[:20_000]
            elapsed = time.monotonic() - start
            thread.join(WAIT)
        assert 0.55 <= elapsed <= 1.5, elapsed
        assert len(late) == 1 and 0.55 <= late[0] <= 1.5, late
        assert eventually(lambda: not link.is_down)
        stats = link.stats
    assert (stats.resets, stats.refused, stats.down_windows) == (0, 0, 1)
    assert stats.stalled_seconds == pytest.approx(0.6, abs=0.05)


def test_scheduled_windows_follow_phase_and_period(server: LineServer) -> None:
    prof = fast(down_every_s=1.2, down_for_s=0.5, down_action="stall")
    with LinkEmulator("127.0.0.1", server.port, prof, down_phase_s=0.25) as link:
        t0 = time.monotonic()  # windows at [0.25, 0.75] and [1.45, 1.95] after start

        def at(t: float) -> tuple[bool, int]:
            time.sleep(max(0.0, t0 + t - time.monotonic()))
            return link.is_down, link.stats.down_windows

        assert link.schedule_phase_s == 0.25
        assert at(0.05) == (False, 0)
        assert at(0.5) == (True, 1)
        assert at(1.1) == (False, 1)
        assert at(1.7) == (True, 2)


def test_the_schedule_phase_comes_from_the_seed(server: LineServer) -> None:
    def phase(seed: int, prof: Profile) -> float | None:
        with LinkEmulator("127.0.0.1", server.port, prof, seed=seed) as link:
            return link.schedule_phase_s

    first = phase(3, PROFILES["2g"])
    assert first is not None and 0.0 <= first < 60.0
    assert phase(3, PROFILES["2g"]) == first
    assert phase(4, PROFILES["2g"]) != first
    assert phase(3, PROFILES["dsl"]) is None  # no schedule, no phase


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the hub's uvicorn does

    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # resets by the link are the point of these tests, not news


@pytest.fixture
def http_port() -> Iterator[int]:
    httpd = QuietHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(WAIT)


def test_offline_fails_promptly_and_set_profile_brings_the_link_back(http_port: int) -> None:
    with (
        LinkEmulator("127.0.0.1", http_port, fast()) as link,
        httpx.Client(base_url=link.url, timeout=WAIT) as client,
    ):
        assert client.get("/").text == "hello"  # leaves a keep-alive connection open
        link.set_profile(PROFILES["offline"])
        assert link.is_down and link.stats.resets == 1
        attempts: list[Callable[[], httpx.Response]] = [
            lambda: client.get("/"),  # the reset keep-alive connection, then a new one
            lambda: httpx.get(link.url, timeout=WAIT),
        ]
        for attempt in attempts:
            start = time.monotonic()
            with pytest.raises(httpx.TransportError):
                attempt()
            assert time.monotonic() - start < 1.0
        assert link.stats.refused >= 2
        link.set_profile(fast("back"))
        assert not link.is_down
        assert client.get("/").text == "hello"
        assert link.profile.name == "back"


def test_starting_offline_refuses_from_the_first_connection(http_port: int) -> None:
    with LinkEmulator("127.0.0.1", http_port, PROFILES["offline"]) as link:
        start = time.monotonic()
        with pytest.raises(httpx.TransportError):
            httpx.get(link.url, timeout=WAIT)
        assert time.monotonic() - start < 1.0
        assert (link.stats.connections, link.stats.refused) == (0, 1)


def test_set_profile_applies_to_open_connections(server: LineServer) -> None:
    with LinkEmulator("127.0.0.1", server.port, fast(rtt_s=0.05)) as link, connect(link) as s:
        request(s, 0, 1)
        quick = timed(lambda: request(s, 10, 10))
        link.set_profile(fast("far", rtt_s=0.4))
        slow = timed(lambda: request(s, 10, 10))
    assert quick < 0.05 + 0.15, quick
    assert 0.38 <= slow <= 0.4 + 0.2, slow


# -- stats and lifecycle ----------------------------------------------------------------------


def test_stats_count_payload_both_ways_and_wire_bytes_on_top(server: LineServer) -> None:
    up, down = 5000, 70_000
    line = f"{up} {down}\n".encode()
    with LinkEmulator("127.0.0.1", server.port, fast()) as link:
        with connect(link) as s:
            assert request(s, up, down) == BLOB[:down]
        assert eventually(lambda: link.stats.down_bytes == down)
        stats = link.stats
        stats.up_bytes = -1  # a snapshot: changing it changes nothing
        assert link.stats.up_bytes == len(line) + up
        link.reset_stats()
        assert link.stats == LinkStats()
    payload = len(line) + up + down
    assert (stats.connections, stats.lost_segments, stats.resets, stats.down_windows) == (
        1,
        0,
        0,
        0,
    )
    assert stats.segments >= -(-(len(line) + up) // MSS) - (-down // MSS)
    assert stats.wire_bytes == payload + HEADER * stats.segments + 4 * HEADER
    assert stats.wire_bytes > payload


def test_stop_resets_open_connections_and_returns_promptly(server: LineServer) -> None:
    link = LinkEmulator("127.0.0.1", server.port, Profile("slow", 64_000, 0.05)).start()
    with connect(link) as s:
        s.sendall(b"0 40000\n")
        assert len(s.recv(65536)) > 0
        assert timed(link.stop) < 2.5
        got, end = read_until_dead(s, WAIT)
    assert end in ("reset", "eof") and got < 40_000
    link.stop()  # twice is fine
    with pytest.raises(RuntimeError):
        link.force_down(1.0)
