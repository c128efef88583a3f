"""Real servers on free loopback ports in temporary directories, for tests and benchmarks.

Mosquitto and a private PostgreSQL cluster with TimescaleDB preloaded. Nothing is mocked: these are the
Debian binaries. A missing binary is an error that names the install command, never a silent skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "run `bash scripts/install.sh` (or `make test`), which installs it"
PG_BIN = Path(os.environ.get("PATROLI_PG_BIN", "/usr/lib/postgresql/15/bin"))


class MissingServerError(RuntimeError):
    pass


class PortTakenError(RuntimeError):
    """Something else bound the port between our check and the server's start."""


PORT_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_run(count: int, attempts: int = 50) -> int:
    """A port p such that p … p + count - 1 are all free on every interface (a supervisor's children serve
    metrics on consecutive ports)."""
    for _ in range(attempts):
        base = free_port()
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.bind(("0.0.0.0", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no run of {count} free ports found")


# CONNECT, MQTT 3.1.1, clean session, keep-alive 10 s, client id "probe": any MQTT broker answers with a CONNACK
# (a refusal, if it wants a password, is still an answer), while a stranger that happens to listen does not.
_PROBE_CONNECT = b"\x10\x11\x00\x04MQTT\x04\x02\x00\x0a\x00\x05probe"


def answers_mqtt(sock: socket.socket) -> bool:
    sock.sendall(_PROBE_CONNECT)
    return sock.recv(1) == b"\x20"


def wait_for_port(
    port: int,
    timeout: float = 30.0,
    proc: subprocess.Popen | None = None,
    ready: Callable[[socket.socket], bool] | None = None,
) -> None:
    """Until something listens on the port (and, with `ready`, answers as the server we started should); a
    process that exits first (its port taken, say) fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            if ready is None or ready(s):
                return
        time.sleep(0.05)
    raise TimeoutError(f"no server ready on 127.0.0.1:{port} after {timeout} s")


def _require(binary: str | Path, package: str) -> str:
    path = shutil.which(str(binary)) if not Path(binary).is_absolute() else str(binary)
    if not path or not Path(path).exists():
        raise MissingServerError(f"{binary} not found (Debian package {package}): {INSTALL_HINT}")
    return path


# ------------------------------------------------------------------------------------------------ Mosquitto
@dataclass
class Mosquitto:
    port: int
    workdir: Path
    proc: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def url_for(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_mosquitto(
    workdir: Path | None = None, *, extra_config: str = "", port: int | None = None
) -> Mosquitto:
    """Start Mosquitto 2 with the in-flight and queue limits sized as in the shipped config."""
    binary = (
        _require("mosquitto", "mosquitto")
        if not Path("/usr/sbin/mosquitto").exists()
        else "/usr/sbin/mosquitto"
    )
    workdir = workdir or Path(tempfile.mkdtemp(prefix="patroli-mosquitto-"))
    # A port found free may be taken before the server binds it: with a port of our choosing, try another.
    attempts = 1 if port else PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return _start_mosquitto_on(binary, workdir, port or free_port(), extra_config)
        except PortTakenError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _start_mosquitto_on(binary: str, workdir: Path, port: int, extra_config: str) -> Mosquitto:
    conf = workdir / "mosquitto.conf"
    log_path = workdir / "mosquitto.log"
    default_auth = "" if "password_file" in extra_config else "allow_anonymous true\n"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        f"{default_auth}"
        "persistence false\n"
        # Acks are held until commit: the window must hold a whole batch or throughput collapses.
        "max_inflight_messages 0\n"
        "max_queued_messages 1000000\n"
        "max_queued_bytes 0\n"
        "persistent_client_expiration 1d\n"
        "set_tcp_nodelay true\n"  # PUBACKs at once, as shipped (the dispatch outbox waits for them)
        "log_dest stderr\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        # Run as whoever started us (root in CI): no privilege drop, so the temp files stay readable.
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        f"{extra_config}\n"
    )
    log_start = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=proc, ready=answers_mqtt)
    except Exception as exc:
        proc.kill()
        proc.wait()
        log_text = log_path.read_bytes()[log_start:].decode(errors="replace")
        if "Address already in use" in log_text:
            raise PortTakenError(port) from exc
        raise RuntimeError(f"mosquitto did not start: {log_text[-2000:]}") from exc
    return Mosquitto(port, workdir, proc, log_path)


# ------------------------------------------------------------------------------------------------ PostgreSQL
@dataclass
class Postgres:
    port: int
    datadir: Path
    run_as: list[str] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, dbname: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        return self.url(dbname)

    def postmaster_pid(self) -> int | None:
        """The server's process (pg_ctl detaches it, so it is no child of ours): for benchmarks' CPU notes."""
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def halt(self) -> None:
        """Stop the server but keep its data: an outage, for tests of what clients do meanwhile."""
        subprocess.run(
            [*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
            capture_output=True,
            check=True,
        )

    def resume(self) -> None:
        log_file = self.datadir.parent / "postgres.log"
        subprocess.run(
            [
                *self.run_as,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(log_file),
                "-w",
                "start",
            ],
            capture_output=True,
            check=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


STARTED_CLUSTERS: list[Postgres] = []  # by this process: a benchmark's note counts their CPU as its own


def start_postgres(*, port: int | None = None, settings: dict[str, str] | None = None) -> Postgres:
    """initdb + pg_ctl a throwaway cluster with `shared_preload_libraries = 'timescaledb'`.

    PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` system user.
    """
    for tool in ("initdb", "pg_ctl", "postgres"):
        _require(PG_BIN / tool, "postgresql-15")
    pkglib = (
        subprocess.run(
            [str(PG_BIN / "pg_config"), "--pkglibdir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if (PG_BIN / "pg_config").exists()
        else "/usr/lib/postgresql/15/lib"
    )
    if not (Path(pkglib) / "timescaledb.so").exists():
        raise MissingServerError(f"timescaledb.so not found in {pkglib}: {INSTALL_HINT}")

    root = Path(tempfile.mkdtemp(prefix="patroli-pg-"))  # directly under /tmp: traversable by postgres
    datadir = root / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        [
            *run_as,
            str(PG_BIN / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        check=True,
    )
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{root}'",
        "shared_preload_libraries": "'timescaledb'",
        "timescaledb.telemetry_level": "off",
        "max_connections": "200",
        "fsync": "off",  # throwaway clusters: durability is the broker-ack protocol's job here
        "full_page_writes": "off",
        "shared_buffers": "256MB",
        "log_min_messages": "warning",
    }
    conf.update(settings or {})
    with (datadir / "postgresql.conf").open("a") as fh:
        for key, value in conf.items():
            fh.write(f"{key} = {value}\n")
    # The port is chosen after initdb (seconds), right before the start; a port taken meanwhile means another.
    log_path = root / "postgres.log"
    attempts = 1 if port else PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        chosen = port or free_port()
        with (datadir / "postgresql.conf").open("a") as fh:
            fh.write(f"port = {chosen}\n")  # the last setting of a key wins
        log_start = log_path.stat().st_size if log_path.exists() else 0
        result = subprocess.run(
            [
                *run_as,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(datadir),
                "-l",
                str(log_path),
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            STARTED_CLUSTERS.append(Postgres(chosen, datadir, run_as))
            return STARTED_CLUSTERS[-1]
        log_text = log_path.read_bytes()[log_start:].decode(errors="replace") if log_path.exists() else ""
        if "Address already in use" not in log_text or attempt == attempts:
            raise RuntimeError(f"postgres did not start: {result.stderr}\n{log_text[-2000:]}")
    raise AssertionError("unreachable")


def start_replica(primary: Postgres) -> Postgres:
    """A streaming replica of `primary` (pg_basebackup -R: a base backup that starts as a hot standby following
    the primary's WAL), on a port of its own. Read-only; `stop()` removes it; `halt()`/`resume()` take it away."""
    _require(PG_BIN / "pg_basebackup", "postgresql-15")
    root = Path(tempfile.mkdtemp(prefix="patroli-pg-replica-"))
    if primary.run_as:
        shutil.chown(root, "postgres", "postgres")
    datadir = root / "data"
    subprocess.run(
        [
            *primary.run_as,
            str(PG_BIN / "pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(datadir),
            "-R",  # standby.signal and primary_conninfo: it follows the primary
            "-X",
            "stream",
            "--checkpoint=fast",  # else it waits for a spread checkpoint: minutes on an idle cluster
            "--no-sync",
        ],
        capture_output=True,
        check=True,
    )
    log_path = root / "postgres.log"
    for attempt in range(1, PORT_ATTEMPTS + 1):
        chosen = free_port()
        with (datadir / "postgresql.conf").open("a") as fh:
            fh.write(f"port = {chosen}\nunix_socket_directories = '{root}'\nhot_standby = on\n")
        result = subprocess.run(
            [
                *primary.run_as,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(datadir),
                "-l",
                str(log_path),
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            STARTED_CLUSTERS.append(Postgres(chosen, datadir, primary.run_as))
            return STARTED_CLUSTERS[-1]
        if attempt == PORT_ATTEMPTS:
            raise RuntimeError(f"replica did not start: {result.stderr}\n{log_path.read_text()[-2000:]}")
    raise AssertionError("unreachable")


def terminate(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    """Stop a child process; SIGKILL when it does not exit in time. Returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)
