"""Start a throwaway PostgreSQL server for tests and benchmarks (Debian's postgresql package).

Runs ``initdb`` + ``pg_ctl`` in a temporary folder on a free loopback port with trust auth.
As root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, or the server would not start (the reason says which)."""


def _bin_dir() -> Path:
    for pattern in ("/usr/lib/postgresql/*/bin",):
        found = sorted(glob.glob(pattern), key=lambda p: int(Path(p).parent.name), reverse=True)
        for d in found:
            if (Path(d) / "postgres").exists():
                return Path(d)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(os.path.realpath(pg_ctl)).parent
    raise PostgresUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TempPostgres:
    root: Path
    port: int
    bin_dir: Path
    as_user: str | None

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.as_user, "--", *args] if self.as_user else list(args)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"),
                                 "-m", "immediate", "stop"), capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start_temp_postgres(max_connections: int = 200) -> TempPostgres:
    bin_dir = _bin_dir()
    as_user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="adlab-pg-"))
    data = root / "data"
    if as_user:
        shutil.chown(root, user=as_user)
    os.chmod(root, 0o755)
    pg = TempPostgres(root=root, port=free_port(), bin_dir=bin_dir, as_user=as_user)
    init = subprocess.run(pg._cmd(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                  "--auth=trust", "-E", "UTF8", "--no-sync"),
                          capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    opts = (f"-p {pg.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
            f"-c max_connections={max_connections} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off")
    start = subprocess.run(pg._cmd(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts,
                                   "-l", str(root / "server.log"), "-w", "-t", "60", "start"),
                           capture_output=True, text=True, timeout=90)
    if start.returncode != 0:
        log = (root / "server.log").read_text(errors="replace")[-300:] if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"pg_ctl start failed: {start.stderr.strip()[-200:]} {log}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", pg.port), timeout=1):
                return pg
        except OSError:
            time.sleep(0.2)
    pg.stop()
    raise PostgresUnavailable("PostgreSQL did not accept connections within 30 s")
