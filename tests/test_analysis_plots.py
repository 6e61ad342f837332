import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.spatial.distance import cdist

from analysis import load_run, load_runs, plots
from analysis.runs import Run
from tests._runs import tiny_run


def fake_run(pairs: pd.DataFrame, agents: pd.DataFrame, rounds: pd.DataFrame) -> Run:
    empty = pd.DataFrame()
    return Run(
        path=tiny_run(),
        name="fake",
        config={},
        params={},
        manifest={},
        events=[],
        rounds=rounds,
        agents=agents,
        pairs=pairs,
        innovations=empty,
        expressions=empty,
    )


def planted_pairs(points_by_round: dict[int, np.ndarray]) -> pd.DataFrame:
    rows = []
    for round_, points in points_by_round.items():
        d = cdist(points, points)
        for i in range(len(points)):
            for j in range(i + 1, len(points)):
                rows.append((round_, i + 1, j + 1, d[i, j]))
    return pd.DataFrame(rows, columns=["round", "agent_i", "agent_j", "jsd_unigram"])


def test_band_is_a_bootstrap_interval_over_runs_within_the_range():
    rng = np.random.default_rng(2)
    x = np.r_[rng.uniform(0.9, 1.0, 10), 0.4]  # a bounded measure, one low run
    values = pd.DataFrame({"round": [0] * 11 + [1], "x": [*x, 0.5]})
    band = plots.band(values, "x").set_index("round")
    assert band.loc[0, "mean"] == pytest.approx(x.mean())
    assert x.min() <= band.loc[0, "low"] < x.mean() < band.loc[0, "high"] <= x.max()
    sem = x.std(ddof=1) / np.sqrt(x.size)
    assert band.loc[0, "high"] - band.loc[0, "low"] < 6 * sem  # about +-2 standard errors
    assert band.loc[1, "low"] == band.loc[1, "high"] == 0.5  # one run: no interval


def test_spread_is_mean_plus_minus_sd_clipped_to_the_values():
    values = pd.DataFrame({"round": [0, 0, 0, 1], "x": [1.0, 2.0, 3.0, 5.0]})
    spread = plots.spread(values, "x").set_index("round")
    assert spread.loc[0, "mean"] == 2.0
    assert spread.loc[0, "low"] == pytest.approx(1.0) and spread.loc[0, "high"] == 3.0
    skewed = plots.spread(pd.DataFrame({"round": [0] * 4, "x": [0.0, 0.0, 0.0, 4.0]}), "x")
    assert skewed.loc[0, "low"] == 0.0  # mean 1 - sd 2 would leave the range


def test_matrix_at_and_chosen_rounds():
    points = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    pairs = planted_pairs({0: points})
    run = fake_run(pairs, pd.DataFrame(), pd.DataFrame({"round": [0, 1, 2, 3, 4]}))
    d, ids = plots.matrix_at(run, 0, "jsd_unigram")
    assert ids == [1, 2, 3]
    assert np.allclose(d, cdist(points, points))
    partial = fake_run(pairs.iloc[:2], pd.DataFrame(), run.rounds)
    assert plots.matrix_at(partial, 0, "jsd_unigram") is None
    assert plots.chosen_rounds(run) == [0, 2, 4]


def test_map_coordinates_undo_rotation_between_rounds():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 2))
    angle = 1.1
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pairs = planted_pairs({0: base, 1: base @ rotation})  # same shape, turned
    agents = pd.DataFrame(
        {
            "round": np.repeat([0, 1], 6),
            "agent": np.tile(np.arange(1, 7), 2),
            "community": 0,
            "dialect": 0,
        }
    )
    xy = plots.map_coordinates(fake_run(pairs, agents, pd.DataFrame({"round": [0, 1]})))
    first = xy[xy["round"] == 0][["x", "y"]].to_numpy()
    last = xy[xy["round"] == 1][["x", "y"]].to_numpy()
    assert np.allclose(cdist(last, last), cdist(base, base), atol=1e-8)  # MDS is exact
    assert np.allclose(first, last, atol=1e-8)  # aligned: no agent appears to move


def test_figures_of_a_real_run():
    run = load_run(tiny_run())
    runs = load_runs([tiny_run()])
    curves = plots.metric_curves(runs, "diversity")
    assert isinstance(curves, Figure)
    assert sum(ax.get_visible() for ax in curves.axes) == 6
    for figure in (
        plots.divergence_heatmaps(run),
        plots.dialect_map(run),
        plots.network_by_dialect(run),
        plots.neologism_adoption(run),
        plots.ancestor_histograms(run, run.samples()),
        plots.rank_frequency(run.samples([0, 4])),
    ):
        assert isinstance(figure, Figure)
        assert plots.png(figure)[:8] == b"\x89PNG\r\n\x1a\n"
    gif = plots.dialect_map_gif(run)
    assert gif[:6] == b"GIF89a"
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(gif)).n_frames == 5


def test_missing_data_gives_no_figure():
    empty = fake_run(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert plots.divergence_heatmaps(empty) is None
    assert plots.dialect_map(empty) is None
    assert plots.dialect_map_gif(empty) is None
    assert plots.neologism_adoption(empty) is None
    assert plots.ancestor_histograms(empty, pd.DataFrame()) is None
    assert plots.rank_frequency(pd.DataFrame()) is None


def test_conditions_name_the_varying_parameters():
    runs = load_runs([tiny_run()])
    assert plots.conditions(runs).tolist() == ["all runs"]


def test_curves_mark_events_clip_bands_and_use_integer_rounds():
    runs = load_runs([tiny_run()])
    figure = plots.metric_curves(runs, "dialects")
    assert figure.events == [{"round": 1, "label": "isolate_communities"}]
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        vertical = [ln for ln in ax.lines if list(ln.get_xdata()) == [1, 1]]
        assert vertical, ax.get_title()
        assert "isolate_communities" in [t.get_text() for t in ax.texts]
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert all(float(t).is_integer() for t in ticks), ticks
        if ax.get_title().startswith("ARI"):
            for band in ax.collections:
                assert band.get_paths()[0].vertices[:, 1].max() <= 1.0
    assert len(figure.legends) == 1  # one shared legend, outside the panels
    assert not any(ax.get_legend() for ax in figure.axes)
