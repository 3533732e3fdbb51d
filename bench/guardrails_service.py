"""The rendered service's backing resources and server processes for the benchmark.

Every run has a prefix of its own: its PostgreSQL database is named after it
and every Redis key it writes starts with it (each server's SERVICE_NAME does,
and the guardrails' keys start with the service name). Both are removed at
the end, whatever happened.
"""

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit

from processes import cpu_seconds, free_port, stop, wait_until_live

BENCH = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
STARTUP_SECONDS = 30.0
DELETE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Run:
    """One benchmark run: its database, its Redis prefix, one API key."""

    package: str
    scratch: Path
    prefix: str
    database_url: str
    redis_url: str
    secret_key: str
    api_key: str = ""

    @property
    def factory(self) -> str:
        """The service's app factory, for `uvicorn --factory`."""
        return f"{self.package}.app:create_app_from_environment"

    def environment(self, name: str, overrides: Mapping[str, str]) -> dict[str, str]:
        """Return the service's variables for a server whose Redis keys are its own."""
        return {
            # Staging, as in the core benchmark: production's work per request
            # (JSON lines, Redis, PostgreSQL) without the checks meant for a
            # real deployment.
            "APP_ENV": "staging",
            "SERVICE_NAME": f"{self.prefix}-{name}",
            "SECURITY__SECRET_KEY": self.secret_key,
            "DATABASE__URL": self.database_url,
            "STORE__BACKEND": "redis",
            "STORE__REDIS_URL": self.redis_url,
            "LOG__FORMAT": "json",
            **overrides,
        }

    def cli(self, *arguments: str) -> str:
        """Run `<package> <arguments>` and return what it printed."""
        result = subprocess.run(
            [sys.executable, "-m", self.package, *arguments],
            cwd=self.scratch,  # no .env there: only the variables given here count
            env={**os.environ, **self.environment("cli", {})},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            message = f"{self.package} {' '.join(arguments)} failed:\n{result.stderr}"
            raise RuntimeError(message)
        return result.stdout

    @classmethod
    @contextmanager
    def prepare(cls, package: str, scratch: Path) -> Iterator["Run"]:
        """Create the database, migrate it and make a key; drop everything afterwards."""
        prefix = f"bench-guardrails-{secrets.token_hex(4)}"
        database = prefix.replace("-", "_")
        admin_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
        redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
        asyncio.run(_execute(admin_url, f'CREATE DATABASE "{database}"'))
        try:
            run = cls(
                package=package,
                scratch=scratch,
                prefix=prefix,
                database_url=urlsplit(admin_url)._replace(path=f"/{database}").geturl(),
                redis_url=redis_url,
                secret_key=secrets.token_urlsafe(48),
            )
            run.cli("db", "upgrade")
            key = run.cli("keys", "create", "--tenant", "bench", "--role", "member").strip()
            yield replace(run, api_key=key)
        finally:
            removed = asyncio.run(forget_keys(redis_url, prefix))
            asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            print(f"cleaned up: database {database} dropped, {removed} Redis keys deleted")


async def _execute(admin_url: str, statement: str) -> None:
    # Imported here: the benchmark runs in the generated project's environment.
    asyncpg = import_module("asyncpg")
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def forget_keys(redis_url: str, prefix: str) -> int:
    """Delete every Redis key that starts with `prefix-`; return how many there were."""
    redis = import_module("redis.asyncio")
    client = redis.Redis.from_url(redis_url)
    removed = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}-*", count=DELETE_BATCH):
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                removed += await client.unlink(*batch)
                batch.clear()
        if batch:
            removed += await client.unlink(*batch)
    finally:
        await client.aclose()
    return removed


@dataclass(frozen=True, slots=True)
class Server:
    """A running uvicorn process and how to reach it."""

    name: str
    port: int
    api_key: str
    pid: int

    @property
    def base_url(self) -> str:
        """Where the server listens."""
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (user + system); NaN off Linux."""
        return cpu_seconds(self.pid)


@contextmanager
def serve(run: Run, name: str, factory: str, environment: Mapping[str, str]) -> Iterator[Server]:
    """Serve `factory` with one uvicorn worker, as every app in the benchmark is."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    errors = run.scratch / f"{name.replace(' ', '-')}.stderr"
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=run.scratch,
            env={
                **os.environ,
                **environment,
                "PYTHONPATH": str(BENCH),
                "BENCH_PACKAGE": run.package,
            },
            # The canonical log lines go to stdout: written, then thrown away.
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        try:
            wait_until_live(process, f"http://127.0.0.1:{port}/livez", STARTUP_SECONDS)
        except RuntimeError as error:
            message = f"{error}:\n{errors.read_text()}"
            raise RuntimeError(message) from None
        yield Server(name=name, port=port, api_key=run.api_key, pid=process.pid)
    finally:
        stop(process)
