"""Shared look of the figures: palette, marker shapes, round shades, PNG rendering."""

from __future__ import annotations

import io
import re

from matplotlib import colormaps
from matplotlib.figure import Figure

PALETTE = (
    "#1b6ca8",
    "#d1495b",
    "#2e933c",
    "#edae49",
    "#66456b",
    "#00798c",
    "#8d6a9f",
    "#c5283d",
    "#7a9e7e",
    "#30638e",
)
SHAPES = ("o", "s", "^", "D", "v", "p", "h", "*")
#: Word tokens as the simulation counts them (lower-cased ``\w+`` with inner apostrophes).
WORD = re.compile(r"\w+(?:'\w+)*")


def png(figure: Figure, dpi: int = 96) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def colour(i: int) -> str:
    """The i-th palette colour (cycling)."""
    return PALETTE[int(i) % len(PALETTE)]


def shape(i: int) -> str:
    """The i-th marker shape (cycling), used for communities."""
    return SHAPES[int(i) % len(SHAPES)]


def shade(i: int, n: int) -> tuple[float, float, float, float]:
    """Colour of the i-th of n rounds (viridis: dark = early, yellow = late)."""
    return colormaps["viridis"](0.9 * i / max(n - 1, 1))
