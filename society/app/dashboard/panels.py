"""The dashboard's panels besides the network: live plots, an agent's utterances, interventions.

Each panel is a Solara component taking the Society (Mesa SolaraViz passes the model) and
re-rendering on every step (``mesa.visualization.utils.update_counter``). Interventions go
through ``society.sim.events`` exactly as scheduled ``[[events]]`` do, and are logged in
``society.event_log`` with ``"by": "dashboard"``.
"""

from __future__ import annotations

import html
import unicodedata
from typing import TYPE_CHECKING

import solara
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from society.app.dashboard.mesa_api import force_update, update_counter
from society.config import Connect, IsolateCommunities, SetParameter
from society.sim.events import HANDLERS
from society.sim.network import community_members

if TYPE_CHECKING:
    from society.config import Event
    from society.sim.model import Society

#: The live plots: title -> (y label, {round-table column: legend label}).
PLOTS: dict[str, tuple[str, dict[str, str]]] = {
    "Held-out perplexity": ("perplexity per token", {"perplexity": "mean over agents"}),
    "Diversity": (
        "distinct-n",
        {"distinct_1": "distinct-1", "distinct_2": "distinct-2", "distinct_3": "distinct-3"},
    ),
    "Divergence within / between communities": (
        "Jensen-Shannon divergence",
        {
            "jsd_unigram_within": "unigram, within",
            "jsd_unigram_between": "unigram, between",
            "jsd_bigram_within": "bigram, within",
            "jsd_bigram_between": "bigram, between",
        },
    ),
}
UTTERANCES_SHOWN = 8
EVENTS_SHOWN = 6
#: Every panel fills its grid tile and scrolls inside it rather than spilling over.
PANEL_STYLE = {"height": "calc(100% - 8px)", "overflow-y": "auto"}
BLOCK = {"display": "block"}


def round_figure(society: Society, title: str) -> Figure:
    """One live plot: the round table's columns of ``PLOTS[title]`` against the round.

    Rounds where an event was applied (scheduled or from the dashboard) are marked by a
    dotted line just before the round it first affects.
    """
    ylabel, columns = PLOTS[title]
    table = society.round_table()
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.subplots()
    for column, label in columns.items():
        style = "--" if "bigram" in column else "-"
        ax.plot(table["round"], table[column], style, marker=".", label=label)
    for round_ in sorted({e["round"] for e in society.event_log}):
        ax.axvline(round_ - 0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    round_axis(ax, table["round"])
    if len(columns) > 1:  # below the axes: the curves span the whole panel
        fig.legend(loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    return fig


def round_axis(ax, rounds) -> None:  # noqa: ANN001 (matplotlib Axes, a Series)
    """Integer round ticks from -0.5 to the last round + 0.5 (at least rounds 0 and 1)."""
    last = max(int(rounds.max()) if len(rounds) else 0, 1)
    ax.set_xlim(-0.5, last + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def dialect_figure(society: Society) -> Figure:
    """Dialects found per round (left axis) and the dialect index (right axis).

    The index is ``dialect_index``: 1 - mean divergence within dialects / between them
    (0 = one dialect or none apart). Event rounds are marked as in ``round_figure``.
    """
    table = society.round_table()
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.step(table["round"], table["dialects"], where="mid", color="#1b6ca8", marker=".")
    ax.set_ylabel("dialects found", color="#1b6ca8")
    ax.set_ylim(0.5, max(2.0, float(table["dialects"].max())) + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    index = ax.twinx()
    index.plot(table["round"], table["dialect_index"], "--", color="#d1495b", marker=".")
    index.set_ylabel("dialect index", color="#d1495b")
    index.set_ylim(min(0.0, float(table["dialect_index"].min())) - 0.02, 1.0)
    for round_ in sorted({e["round"] for e in society.event_log}):
        ax.axvline(round_ - 0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_title("Dialects (solid) and dialect index (dashed)", fontsize=10)
    ax.set_xlabel("round")
    round_axis(ax, table["round"])
    return fig


def dialect_summary(society: Society) -> str:
    """``round R: N dialect(s), index X`` from the last row of the round table."""
    last = society.round_table().iloc[-1]
    count, index = int(last["dialects"]), float(last["dialect_index"])
    shown = f"{index:.2f}" if index == index else "– (one dialect)"
    return (
        f"round {int(last['round'])}: {count} dialect{'s' if count != 1 else ''}, "
        f"dialect index {shown}"
    )


@solara.component
def DialectPanel(model: Society) -> None:  # noqa: N802
    """How many dialects the society speaks, and how far apart they are."""
    update_counter.get()
    with solara.Card(classes=["society-dialects"], style=PANEL_STYLE):
        solara.Text(dialect_summary(model), classes=["society-dialect-count"], style=BLOCK)
        solara.FigureMatplotlib(dialect_figure(model), format="png", dpi=90)


def make_plot(title: str):  # noqa: ANN201 (a Solara component)
    """A Solara component drawing the live plot ``title`` (a key of ``PLOTS``)."""

    @solara.component
    def Plot(model: Society) -> None:  # noqa: N802
        update_counter.get()
        with solara.Card(classes=["society-plot"], style=PANEL_STYLE):
            solara.FigureMatplotlib(round_figure(model, title), format="png", dpi=90)

    Plot.__name__ = "Plot" + "".join(w.title() for w in title.split() if w.isalpha())
    return Plot


def intervene(society: Society, event: Event) -> str:
    """Apply one event now (through ``society.sim.events``) and log it; return what it did."""
    detail = HANDLERS[event.action](society, event)
    society.event_log.append(
        {"round": event.round, "action": event.action, "detail": detail, "by": "dashboard"}
    )
    return detail


def ring_of_communities(society: Society) -> list[tuple[int, int]]:
    """Community pairs joined by "reconnect": each to the next, in a ring (one pair for two)."""
    names = list(community_members(society.graph))
    if len(names) < 2:
        return []
    if len(names) == 2:
        return [(names[0], names[1])]
    return [(a, names[(i + 1) % len(names)]) for i, a in enumerate(names)]


def reconnect(society: Society, bridges: int) -> list[str]:
    """Add ``bridges`` random edges between each neighbouring pair of communities."""
    round_ = society.round + 1
    return [
        intervene(
            society, Connect(round=round_, action="connect", communities=pair, bridges=bridges)
        )
        for pair in ring_of_communities(society)
    ]


def isolate(society: Society) -> str:
    """Remove every edge between communities."""
    return intervene(
        society, IsolateCommunities(round=society.round + 1, action="isolate_communities")
    )


def set_parameters(society: Society, values: dict[str, object]) -> list[str]:
    """Change scenario parameters (dotted keys) for the coming rounds; unchanged ones skipped."""
    data = society.scenario.model_dump()
    done = []
    for key, value in values.items():
        section, name = key.split(".")
        if data[section][name] != value:
            event = SetParameter(round=society.round + 1, action="set", key=key, value=value)
            done.append(intervene(society, event))
    return done


@solara.component
def InterventionPanel(model: Society) -> None:  # noqa: N802
    """Sliders and buttons that change the running society before its next round."""
    update_counter.get()
    scenario = model.scenario
    fraction = solara.use_reactive(scenario.real_data.fraction)
    temperature = solara.use_reactive(scenario.speech.temperature)
    utterances = solara.use_reactive(scenario.speech.utterances)
    bridges = solara.use_reactive(1)
    message = solara.use_reactive("")

    def apply() -> None:
        done = set_parameters(
            model,
            {
                "real_data.fraction": float(fraction.value),
                "speech.temperature": float(temperature.value),
                "speech.utterances": int(utterances.value),
            },
        )
        message.set("; ".join(done) or "nothing changed")
        force_update()

    def do_isolate() -> None:
        message.set(isolate(model))
        force_update()

    def do_reconnect() -> None:
        message.set("; ".join(reconnect(model, int(bridges.value))) or "only one community")
        force_update()

    with solara.Card(
        f"Intervene before round {model.round + 1}",
        classes=["society-intervene"],
        style=PANEL_STYLE,
    ):
        if model.event_log:  # newest first, at the top: never scrolled out of sight
            solara.Text("events so far (newest first):", style=BLOCK)
            with solara.Column(classes=["society-events"], gap="0px"):
                for entry in reversed(model.event_log[-EVENTS_SHOWN:]):
                    by = " (dashboard)" if entry.get("by") == "dashboard" else ""
                    line = f"round {entry['round']}: {entry['detail']}{by}"
                    solara.Text(line, style={**BLOCK, "font-size": "12px"})
        solara.SliderFloat(
            f"real-data fraction: {fraction.value:.2f}",
            value=fraction,
            min=0.0,
            max=1.0,
            step=0.05,
        )
        solara.SliderFloat(
            f"temperature: {temperature.value:.2f}", value=temperature, min=0.1, max=2.0, step=0.05
        )
        solara.SliderInt(
            f"utterances: {utterances.value}",
            value=utterances,
            min=5,
            max=max(500, utterances.value),
        )
        solara.Button("apply parameters", on_click=apply, color="primary", outlined=True)
        with solara.Row():
            solara.Button("isolate communities", on_click=do_isolate, color="error", outlined=True)
            solara.Button("reconnect", on_click=do_reconnect, color="success", outlined=True)
        solara.SliderInt(f"bridges per reconnect: {bridges.value}", value=bridges, min=1, max=5)
        if message.value:
            solara.Text(message.value, classes=["society-message"], style=BLOCK)


def visible(text: str) -> str:
    """``text`` with characters a browser draws as empty boxes or not at all named instead.

    Control, format, private-use, surrogate and unassigned characters (Unicode categories
    ``Cc``, ``Cf``, ``Co``, ``Cs``, ``Cn``; n-gram agents can say them, the smoothing gives
    every byte token some mass) become ``<U+000C>``; everything else is kept.
    """
    return "".join(
        f"<U+{ord(ch):04X}>" if unicodedata.category(ch).startswith("C") else ch for ch in text
    )


def utterances_html(society: Society, agent_id: int, shown: int = UTTERANCES_SHOWN) -> str:
    """The agent's latest utterances as an HTML list (escaped, ``visible``), with metrics."""
    agent = society.speaker(agent_id)
    metrics = society.agent_measures(agent_id)
    head = (
        f"<p>round {society.round}, community {agent.community}: "
        f"perplexity {metrics.get('perplexity', float('nan')):.1f}, "
        f"distinct-2 {metrics.get('distinct_2', float('nan')):.3f}</p>"
    )
    items = "".join(f"<li>{html.escape(visible(text))}</li>" for text in agent.utterances[:shown])
    return head + f'<ol class="utterances">{items}</ol>'


@solara.component
def UtterancePanel(model: Society) -> None:  # noqa: N802
    """The latest utterances of a chosen agent."""
    update_counter.get()
    ids = sorted(a.unique_id for a in model.agents)
    chosen = solara.use_reactive(str(ids[0]))
    if int(chosen.value) not in ids:
        chosen.set(str(ids[0]))
    with solara.Card("What an agent says", classes=["society-utterances"], style=PANEL_STYLE):
        solara.Select("agent", value=chosen, values=[str(i) for i in ids])
        solara.HTML(unsafe_innerHTML=utterances_html(model, int(chosen.value)))
