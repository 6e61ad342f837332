"""Watch a society live: a Mesa SolaraViz app (``society viz SCENARIO``).

The page shows the network coloured by each agent's current dialect (marker shape: its
community), live plots of held-out perplexity, diversity and divergence within/between
communities, the latest utterances of a chosen agent, and controls: Mesa's Step / Play /
Reset, sliders for the key parameters (applied on Reset, or at once from the
"Intervene" card) and buttons for events (isolate communities, reconnect).

``serve`` builds the Society once (bad input fails before any server starts) and runs
the Solara server in this process on 127.0.0.1 only, offline: the front-end assets come
from the ``solara-assets`` package, telemetry and the version check are off.
"""

from __future__ import annotations

import os
import socket
import warnings
from typing import Any

import solara

from society.app.dashboard.mesa_api import Slider, SolaraViz, update_counter
from society.app.dashboard.network_view import network_svg
from society.app.dashboard.panels import (
    PANEL_STYLE,
    PLOTS,
    DialectPanel,
    InterventionPanel,
    UtterancePanel,
    make_plot,
)
from society.config import ConfigError, Scenario
from society.run.runner import build_society
from society.sim.model import Society

HOST = "127.0.0.1"
PAGE = "society.app.dashboard.app:Page"
#: Environment variable holding the resolved scenario (JSON) when the app is started by
#: ``solara run society.app.dashboard.app`` instead of ``serve``.
SCENARIO_ENV = "SOCIETY_VIZ_SCENARIO"

_served: dict[str, Society] = {}
#: Page style: Mesa draws a tab bar ("PAGE 0") even for one page of panels; hide it. Slider
#: values are always shown on their thumbs (Vuetify shows them only while dragging), with
#: room above each slider so a thumb's value never covers the text above it; the Intervene
#: card names its values in the labels, keeps its event log to a few lines (scrolling) and
#: so fits its grid tile with every button in view.
CSS = """
.v-tabs { display: none !important; }
.v-slider__thumb-label-container { display: block !important; }
.v-input__slider { margin-top: 34px; }
.society-intervene .v-slider__thumb-label-container { display: none !important; }
.society-intervene .v-input__slider { margin-top: 0; }
.society-events { max-height: 4.8em; overflow-y: auto; margin-bottom: 6px; }
"""


@solara.component
def NetworkView(model: Society) -> None:  # noqa: N802
    """The network picture (inline SVG, see ``society.app.dashboard.network_view``)."""
    update_counter.get()
    with solara.Card(classes=["society-network-card"], style=PANEL_STYLE):
        solara.HTML(
            unsafe_innerHTML=network_svg(model),
            classes=["society-network"],
            style="height: 100%",
        )


def Interventions(model: Society):  # noqa: ANN201, N802 (a Solara element)
    """The intervention card, with fresh slider state for each new society (Reset)."""
    return InterventionPanel(model).key(f"intervene-{id(model)}")


def components() -> list[tuple[Any, int]]:
    """The dashboard's panels, in grid order (two columns)."""
    plots = [make_plot(title) for title in PLOTS]
    panels = [
        NetworkView,
        DialectPanel,
        UtterancePanel,
        plots[0],
        Interventions,
        plots[1],
        plots[2],
    ]
    return [(panel, 0) for panel in panels]


def model_params(society: Society) -> dict[str, Any]:
    """Mesa ``model_params``: sliders for the key parameters (used on Reset), the rest fixed.

    The scenario and the already loaded corpus are passed unchanged, so Reset rebuilds
    the society from the same scenario with the sliders' values.
    """
    scenario = society.scenario
    utterances = scenario.speech.utterances
    return {
        "scenario": scenario,
        "corpus": society.corpus,
        "real_data_fraction": Slider(
            "real-data fraction", scenario.real_data.fraction, 0.0, 1.0, 0.05, dtype=float
        ),
        "speech_temperature": Slider(
            "temperature", scenario.speech.temperature, 0.1, 2.0, 0.05, dtype=float
        ),
        "speech_utterances": Slider(
            "utterances", utterances, 5, max(500, utterances), 5, dtype=int
        ),
    }


def dashboard(society: Society):  # noqa: ANN201 (a Solara element)
    """The SolaraViz element for ``society``."""
    return SolaraViz(
        society,
        components=components(),
        model_params=model_params(society),
        name=f"society: {society.scenario.name}",
    )


def served_society() -> Society:
    """The society this server shows: set by ``serve``, else built from ``SCENARIO_ENV``."""
    if "society" not in _served:
        raw = os.environ.get(SCENARIO_ENV)
        scenario = Scenario.model_validate_json(raw) if raw else Scenario()
        _served["society"] = build_society(scenario, SCENARIO_ENV)
    return _served["society"]


@solara.component
def Page() -> None:  # noqa: N802
    """The app Solara serves."""
    solara.Style(CSS)
    dashboard(served_society())


def check_port(port: int) -> None:
    """Raise a one-line ConfigError if ``127.0.0.1:port`` cannot be listened on."""
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise ConfigError(f"--port {port}: cannot listen on {HOST}: {error.strerror}") from None


def serve(scenario: Scenario, port: int = 8765, origin: str = "<scenario>") -> None:
    """Build the society and serve the dashboard on ``127.0.0.1:port`` until interrupted.

    Args:
        scenario: a validated scenario.
        port: the TCP port (0: a free one).
        origin: the scenario file, for error messages.

    Raises:
        ConfigError: the port is taken, or the corpus or graph cannot be used (one line,
            nothing served).
    """
    import solara.server.settings as settings
    from solara.__main__ import run

    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "false"
    settings.telemetry.mixpanel_enable = False
    # Solara warns, at length, on every page load that a samesite=none cookie needs https;
    # on 127.0.0.1 over http it falls back to samesite=lax, which is what we want.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none", category=UserWarning)
    check_port(port)
    _served["society"] = build_society(scenario, origin)
    # solara.server.app registers the page at import only when SOLARA_APP is already set;
    # importing the Starlette app below (to guard it) would otherwise leave no page to serve.
    os.environ["SOLARA_APP"] = PAGE
    from solara.server.starlette import app as starlette_app

    from society.app.dashboard.hosts import guard

    guard(starlette_app)  # refuse requests whose Host is not loopback (DNS rebinding)
    args = [
        PAGE,
        "--host",
        HOST,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
        "--log-level",
        "warning",
    ]
    run.main(args, prog_name="society viz", standalone_mode=False)
