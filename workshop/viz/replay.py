"""The replay explorer: scrub through an aggregate's history, one event at a time.

``history(events, evolve)`` is the course's "replayed states" as a table (one row
per version); ``explorer(events, evolve)`` is a slider over versions showing the
event applied and the state before and after, with the changed fields
highlighted. The logic lives in plain functions (``steps``, ``diff``) so tests
can check it without a browser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workshop.events import Event

Evolve = Callable[[Any, Event], Any]
HIGHLIGHT = "background-color: #fff3b0; font-weight: bold"


@dataclass(frozen=True)
class Step:
    version: int
    event: Event
    before: dict
    after: dict


def steps(events: Sequence[Event], evolve: Evolve, initial: dict | None = None) -> list[Step]:
    """Every state transition of the stream, in order."""
    state, out = dict(initial or {}), []
    for e in events:
        new = evolve(state, e)
        out.append(Step(e.version, e, state, new))
        state = new
    return out


def diff(before: dict, after: dict) -> pd.DataFrame:
    """Field by field: before, after, and whether it changed."""
    fields = list(dict.fromkeys([*before, *after]))
    return pd.DataFrame(
        {
            "before": [before.get(f, "") for f in fields],
            "after": [after.get(f, "") for f in fields],
            "changed": [before.get(f, None) != after.get(f, None) for f in fields],
        },
        index=pd.Index(fields, name="field"),
    )


def styled(frame: pd.DataFrame):
    """The diff with changed rows highlighted (a pandas Styler, for HTML display)."""
    return frame.style.apply(lambda row: [HIGHLIGHT if row["changed"] else ""] * len(row), axis=1)


def history(events: Sequence[Event], evolve: Evolve) -> pd.DataFrame:
    """One row per version: the event and the whole state after it."""
    rows = [{"version": s.version, "event": s.event.event_type, **s.after} for s in steps(events, evolve)]
    return pd.DataFrame(rows).set_index("version")


def describe(step: Step) -> str:
    return f"v{step.version} · {step.event.event_type} {step.event.data} · {step.event.timestamp[:19]}"


def explorer(events: Sequence[Event], evolve: Evolve):
    """An ipywidgets slider over versions: the event applied, the state before and after."""
    import ipywidgets as widgets
    from IPython.display import display

    all_steps = steps(events, evolve)
    if not all_steps:
        return widgets.HTML("<i>no events in this stream</i>")
    slider = widgets.IntSlider(
        value=len(all_steps), min=1, max=len(all_steps), description="version", continuous_update=True
    )
    out = widgets.Output()

    def show(change: Any = None) -> None:
        step = all_steps[slider.value - 1]
        out.clear_output(wait=True)
        with out:
            display(widgets.HTML(f"<b>{describe(step)}</b>"))
            display(styled(diff(step.before, step.after)))

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, out])
