"""Mesa's visualization API, imported once without a spurious warning.

Mesa 3.3.1's ``ComponentsView`` has a hook after an early return, which Solara's hook
check reports as a ``UserWarning`` at import time; the code is correct (the early return
happens only with no components), so the dashboard imports Mesa's names from here.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*ComponentsView", category=UserWarning)
    from mesa.visualization import Slider, SolaraViz
    from mesa.visualization.utils import force_update, update_counter

__all__ = ["Slider", "SolaraViz", "force_update", "update_counter"]
