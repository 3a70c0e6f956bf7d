"""A throw-away PostgreSQL server for the tests: initdb in a temp dir, listen on 127.0.0.1 only.

scripts/test.sh installs the Debian packages when they are missing; this module only
finds the binaries, creates the cluster, and starts/stops it (the fault tests stop and
restart it mid-run).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

from tests.support.net import free_port


def _find_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """A PostgreSQL cluster owned by the test session."""

    def __init__(self, base_dir: Path) -> None:
        bindir = _find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not found; run scripts/test.sh, which installs them")
        self.bindir = bindir
        self.base_dir = base_dir
        self.data_dir = base_dir / "pgdata"
        self.port = free_port()
        # PostgreSQL refuses to run as root; use the Debian 'postgres' account then.
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as_user, *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, args, result.stdout, result.stderr)

    def init(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(self.base_dir, "postgres", "postgres")
            self.base_dir.chmod(0o755)
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.base_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-o", opts, "-l", str(self.base_dir / "pg.log"),
            "-w", "start",
        )
        self._wait_ready()

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
