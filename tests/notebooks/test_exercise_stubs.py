"""Every learner notebook in ``exercises/`` is current and really unsolved.

For each ``solutions/NN_*.ipynb`` the generated ``exercises/NN_*.ipynb`` is run
top to bottom in a real kernel; it must stop at its first exercise with that
exercise's ``NotImplementedError`` (or the check's "Exercise N.M is not done
yet"), not earlier with some other error and not run through to the end.
The last tests prove the runner on throw-away notebooks in a temp folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import v4

from workshop.exercises import FIX, build, exercises_in, plan

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
NOT_DONE = ("NotImplementedError", "ExerciseNotDone")


def run_until_first_error(path: Path, timeout: int = 60) -> tuple[int, str, str] | None:
    """Execute ``path`` (cwd = its folder); return (cell index, ename, evalue) of the first error, or None."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        # Execution stopped at the failing cell: the last one that got an execution count
        # (the notebook starts cleared, so no earlier count survives).
        ran = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count") is not None]
        return ran[-1], exc.ename, exc.evalue
    return None


def assert_fails_at_first_stub(exercise: Path, solution: Path) -> None:
    """``exercise`` stops at the stub of the first code exercise of ``solution``, with its message."""
    name = exercise.name
    first = next((e for e in exercises_in(solution) if e.code_stubs), None)
    assert first is not None, f"{solution.name} has no code exercise to stop at"
    stub_line = f"raise NotImplementedError({json.dumps(first.message, ensure_ascii=False)})"
    cells = nbformat.read(exercise, as_version=4).cells
    stub_cell = next((i for i, c in enumerate(cells) if stub_line in c.source), None)
    assert stub_cell is not None, f"{name} has no stub for Exercise {first.id}: {FIX}"

    outcome = run_until_first_error(exercise)
    assert outcome is not None, (
        f"{name} ran to the end without failing: nothing calls the stub of Exercise {first.id} "
        "(add a check cell after the exercise)"
    )
    index, ename, evalue = outcome
    where = f"{name}, cell {index + 1}: {ename}: {evalue}"
    assert ename in NOT_DONE, f"{where} — expected it to stop at Exercise {first.id}'s stub"
    assert re.search(rf"Exercise {re.escape(first.id)}(?!\.?\w)", evalue), f"{where} — expected Exercise {first.id}"
    assert index >= stub_cell, f"{where} — failed before Exercise {first.id}'s stub (cell {stub_cell + 1})"


SOLVED = sorted(SOLUTIONS.glob("*.ipynb"))


def test_exercises_are_up_to_date() -> None:
    problems = plan(SOLUTIONS, EXERCISES).problems
    assert not problems, "exercises/ is out of date:\n  " + "\n  ".join(problems) + f"\nFix: {FIX}"


@pytest.mark.timeout(600)  # 60 s per cell; the whole notebook may take longer than the default
@pytest.mark.parametrize("solution", SOLVED, ids=[p.stem for p in SOLVED])
def test_exercise_notebook_stops_at_its_first_stub(solution: Path) -> None:
    exercise = EXERCISES / solution.name
    assert exercise.exists(), f"exercises/{solution.name} is missing: {FIX}"
    assert_fails_at_first_stub(exercise, solution)


# --- the runner itself, on throw-away notebooks ------------------------------------------------

CHECK_CELL = (
    "from workshop.checks import check, expect_equal\n\n"
    "@check('9.1')\n"
    "def check_double(double):\n"
    "    expect_equal('9.1', double(2), 4)\n\n"
    "check_double(double)"
)


def _solution(tmp_path: Path, *cells: nbformat.NotebookNode) -> tuple[Path, Path]:
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nb = v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [
        v4.new_markdown_cell("# Nine"),
        v4.new_code_cell("import pathlib\nassert pathlib.Path('data.txt').read_text() == 'here'"),  # cwd = notebook dir
        *cells,
        v4.new_markdown_cell("### Exercise 9.1 — Double it"),
        v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
        v4.new_code_cell(CHECK_CELL),
        v4.new_markdown_cell("### Exercise 9.2 — Later"),
        v4.new_code_cell("### BEGIN SOLUTION\ny = 1\n### END SOLUTION"),
    ]
    nbformat.write(nb, solutions / "09_nine.ipynb")
    build(solutions, exercises)
    (exercises / "data.txt").write_text("here")
    return solutions / "09_nine.ipynb", exercises / "09_nine.ipynb"


def test_runner_accepts_a_notebook_that_stops_at_its_first_stub(tmp_path: Path) -> None:
    solution, exercise = _solution(tmp_path)
    assert_fails_at_first_stub(exercise, solution)
    index, ename, evalue = run_until_first_error(exercise)
    assert (index, ename) == (4, "ExerciseNotDone")  # the check cell, with the friendly message
    assert evalue.startswith("Exercise 9.1 is not done yet")


def test_runner_rejects_a_notebook_that_fails_before_the_stub(tmp_path: Path) -> None:
    solution, exercise = _solution(tmp_path, v4.new_code_cell("1 / 0"))
    with pytest.raises(AssertionError, match=r"09_nine\.ipynb, cell 3: ZeroDivisionError"):
        assert_fails_at_first_stub(exercise, solution)


def test_runner_rejects_a_notebook_whose_stub_is_never_called(tmp_path: Path) -> None:
    solution, exercise = _solution(tmp_path)
    nb = nbformat.read(exercise, as_version=4)
    nb.cells = [c for c in nb.cells if "check_double(double)" not in c.source and "9.2" not in c.source]
    nbformat.write(nb, exercise)
    with pytest.raises(AssertionError, match="ran to the end without failing"):
        assert_fails_at_first_stub(exercise, solution)


def test_a_failed_check_is_visible_in_the_notebook(tmp_path: Path) -> None:
    """``ExerciseFailed`` is a WorkshopError: Jupyter must still show it (as one line), not swallow it."""
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_code_cell("import workshop\nfrom workshop.checks import fail\nfail('9.9', 'expected 4, got 5.')")
    ]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True)
    client.execute()
    errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert errors, "the failed check shows nothing in the notebook: the custom exception hook must display it"
    assert errors[0].ename == "ExerciseFailed"
    (line,) = errors[0].traceback  # one line, not a traceback
    assert "Exercise 9.9: expected 4, got 5." in line and "\n" not in line.strip()
