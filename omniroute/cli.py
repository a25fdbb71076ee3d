"""The `omniroute` command: serve, version, and the administration commands of cli_admin."""

from __future__ import annotations

import argparse
import logging
import os
import signal

from omniroute import __version__


def _stopped(signum, frame) -> None:
    raise SystemExit(0)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from omniroute.server.app import create_app
    from omniroute.settings import Settings

    overrides = {"host": args.host, "port": args.port, "data_dir": args.data_dir}
    settings = Settings.from_env(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = create_app(settings)
    print(f"OmniRoute {__version__} on http://{settings.host}:{settings.port} (data: {settings.data_dir})",
          flush=True)
    # The server drains and flushes on SIGTERM (or Ctrl-C), then hands the signal back to the handler found
    # at start: this one makes that a clean exit (status 0) rather than death by the signal.
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop" if os.name != "nt" else "asyncio",
            http="httptools",
            lifespan="on",
            access_log=settings.log_level == "debug",
            log_level=settings.log_level if settings.log_level != "debug" else "debug",
            timeout_keep_alive=settings.keep_alive_timeout_s,
            timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout_s)),
            server_header=False,
            proxy_headers=False,  # client addresses drive lock-outs, so forwarded headers are not trusted
        )
    except SystemExit:  # the signal handed back after the drain (see _stopped)
        if app.services.lifecycle_action != "restart":
            raise
    if app.services.lifecycle_action == "restart":
        _reexec()
    return 0


def _reexec() -> None:
    """Replace this process with a fresh server on the same command line and environment."""
    import sys

    print("OmniRoute restarting", flush=True)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omniroute", description="OmniRoute, a self-hosted AI gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", help="address to bind (env HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (env PORT, default 20128)")
    serve.add_argument("--data-dir", help="data directory (env DATA_DIR, default ~/.omniroute)")
    serve.set_defaults(func=_serve)
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=lambda _args: print(__version__) or 0)
    from omniroute.cli_admin import add_commands, run

    add_commands(sub)
    args = parser.parse_args(argv)
    if args.func in (_serve,) or args.command == "version":
        return args.func(args)
    return run(args.func, args)
