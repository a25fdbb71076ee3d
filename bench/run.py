"""Benchmark entry point: gateway overhead versus a direct fake upstream (run: python bench/run.py)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadgen import CellResult, LoadGen
from report import Report, Row, render_markdown, render_text

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
CONCURRENCIES = (1, 16, 64)
PASSWORD = "bench-password"
PROMPT = [{"role": "user", "content": "Say hello to the benchmark"}]
FALLBACK_COMBO = "bench-fallback"


class BenchError(RuntimeError):
    """A step of the bench failed; the message says what and how."""


def child_python() -> str:
    """Prefer the project virtualenv so `make bench` works from any shell."""
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def free_port() -> int:
    """Return a TCP port that is free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(
    port: int, method: str, path: str, body: object = None, headers: dict | None = None, timeout: float = 10
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send one request on a fresh connection; return (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


class Child:
    """A child process in its own session, killed (with its whole group) on close."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None):
        self.name = name
        self.log_path = OUT / f"{name}.log"
        self.log = open(self.log_path, "wb")  # closed in close()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            args,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 25) -> str:
        """Return the last lines of the child's output."""
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def close(self) -> None:
        """Terminate the child's process group, escalating to SIGKILL after 3 s."""
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 2)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.log.close()


def wait_until_answers(child: Child, port: int, path: str, timeout: float = 30) -> float:
    """Poll GET path every 10 ms until it answers 200; return seconds since the child was spawned."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")
        try:
            status, _, _ = request(port, "GET", path, timeout=1)
            if status == 200:
                return time.perf_counter() - child.started
        except OSError:
            pass
        time.sleep(0.01)
    raise BenchError(
        f"{child.name} did not answer GET {path} with 200 within {timeout:.0f} s:\n{child.log_tail()}"
    )


def rss_mb(pid: int) -> float:
    """Return the resident memory of pid plus its descendants in MB (workers count too)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    family, frontier = {pid}, [pid]
    while frontier:
        cur = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == cur and p not in family]
        family.update(kids)
        frontier.extend(kids)
    total_kb = 0
    for p in family:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def _expect(step: str, status: int, body: bytes, ok: tuple[int, ...]) -> None:
    if status not in ok:
        raise BenchError(f"{step} answered {status}: {body[:500].decode(errors='replace')}")


def _session_headers(cookie: str, login_body: bytes) -> dict:
    """The cookie, and the CSRF token writes made with it must echo (when the gateway issues one)."""
    token = json.loads(login_body).get("csrfToken")
    return {"Cookie": cookie, **({"X-CSRF-Token": token} if token else {})}


def configure_gateway(port: int, upstream_port: int, anthropic_port: int | None = None) -> str:
    """Log in, register the fake upstream as a provider and create an API key; return the key."""
    status, headers, body = request(port, "POST", "/api/auth/login", {"password": PASSWORD})
    _expect("POST /api/auth/login", status, body, (200,))
    cookies = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or [] if c.startswith("auth_token=")]
    if not cookies:
        raise BenchError(f"POST /api/auth/login set no auth_token cookie; headers: {dict(headers)}")
    auth = _session_headers(cookies[0], body)
    provider = {
        "provider": "openai",
        "name": "bench",
        "apiKey": "sk-bench",
        "baseUrl": f"http://127.0.0.1:{upstream_port}/v1",
    }
    status, _, body = request(port, "POST", "/api/providers", provider, auth)
    _expect("POST /api/providers", status, body, (200, 201))
    if anthropic_port is not None:
        claude = {"provider": "anthropic", "name": "bench-claude", "apiKey": "sk-ant-bench",
                  "baseUrl": f"http://127.0.0.1:{anthropic_port}/v1"}
        status, _, body = request(port, "POST", "/api/providers", claude, auth)
        _expect("POST /api/providers (anthropic)", status, body, (200, 201))
    # A combo whose first target always fails (the fake answers model "broken" with a context-length
    # 400, which moves on to the next target without cooling anything down): one fallback per request.
    combo = {"name": FALLBACK_COMBO, "models": ["openai/broken", "openai/gpt-4o-mini"]}
    status, _, body = request(port, "POST", "/api/combos", combo, auth)
    _expect("POST /api/combos", status, body, (200, 201, 409))
    status, _, body = request(port, "POST", "/api/keys", {"name": "bench"}, auth)
    _expect("POST /api/keys", status, body, (200, 201))
    key = json.loads(body).get("key")
    if not key:
        raise BenchError(f"POST /api/keys returned no key: {body[:500]!r}")
    return key


BUDGET_KEY: list[str | None] = [None]  # the key of the budgeted row (set by start_gateway)


def budgeted_key(port: int) -> str:
    """A second API key with a monthly budget far above what the run spends: every request it sends
    reserves, is checked and settles (the cost of the budget path)."""
    status, headers, body = request(port, "POST", "/api/auth/login", {"password": PASSWORD})
    _expect("POST /api/auth/login", status, body, (200,))
    auth = _session_headers(next(c.split(";", 1)[0] for c in headers.get_all("Set-Cookie")
                                 if c.startswith("auth_token=")), body)
    status, _, body = request(port, "POST", "/api/keys", {"name": "bench-budget"}, auth)
    _expect("POST /api/keys", status, body, (200, 201))
    made = json.loads(body)
    status, _, body = request(port, "POST", "/api/usage/budget",
                              {"keyId": made["id"], "limit": 1_000_000, "period": "monthly"}, auth)
    _expect("POST /api/usage/budget", status, body, (201,))
    return made["key"]


def gateway_command(port: int, data_dir: str) -> list[str]:
    """Return the gateway command line (BENCH_GATEWAY_CMD overrides it, e.g. to bench another build)."""
    custom = os.environ.get("BENCH_GATEWAY_CMD")
    if custom:
        return [part.format(port=port, data_dir=data_dir) for part in shlex.split(custom)]
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", data_dir]
    return [child_python(), "-m", "omniroute", *serve]


def wait_until_chat(child: Child, port: int, key: str, timeout: float = 30) -> float:
    """Poll POST /v1/chat/completions until it answers 200; return seconds since the child was spawned."""
    body = {"model": "openai/gpt-4o-mini", "messages": PROMPT, "max_tokens": 16}
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")
        try:
            status, _, _ = request(port, "POST", "/v1/chat/completions", body,
                                   {"Authorization": f"Bearer {key}"}, timeout=2)
            if status == 200:
                return time.perf_counter() - child.started
        except OSError:
            pass
        time.sleep(0.01)
    raise BenchError(f"{child.name} served no chat within {timeout:.0f} s:\n{child.log_tail()}")


def start_gateway(
    upstream_port: int, anthropic_port: int, data_dir: str, report: Report, children: list[Child]
) -> tuple[int, str, Child]:
    """First start on an empty data dir (configure it), then a restart that is measured and loaded.

    The loaded gateway is the restarted one: it has served clients only, as a gateway in
    production does between restarts; the management plane's cost is measured separately.
    """
    port = free_port()
    env = {"INITIAL_PASSWORD": PASSWORD, "LOG_LEVEL": "warning"}
    first = Child("gateway-first-start", gateway_command(port, data_dir), env)
    children.append(first)
    report.startup["first start (empty data dir) to listening"] = wait_until_answers(first, port, "/api/init")
    key = configure_gateway(port, upstream_port, anthropic_port)
    BUDGET_KEY[0] = budgeted_key(port)  # made before the restart: the measured gateway loads it at start-up
    first.close()
    children.remove(first)
    port = free_port()
    gateway = Child("gateway", gateway_command(port, data_dir), env)
    children.append(gateway)
    report.startup["start-up to first served request"] = wait_until_chat(gateway, port, key)
    report.rss_mb["right after start-up"] = rss_mb(gateway.proc.pid)
    return port, key, gateway


def run_row(load: LoadGen, row: Row, port: int, key: str | None, seconds: float, warmup: float) -> None:
    """Warm up, then measure the row at every concurrency."""
    model = row.model or ("openai/gpt-4o-mini" if row.gateway else "gpt-4o-mini")
    body: dict = {"model": model, "messages": PROMPT, "max_tokens": 16, **row.extra}
    if row.stream:
        body["stream"] = True
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    headers["Authorization"] = f"Bearer {key or 'sk-direct'}"
    if row.dialect == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    url = f"http://127.0.0.1:{port}{row.path}"
    print(f"-- {row.name}: warm-up {warmup:g}s", flush=True)
    if warmup > 0:
        try:
            load.run(url, payload, headers, 16, warmup)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"   warm-up failed: {exc}", flush=True)
    for conc in CONCURRENCIES:
        try:
            cell: CellResult | str = load.run(url, payload, headers, conc, seconds)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            cell = str(exc).strip().splitlines()[0][:200]
        row.cells[conc] = cell
        summary = (
            cell
            if isinstance(cell, str)
            else f"{cell.rps:.0f} rps p50 {cell.p50_ms:.2f} ms p99 {cell.p99_ms:.2f} ms"
        )
        print(f"   c={conc}: {summary}", flush=True)


def run_redis_rows(load: LoadGen, report: Report, children: list[Child], gateway: Child, data_dir: str,
                   key: str, seconds: float, warmup: float) -> None:
    """The same gateway restarted with its shared state in Redis (several instances as one): what the
    network round trips to Redis add per request. Skipped when no Redis answers (BENCH_REDIS_URL,
    default the local one)."""
    from urllib.parse import urlsplit

    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    where = urlsplit(url)
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 6379), timeout=1).close()
    except OSError:
        print(f"no Redis at {url}: the Redis rows are skipped", flush=True)
        return
    gateway.close()
    children.remove(gateway)
    # The same restart without Redis first: the rows below are compared with this one, on the same
    # (by now well-filled) data directory, not with the gateway row measured on a fresh one.
    port = free_port()
    env = {"INITIAL_PASSWORD": PASSWORD, "LOG_LEVEL": "warning"}
    local = Child("gateway-restarted", gateway_command(port, data_dir), env)
    children.append(local)
    wait_until_chat(local, port, key)
    row = Row("gateway, restarted (in-process state)", True, False, reference=True, base="direct")
    report.rows.append(row)
    run_row(load, row, port, key, seconds, warmup)
    local.close()
    children.remove(local)
    port = free_port()
    env = {**env, "REDIS_URL": url, "REDIS_PREFIX": f"omniroute-bench-{os.getpid()}:"}
    shared = Child("gateway-redis", gateway_command(port, data_dir), env)
    children.append(shared)
    wait_until_chat(shared, port, key)
    for row, row_key in ((Row("gateway, state in Redis", True, False, reference=True, base="direct"), key),
                         (Row("gateway stream, state in Redis", True, True, reference=True, base="direct stream"),
                          key),
                         (Row("gateway, state in Redis, key with a budget", True, False, reference=True,
                              budgeted=True, base="direct"), BUDGET_KEY[0])):
        report.rows.append(row)
        run_row(load, row, port, row_key, seconds, warmup)
    if shared.proc.poll() is not None:
        report.gateway_error = f"the gateway on Redis died during the run:\n{shared.log_tail()}"
    try:
        import redis

        client = redis.Redis.from_url(url)
        stale = list(client.scan_iter(match=env["REDIS_PREFIX"] + "*"))
        if stale:
            client.delete(*stale)
        client.close()
    except Exception as exc:  # noqa: BLE001 - leftovers expire or stay harmlessly under their prefix
        print(f"Redis keys of the run were not removed: {exc}", flush=True)


def main() -> int:
    """Run the whole benchmark; return the process exit code."""
    seconds = float(os.environ.get("BENCH_SECONDS", "8"))
    warmup = float(os.environ.get("BENCH_WARMUP", "2"))
    OUT.mkdir(parents=True, exist_ok=True)
    load = LoadGen(child_python(), force_fallback=os.environ.get("BENCH_LOADGEN") == "aiohttp")
    report = Report(
        meta={
            "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "load generator": load.name,
            "seconds per cell": f"{seconds:g} (warm-up {warmup:g} per row)",
            "upstream latency": "20 ms (fake upstream)",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        }
    )
    children: list[Child] = []
    data_dir = tempfile.mkdtemp(prefix="omniroute-bench-")
    # SIGTERM becomes SystemExit so the finally block below still reaps the children; SIGINT is
    # re-armed because shells start background jobs with it ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        upstream_port = free_port()
        fake = Child(
            "upstream",
            [
                child_python(),
                "-m",
                "tests.fakes.openai_upstream",
                "--port",
                str(upstream_port),
                "--latency-ms",
                "20",
                "--no-record",
                "--fail-model",
                "broken=400:maximum context length exceeded",
            ],
        )
        children.append(fake)
        wait_until_answers(fake, upstream_port, "/v1/models", timeout=15)
        anthropic_port = free_port()
        fake_anthropic = Child("anthropic-upstream", [child_python(), "-m", "tests.fakes.anthropic_upstream",
                                                      "--port", str(anthropic_port), "--latency-ms", "20",
                                                      "--no-record"])
        children.append(fake_anthropic)
        wait_until_answers(fake_anthropic, anthropic_port, "/v1/models", timeout=15)
        gateway_port, key, gateway = None, None, None
        try:
            gateway_port, key, gateway = start_gateway(upstream_port, anthropic_port, data_dir, report, children)
            print(
                "gateway ready: " + ", ".join(f"{k} {v:.3f}s" for k, v in report.startup.items()), flush=True
            )
        except (BenchError, OSError, ValueError) as exc:
            report.gateway_error = str(exc)
            print(f"!!! gateway unavailable, measuring direct rows only:\n{exc}", flush=True)
        floor_port = free_port()
        floor = Child("stack-floor", [child_python(), str(REPO / "bench" / "stack_floor.py"), str(floor_port),
                                      f"http://127.0.0.1:{upstream_port}/v1/chat/completions"])
        children.append(floor)
        wait_until_answers(floor, floor_port, "/", timeout=15)
        anthropic = {"path": "/v1/messages", "dialect": "anthropic"}
        rows = [
            (Row("direct", False, False), upstream_port),
            (Row("gateway", True, False), gateway_port),
            (Row("stack floor", True, False, reference=True), floor_port),
            (Row("combo, 1st target failing", True, False, reference=True, model=FALLBACK_COMBO,
                 fallback_of="gateway"), gateway_port),
            (Row("direct stream", False, True), upstream_port),
            (Row("gateway stream", True, True), gateway_port),
            (Row("stack floor stream", True, True, reference=True), floor_port),
            (Row("direct anthropic stream", False, True, model="claude-sonnet-4-5", **anthropic),
             anthropic_port),
            (Row("anthropic client > openai stream", True, True, reference=True, base="direct stream",
                 translated_from="gateway stream", **anthropic), gateway_port),
            (Row("openai client > anthropic stream", True, True, reference=True, model="anthropic/claude-sonnet-4-5",
                 base="direct anthropic stream", translated_from="gateway stream"), gateway_port),
        ]
        for row, port in rows:
            if row.gateway and port is None:
                continue
            report.rows.append(row)
            run_row(load, row, port, key, seconds, warmup)
        if gateway is not None:
            time.sleep(6)  # idle: the gateway returns freed memory after a few quiet seconds
            report.rss_mb["idle after load"] = rss_mb(gateway.proc.pid)
            configure_gateway(gateway_port, upstream_port)  # touches the management plane
            time.sleep(1)
            report.rss_mb["idle after load and management calls"] = rss_mb(gateway.proc.pid)
            # Every request of this key reserves against its budget and settles (after the idle
            # readings above, which stay comparable with runs that had no such row).
            budgeted = Row("gateway, key with a budget", True, False, reference=True, budgeted=True, base="direct")
            report.rows.append(budgeted)
            run_row(load, budgeted, gateway_port, BUDGET_KEY[0], seconds, warmup)
            # Cache hits run at ~10k requests/s (each one a usage row): a load of its own, measured
            # after the idle figure above so it does not stand in for ordinary traffic; its own idle
            # figure is reported below.
            hit = Row("cache hit", True, False, reference=True, extra={"temperature": 0})
            report.rows.append(hit)
            run_row(load, hit, gateway_port, key, seconds, warmup)
            time.sleep(6)
            report.rss_mb["idle after the cache-hit row (~10k req/s)"] = rss_mb(gateway.proc.pid)
            if gateway.proc.poll() is not None:
                report.gateway_error = f"gateway died during the run:\n{gateway.log_tail()}"
            run_redis_rows(load, report, children, gateway, data_dir, key, seconds, warmup)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for child in reversed(children):
            child.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    text = render_text(report)
    print("\n" + text)
    (OUT / "latest.md").write_text(render_markdown(report))
    print(f"\nmarkdown written to {OUT / 'latest.md'}")
    failed = report.gateway_error or any(
        isinstance(c, str) or c.non_2xx or c.socket_errors for r in report.rows for c in r.cells.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
