"""The dashboard answers only requests whose Host is a loopback name."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from society.app.dashboard.hosts import LoopbackOnly, guard, host_name


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:8765", "127.0.0.1"), ("LOCALHOST", "localhost"), ("[::1]:80", "::1"),
     ("evil.example:8765", "evil.example"), ("", "")],
)  # fmt: skip
def test_host_name_drops_the_port(header, name):
    assert host_name(header) == name


def _client() -> TestClient:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("page"))])
    guard(app)
    guard(app)  # idempotent
    assert sum(m.cls is LoopbackOnly for m in app.user_middleware) == 1
    return TestClient(app)


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "localhost", "[::1]:1"])
def test_loopback_hosts_are_served(host):
    response = _client().get("/", headers={"host": host})
    assert response.status_code == 200 and response.text == "page"


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8765", "10.0.0.5:8765", "127.0.0.2"]
)
def test_other_hosts_are_refused(host):
    response = _client().get("/", headers={"host": host})
    assert response.status_code == 403
    assert "page" not in response.text


def test_websockets_to_other_hosts_are_closed():
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect),
        _client().websocket_connect("/", headers={"host": "evil.example"}),
    ):
        pass


def test_serve_guards_the_solara_app(monkeypatch):
    import solara.server.starlette as server
    from solara.__main__ import run

    from society.app.dashboard import app as dashboard
    from society.config import Scenario

    monkeypatch.setattr(dashboard, "build_society", lambda scenario, origin: object())
    monkeypatch.setattr(run, "main", lambda *a, **k: None)
    monkeypatch.setattr(server.app, "user_middleware", list(server.app.user_middleware))
    dashboard.serve(Scenario(), port=0)
    assert any(m.cls is LoopbackOnly for m in server.app.user_middleware)
