"""Serving a simulator on loopback: uvicorn in a daemon thread, plain HTTP or TLS.

Only loopback addresses are accepted. The listening socket is a TCP socket
(``IPPROTO_TCP``) with ``TCP_NODELAY`` set, and asyncio sets ``TCP_NODELAY`` on every
connection it accepts from such a socket: a response written as headers then body is sent at
once instead of waiting for the client's delayed ACK (some 40 ms per request on a kept-alive
connection otherwise).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from .pipeline import SimulatedDisconnect

__all__ = ["ServedSimulator", "serve_on_loopback"]


class _DisconnectFilter(logging.Filter):
    """Hides uvicorn's traceback for connections the simulator drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDisconnect)


class ServedSimulator:
    """A simulator served by uvicorn in a daemon thread; a context manager."""

    def __init__(
        self,
        server: uvicorn.Server,
        sock: socket.socket,
        host: str,
        *,
        scheme: str = "http",
        ca_bundle: str | None = None,
    ) -> None:
        self._server = server
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"{scheme}://{shown}:{self.port}"
        #: served over TLS: the PEM file of the CA a client must trust; else None
        self.ca_bundle = ca_bundle
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"simulator:{self.port}"
        )
        self._thread.daemon = True

    def _start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"simulator failed to start on {self.base_url}")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving: a graceful shutdown; connections still open after half a second are
        aborted (closing an idle TLS connection waits for the client's close_notify, which a
        client that merely keeps the socket in its pool never sends)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=0.5)
        if self._thread.is_alive():
            for connection in list(self._server.server_state.connections):
                transport = getattr(connection, "transport", None)
                loop = getattr(connection, "loop", None)
                if transport is not None and loop is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(transport.abort)
            self._thread.join(timeout=2.0)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=10.0)
        self._sock.close()

    def __enter__(self) -> ServedSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _listen(address: str, port: int, family: socket.AddressFamily) -> socket.socket:
    """A listening TCP socket; connections accepted from it get ``TCP_NODELAY`` (asyncio sets
    it on accepted sockets whose protocol is ``IPPROTO_TCP``; Linux also copies it from the
    listening socket)."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((address, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve_on_loopback(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    ca_bundle: str | None = None,
    options: dict[str, Any] | None = None,
) -> ServedSimulator:
    """Serve ``app`` on a loopback address in a background thread (non-loopback hosts raise
    ValueError); with ``ssl_certfile``/``ssl_keyfile`` over HTTPS. ``options`` are extra
    :class:`uvicorn.Config` arguments."""
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ValueError("serving TLS needs both ssl_certfile and ssl_keyfile")
    try:
        addr = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
    except ValueError:
        raise ValueError(f"simulators only serve on loopback, not {host!r}") from None
    if not addr.is_loopback:
        raise ValueError(f"simulators only serve on loopback, not {host!r}")
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    sock = _listen(str(addr), port, family)
    config = uvicorn.Config(
        app,
        host=str(addr),
        port=port,
        log_level="warning",
        lifespan="off",
        interface="asgi3",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        **(options or {}),
    )
    server_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DisconnectFilter) for f in server_log.filters):
        server_log.addFilter(_DisconnectFilter())
    scheme = "http" if ssl_certfile is None else "https"
    served = ServedSimulator(
        uvicorn.Server(config), sock, str(addr), scheme=scheme, ca_bundle=ca_bundle
    )
    served._start()
    return served
