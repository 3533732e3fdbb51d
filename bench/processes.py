"""Server processes of the benchmarks: a free port, waiting until one answers, stopping it.

Plain standard library: every benchmark script imports it, whichever
environment it runs in (the generated project's, or a throwaway one).
"""

import math
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

STOP_SECONDS = 10.0
# utime and stime in /proc/<pid>/stat, counted from the field after the command name.
USER_TIME = 11
SYSTEM_TIME = 12


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_live(process: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    """Return once `url` answers 2xx.

    Raises:
        RuntimeError: the process exited, or `timeout` seconds passed first.

    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own server on loopback
                return
        except OSError:  # not listening yet, or not 2xx (HTTPError is an OSError)
            time.sleep(0.1)
    message = f"{url} did not answer within {timeout:g}s"
    raise RuntimeError(message)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the process to stop; kill it if it has not within `STOP_SECONDS`."""
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time process `pid` has used so far (user + system); NaN off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat.rpartition(")")[2].split()
    user, system = int(fields[USER_TIME]), int(fields[SYSTEM_TIME])
    return (user + system) / os.sysconf("SC_CLK_TCK")
