"""The fault proxy itself: if it lied about what it cut or replayed, every whole-system sync
test built on it would prove nothing. Real sockets on loopback, a threaded TCP server and a
threaded HTTP server; all fast (the whole file runs in a few seconds)."""

from __future__ import annotations

import json
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from faultproxy import Action, Cut, Duplicate, FaultPlan, FaultProxy, Pass

CHUNK = 64 * 1024
WAIT = 5.0  # generous per-step bound; nothing here should come close


@dataclass(frozen=True)
class Record:
    """What the server saw on one connection and how that connection ended."""

    received: bytes
    end: str  # "eof" or "reset"


class TcpServer:
    """Thread-per-connection loopback server; each connection's Record lands in `records`."""

    def __init__(self, handler: Callable[[socket.socket], Record]) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.records: queue.Queue[Record] = queue.Queue()
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
            conn.settimeout(WAIT)
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            self.records.put(self.handler(conn))

    def next_record(self) -> Record:
        return self.records.get(timeout=WAIT)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(WAIT)
        self.listener.close()
        for conn in self.conns:
            conn.close()


def read_all(sock: socket.socket, received: bytearray) -> str:
    """Read until the peer is done; returns "eof" or "reset"."""
    try:
        while data := sock.recv(CHUNK):
            received += data
    except OSError:
        return "reset"
    return "eof"


def echo(conn: socket.socket) -> Record:
    """Send back every byte; half-close when the client does."""
    received = bytearray()
    try:
        while data := conn.recv(CHUNK):
            received += data
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        return Record(bytes(received), "reset")
    return Record(bytes(received), "eof")


def sender(blob: bytes) -> Callable[[socket.socket], Record]:
    """A server that sends `blob` as soon as a client connects, then records what it gets."""

    def handler(conn: socket.socket) -> Record:
        try:
            conn.sendall(blob)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        received = bytearray()
        end = read_all(conn, received)
        return Record(bytes(received), end)

    return handler


def exchange(port: int, payload: bytes) -> Record:
    """Send `payload` (then half-close) while reading the answer, as a real client would."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:

        def send() -> None:
            try:
                sock.sendall(payload)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the proxy cut us off: that is the point

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        received = bytearray()
        end = read_all(sock, received)
        thread.join(WAIT)
        return Record(bytes(received), end)


@pytest.fixture
def echo_server() -> Iterator[TcpServer]:
    server = TcpServer(echo)
    yield server
    server.close()


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


# -- pass-through -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 1000, CHUNK + 7, 1024 * 1024])
def test_pass_through_relays_bytes_intact_both_ways(echo_server: TcpServer, size: int) -> None:
    payload = blob(size, seed=size)
    with FaultProxy("127.0.0.1", echo_server.port) as proxy:
        got = exchange(proxy.port, payload)
        assert got == Record(payload, "eof")
        assert echo_server.next_record() == Record(payload, "eof")
        assert proxy.settle(WAIT)
        stats = proxy.stats
    assert (stats.connections, stats.cuts, stats.duplicates, stats.resets) == (1, 0, 0, 0)
    assert stats.bytes_up == stats.bytes_down == size


# -- cuts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, 1234, CHUNK, 300_000])
def test_cut_up_delivers_exactly_the_prefix_to_the_server(
    echo_server: TcpServer, offset: int
) -> None:
    payload = blob(400_000)
    with FaultProxy("127.0.0.1", echo_server.port, FaultPlan(script=[Cut("up", offset)])) as proxy:
        exchange(proxy.port, payload)
        seen = echo_server.next_record()
        assert proxy.cut_points == [("up", offset)]
    assert seen.received == payload[:offset]
    assert seen.end in ("eof", "reset")


@pytest.mark.parametrize("offset", [0, 1, 1234, CHUNK, 300_000])
def test_cut_down_delivers_exactly_the_prefix_to_the_client(offset: int) -> None:
    answer = blob(1024 * 1024)
    server = TcpServer(sender(answer))
    try:
        plan = FaultPlan(script=[Cut("down", offset)])
        with FaultProxy("127.0.0.1", server.port, plan) as proxy:
            got = exchange(proxy.port, b"GET")
            assert got.received == answer[:offset]
            assert got.end in ("eof", "reset")
            assert proxy.stats.cut_points == [("down", offset)]
            assert proxy.stats.cut_offsets == [offset]
    finally:
        server.close()


def test_hundreds_of_random_cut_points_are_all_exact(echo_server: TcpServer) -> None:
    """What a soak suite relies on: each random cut lands exactly where it says it did."""
    payload = blob(12_000)
    plan = FaultPlan(seed=20261123, cut_rate=1.0, cut_max_bytes=8_000)
    with FaultProxy("127.0.0.1", echo_server.port, plan) as proxy:
        for _ in range(220):
            got = exchange(proxy.port, payload)
            seen = echo_server.next_record()
            cut = proxy.plans[-1].cut
            assert cut is not None
            if cut.direction == "up":
                assert seen.received == payload[: cut.offset]
            else:
                assert seen.received == payload
                assert got.received == payload[: cut.offset]
        points = proxy.cut_points
    assert len(points) == 220
    assert {d for d, _ in points} == {"up", "down"}
    assert len({o for _, o in points}) > 150  # offsets really are spread out


def test_cut_beyond_the_traffic_never_fires(echo_server: TcpServer) -> None:
    with FaultProxy("127.0.0.1", echo_server.port, FaultPlan(script=[Cut("up", 10_000)])) as proxy:
        assert exchange(proxy.port, b"short") == Record(b"short", "eof")
        assert proxy.settle(WAIT)
        assert proxy.cut_points == []


def test_same_seed_same_cut_points(echo_server: TcpServer) -> None:
    payload = blob(3_000)

    def run(seed: int) -> list[tuple[str, int]]:
        plan = FaultPlan(seed=seed, cut_rate=0.5, cut_max_bytes=2_000, duplicate_rate=0.0)
        with FaultProxy("127.0.0.1", echo_server.port, plan) as proxy:
            for _ in range(30):
                exchange(proxy.port, payload)
                echo_server.next_record()
            return list(proxy.cut_points)

    first, again, other = run(42), run(42), run(43)
    assert first == again
    assert 5 < len(first) < 25
    assert first != other


def test_script_comes_first_then_the_seeded_dice(echo_server: TcpServer) -> None:
    script: list[Action] = [Cut("down", 3), Pass(), Duplicate()]
    plan = FaultPlan(seed=1, cut_rate=1.0, cut_max_bytes=10, cut_direction="up", script=script)
    with FaultProxy("127.0.0.1", echo_server.port, plan) as proxy:
        for _ in range(5):
            exchange(proxy.port, b"0123456789abcdef")
            echo_server.next_record()
        assert proxy.settle(WAIT)
        plans = proxy.plans
    assert [(p.cut, p.duplicate, p.scripted) for p in plans[:3]] == [
        (Cut("down", 3), False, True),
        (None, False, True),
        (None, True, True),
    ]
    assert all(p.cut is not None and p.cut.direction == "up" and not p.scripted for p in plans[3:])


# -- duplicates -------------------------------------------------------------------------------


class HttpHub:
    """A keep-alive HTTP server that remembers every request body it handled."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    hub.bodies.append(body)
                    n = len(hub.bodies)
                answer = json.dumps({"seen": n}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # the proxy resets connections on purpose: no tracebacks on stderr

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def wait_for(self, count: int) -> list[bytes]:
        deadline = time.monotonic() + WAIT
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[HttpHub]:
    server = HttpHub()
    yield server
    server.close()


def test_duplicate_makes_the_server_see_the_request_twice(hub: HttpHub) -> None:
    with (
        FaultProxy("127.0.0.1", hub.port, FaultPlan(script=[Duplicate()])) as proxy,
        httpx.Client(base_url=proxy.url) as client,
    ):
        assert client.post("/sync", content=b"batch-1").json() == {"seen": 1}
        # The client keeps its connection open: the replay comes once the link is quiet.
        assert hub.wait_for(2) == [b"batch-1", b"batch-1"]
        assert proxy.stats.duplicates == 1


def test_duplicate_after_a_down_cut_the_server_acted_the_client_never_knew(hub: HttpHub) -> None:
    plan = FaultPlan(script=[Cut("down", 0, duplicate=True)])
    with FaultProxy("127.0.0.1", hub.port, plan) as proxy:
        with httpx.Client(base_url=proxy.url) as client, pytest.raises(httpx.TransportError):
            client.post("/sync", content=b"batch-1")
        assert proxy.settle(WAIT)
        stats = proxy.stats
    assert hub.bodies == [b"batch-1", b"batch-1"]
    assert (stats.cuts, stats.duplicates, stats.bytes_down) == (1, 1, 0)


def test_duplicate_replays_the_whole_keep_alive_stream(hub: HttpHub) -> None:
    plan = FaultPlan(script=[Duplicate()])
    with FaultProxy("127.0.0.1", hub.port, plan, duplicate_after_idle=None) as proxy:
        with httpx.Client(base_url=proxy.url) as client:
            client.post("/sync", content=b"a")
            client.post("/sync", content=b"b")
        assert proxy.settle(WAIT)
        assert proxy.stats.connections == 1
    assert hub.bodies == [b"a", b"b", b"a", b"b"]


def test_random_duplicates_follow_the_rate(hub: HttpHub) -> None:
    plan = FaultPlan(seed=3, duplicate_rate=1.0)
    with FaultProxy("127.0.0.1", hub.port, plan) as proxy:
        for i in range(3):
            with httpx.Client(base_url=proxy.url) as client:
                client.post("/sync", content=f"b{i}".encode())
        assert proxy.settle(WAIT)
        assert proxy.stats.duplicates == 3
    assert sorted(hub.bodies) == [b"b0", b"b0", b"b1", b"b1", b"b2", b"b2"]


# -- latency, failures, shutdown --------------------------------------------------------------


def test_delay_adds_at_least_the_configured_latency(echo_server: TcpServer) -> None:
    with FaultProxy("127.0.0.1", echo_server.port, FaultPlan(delay=(0.1, 0.12))) as proxy:
        start = time.monotonic()
        got = exchange(proxy.port, b"ping")
        elapsed = time.monotonic() - start
    assert got == Record(b"ping", "eof")
    assert elapsed >= 0.2 - 0.005  # one chunk each way, 0.1 s at least each


def test_unreachable_upstream_resets_the_client_quickly() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        dead_port = probe.getsockname()[1]
    with FaultProxy("127.0.0.1", dead_port) as proxy:
        try:
            received = exchange(proxy.port, b"hello").received
        except ConnectionResetError:
            # On a loaded machine the proxy's reset can land before connect() returns.
            received = b""
        assert received == b""
        deadline = time.monotonic() + WAIT
        while proxy.stats.upstream_errors < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.stats.upstream_errors == 1


def test_stop_with_open_connections_returns_quickly(echo_server: TcpServer) -> None:
    proxy = FaultProxy("127.0.0.1", echo_server.port, FaultPlan(delay=(30.0, 30.0))).start()
    clients = [socket.create_connection(("127.0.0.1", proxy.port), timeout=WAIT) for _ in range(6)]
    try:
        for sock in clients[:3]:
            sock.sendall(b"stuck in a 30 s delay")
        deadline = time.monotonic() + WAIT
        while proxy.stats.connections < len(clients) and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()
        proxy.stop()
        assert time.monotonic() - start < 2.0
        assert proxy._thread is not None and not proxy._thread.is_alive()
        for sock in clients:
            assert read_all(sock, bytearray()) in ("eof", "reset")
    finally:
        for sock in clients:
            sock.close()


def test_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        FaultPlan(cut_rate=1.5)
    with pytest.raises(ValueError):
        FaultPlan(cut_min_bytes=10, cut_max_bytes=5)
    with pytest.raises(ValueError):
        FaultPlan(delay=(0.2, 0.1))
    with pytest.raises(ValueError):
        Cut("sideways", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FaultPlan(script=["cut"])  # type: ignore[list-item]
