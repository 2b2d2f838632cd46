"""Real infrastructure for the test suite, started by the suite itself (a pytest plugin).

- PostgreSQL: `initdb` into a temporary directory, started on a free loopback port (as the
  postgres user when we are root), one fresh database per test that asks for one.
- Apache Kafka (KRaft, single node): the broker's jars come from Maven Central via
  deploy/kafka/pom.xml into .cache/kafka/<version>/, the storage is formatted and the broker
  listens on 127.0.0.1 with replication factors 1.

A missing PostgreSQL or Kafka is an error, never a skip. Both are stopped at the end of the
session; no process is left behind. `python -m tests.infra` starts both for manual work."""
from __future__ import annotations

import asyncio
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = ROOT / "deploy" / "kafka" / "pom.xml"
CACHE = Path(os.environ.get("ONESTOP_CACHE", ROOT / ".cache"))


class InfraError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_group(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


# --- PostgreSQL ---------------------------------------------------------------------------------
def postgres_bindir() -> Path:
    if pg_config := shutil.which("pg_config"):
        bindir = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if candidates:
        return candidates[-1].parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).resolve().parent
    raise InfraError("PostgreSQL server binaries (initdb) not found: install Debian's `postgresql` package")


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="onestop-pg-"))
        self.datadir = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        self.started_in: float = 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check)

    def start(self) -> "PostgresServer":
        began = time.monotonic()
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        try:
            self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync")
            self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                      "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300", "start")
        except subprocess.CalledProcessError as exc:
            raise InfraError(f"PostgreSQL did not start: {exc.stderr or exc.stdout}") from exc
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        if self.datadir.exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q", "-c",
                  f'CREATE DATABASE "{name}"')
        return self.url(name)


# --- Kafka --------------------------------------------------------------------------------------
def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", KAFKA_POM.read_text())
    if not match:
        raise InfraError(f"{KAFKA_POM} does not pin kafka.version")
    return match.group(1)


def kafka_libs() -> Path:
    """The broker's jars, fetched from Maven Central once into the cache."""
    libs = CACHE / "kafka" / kafka_version() / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise InfraError("Maven (mvn) is needed to fetch the Kafka broker from Maven Central")
    shutil.rmtree(libs, ignore_errors=True)
    result = subprocess.run([mvn, "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
                             f"-DoutputDirectory={libs}", "-DincludeScope=runtime"], capture_output=True, text=True)
    if result.returncode != 0:
        raise InfraError(f"fetching Kafka {kafka_version()} with Maven failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    marker.touch()
    return libs


class KafkaBroker:
    def __init__(self) -> None:
        self.java = shutil.which("java") or ""
        if not self.java:
            raise InfraError("java not found: the Kafka broker needs a JRE (17+)")
        self.libs = kafka_libs()
        self.port, self.controller_port = free_port(), free_port()
        self.root = Path(tempfile.mkdtemp(prefix="onestop-kafka-"))
        self.proc: subprocess.Popen | None = None
        self.started_in: float = 0
        self._write_config()
        self._format()

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def _write_config(self) -> None:
        (self.root / "server.properties").write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.root / 'data'}",
            "num.partitions=12",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=12",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
        ]) + "\n")
        (self.root / "log4j2.properties").write_text(
            "rootLogger.level=WARN\nrootLogger.appenderRef.file.ref=FILE\n"
            "appender.file.type=File\nappender.file.name=FILE\n"
            f"appender.file.fileName={self.root / 'broker.log'}\n"
            "appender.file.layout.type=PatternLayout\nappender.file.layout.pattern=%d %p %c %m%n\n")

    def _format(self) -> None:
        cluster_id = subprocess.run([self.java, "-cp", self._classpath(), "kafka.tools.StorageTool", "random-uuid"],
                                    capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        result = subprocess.run([self.java, "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
                                 "-t", cluster_id, "-c", str(self.root / "server.properties")],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise InfraError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")

    def start(self, timeout: float = 90) -> "KafkaBroker":
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [self.java, "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
             f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
             "-cp", self._classpath(), "kafka.Kafka", str(self.root / "server.properties")],
            stdout=open(self.root / "stdout.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise InfraError(f"Kafka exited with {self.proc.returncode}: {self.log_tail()}")
            if _kafka_answers(self.bootstrap_servers):
                self.started_in = time.monotonic() - began
                return self
            time.sleep(0.3)
        raise InfraError(f"Kafka did not answer within {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc:
            _kill_group(self.proc)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self) -> str:
        logs = [self.root / "stdout.log", self.root / "broker.log"]
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists())


def _kafka_answers(bootstrap: str) -> bool:
    """A metadata round trip with a real client, in a thread (a test loop may be running)."""
    from aiokafka.admin import AIOKafkaAdminClient

    outcome: list[bool] = []

    async def probe() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await asyncio.wait_for(admin.start(), 3)
            await asyncio.wait_for(admin.list_topics(), 3)
            outcome.append(True)
        except Exception:  # noqa: BLE001 - not up yet
            outcome.append(False)
        finally:
            try:
                await admin.close()
            except Exception:  # noqa: BLE001
                pass

    thread = threading.Thread(target=lambda: asyncio.run(probe()))
    thread.start()
    thread.join(10)
    return bool(outcome and outcome[0])


# --- pytest plugin ------------------------------------------------------------------------------
_started: list = []
_summary: list[str] = []  # shown at the end of the run: proof the suite used real servers


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _summary:
        terminalreporter.write_line(line)


@atexit.register
def _cleanup() -> None:
    for thing in reversed(_started):
        try:
            thing.destroy() if isinstance(thing, KafkaBroker) else thing.stop()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer().start()
    _started.append(server)
    _summary.append(f"[infra] real PostgreSQL {server.bindir.parent.name} on 127.0.0.1:{server.port} "
                    f"(initdb+start {server.started_in:.1f}s)")
    yield server
    server.stop()
    _started.remove(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the real PostgreSQL server."""
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def kafka_broker():
    began = time.monotonic()
    broker = KafkaBroker()
    _started.append(broker)
    broker.start()
    _summary.append(f"[infra] real Apache Kafka {kafka_version()} (KRaft) on {broker.bootstrap_servers} "
                    f"(fetch+format+start {time.monotonic() - began:.1f}s, broker start {broker.started_in:.1f}s)")
    yield broker
    broker.destroy()
    _started.remove(broker)


def main() -> None:
    """Start both for manual work; Ctrl-C stops them."""
    pg = PostgresServer().start()
    kafka = KafkaBroker().start()
    print(f"DATABASE_URL={pg.url()}\nKAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap_servers}\n(Ctrl-C to stop)", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        kafka.destroy()
        pg.stop()


if __name__ == "__main__":
    main()
