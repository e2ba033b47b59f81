"""The house style (docs/style.md), checked where a machine can check it, on every notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EVERY = CHAPTERS + SOLUTIONS + sorted((ROOT / "exercises").glob("*.ipynb"))
KERNELSPEC = {"display_name": "Python 3 (workshop)", "language": "python", "name": "python3"}

NAV = re.compile(
    r"^(?:← \[(?P<prev>[^\]]+)\]\((?P<prev_link>\d\d_\w+\.ipynb)\) · )?"
    r"exercises: \[`exercises/(?P<ex_name>\d\d_\w+\.ipynb)`\]\(\.\./exercises/(?P<ex_link>\d\d_\w+\.ipynb)\)"
    r"(?: · next: \[(?P<next>[^\]]+)\]\((?P<next_link>\d\d_\w+\.ipynb)\) →)?$"
)
ENDING = ["What you saw", "Questions", "Self-check", "What you built"]
UNITS = re.compile(r"\b(messages/s|msgs/s|msg/sec|messages/sec|messages per second|messages/second)\b", re.I)
LITERAL_COLOUR = re.compile(r"\bcolou?rs?\s*=\s*\[?\s*[\"']")
PROGRESS = re.compile(r"\d+%\|")


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _nb(path: Path) -> dict:
    return json.loads(path.read_text())


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def _outputs_text(cell: dict) -> str:
    out = []
    for o in cell.get("outputs", []):
        text = o.get("text") or o.get("data", {}).get("text/plain") or ""
        out.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(out)


@pytest.mark.parametrize("path", EVERY, ids=_id)
def test_every_notebook_names_the_one_installed_kernel(path):
    assert _nb(path)["metadata"].get("kernelspec") == KERNELSPEC, (
        f"{_id(path)}: kernelspec must be {KERNELSPEC} (docs/style.md §1), or JupyterLab marks it changed on open"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=_id)
def test_a_chapter_opens_and_closes_with_the_same_navigation_line(path):
    cells = _nb(path)["cells"]
    first, last = _src(cells[0]).rstrip().splitlines()[-1], _src(cells[-1]).rstrip().splitlines()[-1]
    match = NAV.match(first)
    assert match, f"{_id(path)}: the first cell must end with the navigation line of docs/style.md §2, not {first!r}"
    assert last == first, f"{_id(path)}: the last cell must end with the same navigation line, not {last!r}"
    number = int(path.name[:2])
    assert (match["prev_link"] is None) == (number == 0), f"{_id(path)}: only 00 has no previous chapter"
    assert (match["next_link"] is None) == (path == CHAPTERS[-1]), f"{_id(path)}: only the last chapter has no next"
    assert match["ex_name"] == match["ex_link"] and match["ex_link"].startswith(path.name[:2])
    for link in (match["prev_link"], match["next_link"]):
        if link:
            assert (path.parent / link).exists(), f"{_id(path)}: {link} does not exist"
    assert (ROOT / "exercises" / match["ex_link"]).exists(), f"{_id(path)}: exercises/{match['ex_link']} missing"


@pytest.mark.parametrize("path", CHAPTERS, ids=_id)
def test_a_chapter_never_links_to_the_answers(path):
    text = "\n".join(_src(c) for c in _nb(path)["cells"] if c["cell_type"] == "markdown")
    assert "](../solutions/" not in text and 'href="../solutions/' not in text, (
        f"{_id(path)}: link exercises to ../exercises/, never to ../solutions/ (docs/style.md §2)"
    )


@pytest.mark.parametrize("path", SOLUTIONS, ids=_id)
def test_an_exercise_notebook_links_back_to_its_chapter(path):
    first = _src(_nb(path)["cells"][0])
    assert re.search(rf"\]\(\.\./notebooks/{path.name[:2]}_\w+\.ipynb\)", first), (
        f"{_id(path)}: its first cell must link to its chapter in ../notebooks/ (docs/style.md §2)"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=_id)
def test_a_chapter_ends_with_what_you_saw_questions_self_check_what_you_built(path):
    markdown = "\n".join(_src(c) for c in _nb(path)["cells"] if c["cell_type"] == "markdown")
    parts = re.split(r"^## (.+)$", markdown, flags=re.M)
    headings, bodies = [h.strip() for h in parts[1::2]], parts[2::2]
    expected = ["Self-check", "What you built"] if path.name.startswith("00") else ENDING
    assert headings[-len(expected) :] == expected, (
        f"{_id(path)}: the last sections must be {expected} (docs/style.md §3), found {headings[-4:]}"
    )
    if expected == ENDING:
        saw, questions = bodies[-4], bodies[-3]
        assert re.search(r"^\|\s*-{3,}", saw, re.M), f"{_id(path)}: 'What you saw' must hold a table"
        assert re.search(r"\*\*Exercises:\*\* \[`exercises/\d\d_\w+\.ipynb`\]\(\.\./exercises/", questions), (
            f"{_id(path)}: 'Questions' must end with the **Exercises:** line linking to ../exercises/"
        )


@pytest.mark.parametrize("path", CHAPTERS + SOLUTIONS, ids=_id)
def test_plots_take_their_colours_from_the_one_palette(path):
    for n, cell in enumerate(_nb(path)["cells"]):
        if cell["cell_type"] == "code":
            found = LITERAL_COLOUR.search(_src(cell))
            assert not found, (
                f"{_id(path)} cell {n}: a literal colour ({found.group(0)!r}); use "
                "workshop.viz.style.COLOURS so each system keeps its colour (docs/style.md §4)"
            )


@pytest.mark.parametrize("path", CHAPTERS + SOLUTIONS, ids=_id)
def test_a_message_rate_is_spelled_msg_per_s(path):
    for n, cell in enumerate(_nb(path)["cells"]):
        found = UNITS.search(_src(cell) + "\n" + _outputs_text(cell))
        assert not found, f"{_id(path)} cell {n}: {found.group(0)!r} — write msg/s (docs/style.md §5)"


@pytest.mark.parametrize("path", CHAPTERS + SOLUTIONS, ids=_id)
def test_no_progress_bar_and_no_error_is_stored(path):
    for n, cell in enumerate(_nb(path)["cells"]):
        for o in cell.get("outputs", []):
            assert o["output_type"] != "error", f"{_id(path)} cell {n}: a stored error (docs/style.md §7)"
            data = o.get("data", {})
            shown = "".join(data.get("text/plain", ""))
            assert not (
                "application/vnd.jupyter.widget-view+json" in data
                and re.search(r"Progress|HBox\(children=\(HTML", shown)
            ), f"{_id(path)} cell {n}: a stored progress-bar widget — turn progress off (docs/style.md §7)"
        found = PROGRESS.search(_outputs_text(cell))
        assert not found, f"{_id(path)} cell {n}: a stored progress bar {found.group(0)!r} (docs/style.md §7)"


def test_the_kernel_workshop_setup_installs_is_the_one_every_notebook_names(monkeypatch, tmp_path):
    from workshop import exercises, setup

    commands = []
    monkeypatch.setattr(setup, "_logged", lambda cmd, log: commands.append(cmd) or True)
    assert setup.install_kernel(tmp_path / "setup.log", say=lambda line: None)
    [cmd] = commands
    assert cmd[cmd.index("--name") + 1] == KERNELSPEC["name"]
    assert cmd[cmd.index("--display-name") + 1] == KERNELSPEC["display_name"]
    assert exercises.DEFAULT_KERNELSPEC == KERNELSPEC
