"""Answer only requests addressed to this machine: a guard against DNS rebinding.

The dashboard listens on 127.0.0.1, but a web page elsewhere can still make a browser send
it requests under a hostile name (DNS rebinding); such a request carries that name in its
``Host`` header. :class:`LoopbackOnly` refuses every HTTP request and websocket whose
``Host`` is not a loopback name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:80`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_loopback(header: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback interface."""
    return host_name(header) in LOOPBACK


class LoopbackOnly:
    """ASGI middleware: 403 (or a closed websocket) unless ``Host`` is a loopback name.

    Args:
        app: the application to guard.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass loopback requests on; refuse the others."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if is_loopback(headers.get(b"host", b"").decode("latin-1")):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b"refused: Host is not 127.0.0.1 or localhost\n"
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def guard(app: Any) -> None:
    """Add :class:`LoopbackOnly` to a Starlette app (before it starts), once."""
    if not any(m.cls is LoopbackOnly for m in app.user_middleware):
        app.add_middleware(LoopbackOnly)
