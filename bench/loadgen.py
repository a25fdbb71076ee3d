"""Load generation for the benchmark: wrk when available, else an aiohttp generator in its own process."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass
class CellResult:
    """Figures of one load cell."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    raw: str = ""


def find_wrk() -> str | None:
    """Return the wrk binary path, installing it with apt-get when running as root."""
    path = shutil.which("wrk") or ("/usr/bin/wrk" if os.path.exists("/usr/bin/wrk") else None)
    if path or os.geteuid() != 0 or not shutil.which("apt-get"):
        return path
    subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, timeout=180, check=False)
    return shutil.which("wrk")


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(text: str) -> CellResult:
    """Parse wrk --latency output (Latency Distribution, Requests/sec, error lines)."""
    pct = {
        m.group(1): _to_ms(m.group(2), m.group(3))
        for m in re.finditer(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    }
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if rps is None or "50" not in pct or "99" not in pct:
        raise RuntimeError(f"could not parse wrk output:\n{text}")
    return CellResult(
        rps=float(rps.group(1)),
        p50_ms=pct["50"],
        p99_ms=pct["99"],
        requests=int(total.group(1)) if total else 0,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
        raw=text,
    )


def _lua_script(body: bytes, headers: dict[str, str]) -> str:
    # Long brackets keep the JSON body verbatim without Lua escaping.
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = [==[{v}]==]' for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def run_wrk(
    wrk: str, url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float
) -> CellResult:
    """Run one wrk cell and parse its figures."""
    threads = 1 if concurrency == 1 else 2
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(_lua_script(body, headers))
        script = fh.name
    try:
        # wrk only takes whole seconds.
        cmd = [wrk, "-t", str(threads), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s"]
        cmd += ["--timeout", "10s", "--latency", "-s", script, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    finally:
        os.unlink(script)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return parse_wrk(proc.stdout)


def run_fallback(
    python: str, url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float
) -> CellResult:
    """Run one cell with the aiohttp generator in a separate process."""
    cmd = [python, os.path.abspath(__file__), "--url", url, "--body", body.decode()]
    cmd += ["--concurrency", str(concurrency), "--seconds", str(seconds)]
    for k, v in headers.items():
        cmd += ["--header", f"{k}: {v}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return CellResult(**data, raw=proc.stdout)


class LoadGen:
    """Pick wrk or the fallback once and run cells with it."""

    def __init__(self, python: str, force_fallback: bool = False):
        self.python = python
        self.wrk = None if force_fallback else find_wrk()
        self.name = f"wrk ({self.wrk})" if self.wrk else "aiohttp fallback generator"

    def run(
        self, url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float
    ) -> CellResult:
        """Run one load cell."""
        if self.wrk:
            return run_wrk(self.wrk, url, body, headers, concurrency, seconds)
        return run_fallback(self.python, url, body, headers, concurrency, seconds)


# ---- fallback generator (runs as its own process) ----------------------------------------------


def _percentile(sorted_ms: list[float], pct: float) -> float:
    if not sorted_ms:
        return 0.0
    idx = min(len(sorted_ms) - 1, max(0, round(pct / 100 * len(sorted_ms)) - 1))
    return sorted_ms[idx]


async def _generate(url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: float) -> dict:
    import aiohttp

    latencies: list[float] = []
    counts = {"non_2xx": 0, "socket_errors": 0}
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status >= 400:
                            counts["non_2xx"] += 1
                except (TimeoutError, aiohttp.ClientError):
                    counts["socket_errors"] += 1
                    continue
                latencies.append((time.perf_counter() - start) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
        "requests": len(latencies),
        **counts,
    }


def main() -> None:
    """Command-line entry of the fallback generator; prints one JSON line."""
    parser = argparse.ArgumentParser(description="aiohttp load generator (wrk fallback)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    run = asyncio.run
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        pass
    result = run(_generate(args.url, args.body.encode(), headers, args.concurrency, args.seconds))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
