"""A throwaway PostgreSQL server for the tests, and its pytest fixtures.

The server is Debian's PostgreSQL (``bash tests/services/install.sh``), started from
``/usr/lib/postgresql/<version>/bin`` in a temporary folder: ``initdb`` with trust
authentication for one superuser, then ``pg_ctl start`` listening only on a unix socket
in that folder (no TCP port, so parallel test runs never collide).  PostgreSQL refuses to
run as root, so a root test run starts it as the unprivileged ``postgres`` user (or
``nobody``).  Every test that asks for ``postgres_url`` gets a database of its own.

Without PostgreSQL the fixtures skip, saying how to install it; with
``COURSE_REQUIRE_POSTGRES=1`` (set by ``make test``) they fail instead.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SUPERUSER = "grader"
_DATABASES = itertools.count(1)
REQUIRED = os.environ.get("COURSE_REQUIRE_POSTGRES", "0") not in ("", "0")


def find_bin() -> Path | None:
    """The bin/ folder of the newest PostgreSQL installed by Debian's packages."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(n) for n in re.findall(r"\d+", p)])
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """One PostgreSQL server in its own temporary folder (``with`` starts and stops it)."""

    def __init__(self, bin_dir: Path | None = None):
        self.bin = bin_dir or find_bin()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
        self.folder: Path | None = None
        self.account = None  # pwd entry of the user the server runs as (None: the current user)
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self.account = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            if self.account is None:
                raise RuntimeError("running as root, and there is no unprivileged user to run PostgreSQL as")

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        options = {}
        if self.account is not None:
            options = dict(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[])
        return subprocess.run([str(self.bin / command[0]), *command[1:]], cwd=self.folder, check=check,
                              capture_output=True, text=True, env={"PATH": os.environ.get("PATH", ""),
                                                                   "LC_ALL": "C", "HOME": str(self.folder)},
                              **options)

    def start(self) -> "PostgresServer":
        # A short path under /tmp: a unix socket's path must stay under ~100 characters.
        self.folder = Path(tempfile.mkdtemp(prefix="course-pg-", dir="/tmp"))
        if self.account is not None:
            os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)
        os.chmod(self.folder, 0o755)
        try:
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                      "--no-sync", "--no-instructions")
            # fsync off: a test server's data never has to survive a crash.
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60",
                      "-o", f"-c listen_addresses='' -c unix_socket_directories={self.socket_dir} -c fsync=off "
                            "-c max_connections=200", "start")
        except subprocess.CalledProcessError as error:
            log = self.folder / "server.log"
            raise RuntimeError(f"PostgreSQL did not start: {error.stderr}\n"
                               f"{log.read_text() if log.exists() else ''}") from error
        return self

    def stop(self) -> None:
        if self.folder is None:
            return
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of a database of this server (psycopg2 over the unix socket)."""
        return f"postgresql+psycopg2://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg2

        connection = psycopg2.connect(host=str(self.socket_dir), user=SUPERUSER, dbname="postgres")
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)


def _missing(reason: str):
    message = f"{reason}; install with: bash tests/services/install.sh"
    if REQUIRED:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the whole test session."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _missing("the PostgreSQL driver psycopg2 is not installed (requirements.txt)")
    if find_bin() is None:
        _missing("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """The URL of a new, empty database for this test."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    name = f"{name}_{next(_DATABASES)}"
    return postgres_server.create_database(name)
