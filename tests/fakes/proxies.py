"""Real outbound proxies on loopback for the proxy tests, counting what passes through them.

``HttpProxy`` speaks HTTP/1.1 proxying: ``CONNECT host:port`` tunnels and absolute-URI requests
(``GET http://host:port/path``), each forwarded on its own upstream connection (``Connection:
close`` both ways, so a client never reuses a forwarded connection for another target).
``Socks5Proxy`` speaks SOCKS5 CONNECT with no authentication or username/password. Both run on an
event loop in a thread; ``requests`` counts proxied calls, ``targets`` records "host:port" of each.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import struct
import threading
from typing import Self


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65_536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError, RuntimeError):
            pass


async def _relay(a: tuple, b: tuple) -> None:
    await asyncio.gather(_pipe(a[0], b[1]), _pipe(b[0], a[1]))


class _ProxyServer:
    def __init__(self, auth: tuple[str, str] | None = None):
        self.auth = auth
        self.requests = 0  # calls proxied (tunnels opened or requests forwarded)
        self.refused = 0  # calls refused (bad credentials, unknown target)
        self.targets: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.requests = self.refused = 0
            self.targets = []

    def _count(self, target: str) -> None:
        with self._lock:
            self.requests += 1
            self.targets.append(target)

    def _refuse(self) -> None:
        with self._lock:
            self.refused += 1

    def start(self) -> Self:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name=type(self).__name__)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.serve(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass  # a client gone, or the server stopping
        finally:
            try:
                writer.close()
            except (ConnectionError, OSError, RuntimeError):
                pass

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class HttpProxy(_ProxyServer):
    """An HTTP proxy: CONNECT tunnels and absolute-URI forwarding; Basic auth when ``auth`` is set."""

    def _authorized(self, headers: list[tuple[str, str]]) -> bool:
        if self.auth is None:
            return True
        want = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        return any(k.lower() == "proxy-authorization" and v == want for k, v in headers)

    async def serve(self, reader, writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
        if not self._authorized(headers):
            self._refuse()
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            try:
                up = await asyncio.open_connection(host.strip("[]"), int(port))
            except OSError:
                self._refuse()
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            self._count(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _relay((reader, writer), up)
            return
        if not target.startswith("http://"):
            self._refuse()
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        hostport, _, path = target[len("http://"):].partition("/")
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "80")
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        self._count(hostport)
        kept = [(k, v) for k, v in headers if k.lower() not in ("proxy-authorization", "proxy-connection",
                                                                "connection", "keep-alive")]
        out = [f"{method} /{path} {version}"] + [f"{k}: {v}" for k, v in kept] + ["Connection: close", "", ""]
        up_writer.write("\r\n".join(out).encode("latin-1"))
        await up_writer.drain()
        # The answer's head gets "Connection: close" too, then everything else is relayed as is.
        upload = asyncio.ensure_future(_pipe(reader, up_writer))
        try:
            answer = await up_reader.readuntil(b"\r\n\r\n")
            alines = [line for line in answer.decode("latin-1").split("\r\n")[:-2]
                      if not line.lower().startswith(("connection:", "keep-alive:"))]
            writer.write(("\r\n".join(alines + ["Connection: close", "", ""])).encode("latin-1"))
            await writer.drain()
            await _pipe(up_reader, writer)
        finally:
            upload.cancel()
            up_writer.close()


class Socks5Proxy(_ProxyServer):
    """A SOCKS5 proxy (CONNECT only); username/password authentication when ``auth`` is set."""

    async def serve(self, reader, writer) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5:
            return
        wanted = 2 if self.auth else 0
        if wanted not in methods:
            self._refuse()
            writer.write(b"\x05\xff")
            return
        writer.write(bytes([5, wanted]))
        await writer.drain()
        if self.auth:
            _, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode()
            (plen,) = await reader.readexactly(1)
            password = (await reader.readexactly(plen)).decode()
            ok = (user, password) == self.auth
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            await writer.drain()
            if not ok:
                self._refuse()
                return
        _, cmd, _, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        reply = b"\x05%c\x00\x01\x00\x00\x00\x00\x00\x00"
        if cmd != 1:
            self._refuse()
            writer.write(reply % 7)
            return
        try:
            up = await asyncio.open_connection(host, port)
        except OSError:
            self._refuse()
            writer.write(reply % 5)
            return
        self._count(f"[{host}]:{port}" if _is_v6(host) else f"{host}:{port}")
        writer.write(reply % 0)
        await writer.drain()
        await _relay((reader, writer), up)


def _is_v6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False
