"""The replay explorer's logic (the widget itself is a thin shell around it) and the charts."""

import matplotlib

matplotlib.use("Agg")

from workshop import users  # noqa: E402
from workshop.store import plots  # noqa: E402
from workshop.store.course import NaiveResult  # noqa: E402
from workshop.users.race import FixedResult  # noqa: E402
from workshop.viz import replay as rv  # noqa: E402


def alice():
    return [
        e.replace(version=i)
        for i, e in enumerate(
            [
                users.UserCreated("user-1", "Alice", "Liddell", "alice@example.com"),
                users.EmailUpdated("user-1", email="new@example.com"),
                users.UserActivated("user-1"),
            ],
            1,
        )
    ]


def test_steps_keep_every_state_before_and_after():
    steps = rv.steps(alice(), users.evolve)
    assert [s.version for s in steps] == [1, 2, 3]
    assert steps[0].before == {} and steps[1].before == steps[0].after
    assert steps[1].before["email"] == "alice@example.com" and steps[1].after["email"] == "new@example.com"


def test_diff_marks_exactly_the_changed_fields():
    step = rv.steps(alice(), users.evolve)[2]
    frame = rv.diff(step.before, step.after)
    assert list(frame.index[frame["changed"]]) == ["status"]
    assert frame.loc["status", "before"] == "inactive" and frame.loc["status", "after"] == "active"
    html = rv.styled(frame).to_html()
    styled_cells = html.split("{")[0]  # pandas groups the highlighted cells under one CSS rule
    assert "row3_col0" in styled_cells and "row0" not in styled_cells and "#fff3b0" in html


def test_history_has_one_row_per_version():
    h = rv.history(alice(), users.evolve)
    assert list(h.index) == [1, 2, 3] and list(h["status"]) == ["inactive", "inactive", "active"]


def test_explorer_slider_covers_every_version():
    box = rv.explorer(alice(), users.evolve)
    slider = box.children[0]
    assert (slider.min, slider.max, slider.value) == (1, 3, 3)
    slider.value = 2  # moving it re-renders without error
    assert "no events" in rv.explorer([], users.evolve).value


def test_charts_draw():
    fig = plots.naive_vs_fixed(
        NaiveResult(4, 200, 60, 140, 0, 60),
        NaiveResult(4, 200, 200, 0, 190, 60),
        FixedResult(4, 200, 200, 0, True, 80, 9),
    )
    assert len(fig.axes[0].patches) == 9
    fig = plots.load_times([10, 100], [1.0, 10.0], [0.5, 0.5])
    assert len(fig.axes[0].lines) == 2
