"""A throwaway PostgreSQL server for the test suite, run from Debian's `postgresql` package.

`PgServer().start()` runs initdb in a fresh temporary directory, starts postgres on a free
TCP port of 127.0.0.1 (never 5432, never the distribution's own cluster) with durability
switched off, and `stop()` kills it and removes the directory. `stop()` is also registered
with atexit, so an interrupted session does not leave a postmaster behind.

initdb and postgres refuse to run as root: as root they run as Debian's `postgres` OS user,
in a directory under /tmp that this user owns.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

INSTALL_HINT = (
    "PostgreSQL is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin "
    "nor from `pg_config --bindir`): run `make test`, which installs Debian's postgresql"
)
PG_USER = "postgres"  # the OS user that runs the server when we are root, and the DB superuser
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "max_wal_size": "1GB",  # fewer checkpoints while tests churn databases
    "logging_collector": "off",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}
_START_TIMEOUT = 60  # seconds
_STOP_TIMEOUT = 30


class PgNotInstalledError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


class PgServerError(RuntimeError):
    """initdb or the server failed; the message carries the tail of their output."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)


def _has_server_bins(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def find_pg_bin() -> Path | None:
    """The newest PostgreSQL bin directory that holds initdb, pg_ctl and postgres, if any."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if _has_server_bins(bindir):
            return bindir
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        if out and _has_server_bins(Path(out)):
            return Path(out)
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now (and not 5432)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port != 5432:
            return port


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class PgServer:
    """One PostgreSQL server in its own temporary directory.

    Usable as a context manager; `start()` returns the server itself.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir
        self.tmpdir: Path | None = None
        self.port: int | None = None
        self._running = False
        self._as_root = os.geteuid() == 0

    # -- paths -----------------------------------------------------------------------------

    def _dir(self) -> Path:
        if self.tmpdir is None:
            raise PgServerError("the server has not been started")
        return self.tmpdir

    @property
    def data_dir(self) -> Path:
        return self._dir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._dir() / "sock"

    @property
    def log_file(self) -> Path:
        return self._dir() / "postgres.log"

    # -- running binaries ------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        # A PGDATA/PGPORT/PGHOST of the caller must not steer our server or our clients.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return env

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        if self.bin_dir is None:
            raise PgNotInstalledError(INSTALL_HINT)
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root:
            runuser = shutil.which("runuser")
            if runuser:
                cmd = [runuser, "-u", PG_USER, "--", *cmd]
            else:
                cmd = ["setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}", "--init-groups", *cmd]
        return subprocess.run(
            cmd,
            cwd=self._dir(),  # postgres may not enter the caller's cwd (say /root)
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # -- life cycle ------------------------------------------------------------------------

    def start(self, tmpdir: Path | str | None = None) -> PgServer:
        """initdb in a new directory (inside `tmpdir`, else the system temp dir) and start.

        Blocks until the server accepts connections. Raises PgNotInstalledError when the
        binaries are missing and PgServerError (with the server's log) when anything fails.
        """
        if self._running:
            raise PgServerError("the server is already running")
        if self.bin_dir is None:
            self.bin_dir = find_pg_bin()
        if self.bin_dir is None:
            raise PgNotInstalledError(INSTALL_HINT)
        self.tmpdir = self._make_tmpdir(tmpdir)
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_postgres()
        except BaseException:
            self.stop()
            raise
        return self

    def _make_tmpdir(self, parent: Path | str | None) -> Path:
        if self._as_root:
            try:
                pw = pwd.getpwnam(PG_USER)
            except KeyError:
                raise PgNotInstalledError(
                    f"running as root but there is no `{PG_USER}` OS user to run the server: "
                    "run `make test`, which installs Debian's postgresql"
                ) from None
            base = Path(parent) if parent is not None else Path("/tmp")
            _make_traversable(base)
            path = Path(tempfile.mkdtemp(prefix="pgserver-", dir=base))
            os.chown(path, pw.pw_uid, pw.pw_gid)
        else:
            path = Path(tempfile.mkdtemp(prefix="pgserver-", dir=parent))
        path.chmod(0o700)
        return path

    def _initdb(self) -> None:
        # C.UTF-8 keeps sorting byte-wise but lets upper()/lower() handle Vietnamese letters.
        for locale in ("C.UTF-8", "C"):
            proc = self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                PG_USER,
                "--encoding=UTF8",
                f"--locale={locale}",
                "--no-sync",
                timeout=120,
            )
            if proc.returncode == 0:
                break
            if self.data_dir.exists():  # the retry needs an empty directory
                shutil.rmtree(self.data_dir, ignore_errors=True)
        else:
            raise PgServerError(f"initdb failed:\n{proc.stdout}\n{proc.stderr}")
        settings = {**SETTINGS, "unix_socket_directories": f"'{self.socket_dir}'"}
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# pgserver.py: a throwaway test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self.socket_dir.mkdir()
        if self._as_root:
            pw = pwd.getpwnam(PG_USER)
            os.chown(self.socket_dir, pw.pw_uid, pw.pw_gid)

    def _start_postgres(self) -> None:
        errors: list[str] = []
        for _ in range(3):  # another process may take the free port before postgres binds it
            port = free_port()
            proc = self._run(
                "pg_ctl",
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                str(_START_TIMEOUT),
                timeout=_START_TIMEOUT + 10,
            )
            if proc.returncode == 0:
                self.port = port
                self._running = True
                self._wait_ready()
                return
            errors.append(f"{proc.stdout}{proc.stderr}\n--- log ---\n{_tail(self.log_file)}")
            if "Address already in use" not in errors[-1]:
                break
        raise PgServerError("postgres did not start:\n" + "\n".join(errors))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PgServerError(
                        f"postgres is not answering on port {self.port}: {exc}\n"
                        f"--- log ---\n{_tail(self.log_file)}"
                    ) from exc
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server at once (-m immediate) and remove its directory. Idempotent."""
        atexit.unregister(self.stop)
        if self.tmpdir is None:
            return
        if self.data_dir.is_dir() and (self.data_dir / "postmaster.pid").exists():
            try:
                proc = self._run(
                    "pg_ctl",
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    str(_STOP_TIMEOUT),
                    timeout=_STOP_TIMEOUT + 10,
                )
                stopped = proc.returncode == 0
            except (OSError, subprocess.SubprocessError):
                stopped = False
            if not stopped:
                self._kill_postmaster()
        self._running = False
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> PgServer:
        if not self._running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def url(self, dbname: str = "postgres") -> str:
        if not self._running or self.port is None:
            raise PgServerError("the server is not running")
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still connected to it."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _make_traversable(directory: Path) -> None:
    """Let the postgres user walk down to `directory` (adds o+x where it is missing)."""
    directory = directory.resolve()
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & 0o001:
            path.chmod(mode | 0o001)
