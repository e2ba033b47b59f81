"""``workshop.exercises``: solution notebooks in, learner notebooks out, byte-stable."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from workshop import cli
from workshop.exercises import MarkerError, build, exercises_in, main, make_exercise, plan, render

KERNELSPEC = {"display_name": "Python 3 (workshop)", "language": "python", "name": "python3"}


def notebook(*cells: nbformat.NotebookNode, **metadata: object) -> nbformat.NotebookNode:
    nb = v4.new_notebook(metadata={"kernelspec": KERNELSPEC, **metadata})
    nb.cells = list(cells)
    return nb


def md(source: str) -> nbformat.NotebookNode:
    return v4.new_markdown_cell(source)


def code(source: str, **kwargs: object) -> nbformat.NotebookNode:
    return v4.new_code_cell(source, **kwargs)


HELLO = notebook(
    md("# Warm-up\n\n### Exercise 0.1 — Say hello\n\nWrite `hello(name)`."),
    code(
        "def hello(name: str) -> str:\n    ### BEGIN SOLUTION\n    return f'hello {name}'\n    ### END SOLUTION\n",
        execution_count=4,
        outputs=[nbformat.v4.new_output("stream", text="noise\n")],
        metadata={"tags": ["keep-me"], "scrolled": True, "nbgrader": {"solution": True}},
    ),
    code(
        "assert hello('ada') == 'hello ada'\n### BEGIN HIDDEN TESTS\nassert hello('') == 'hello '\n### END HIDDEN TESTS"
    ),
    code("### BEGIN HIDDEN TESTS\nassert hello('x')\n### END HIDDEN TESTS\n"),
    md("Why a function?\n\n### BEGIN SOLUTION\nSo the check can call it.\n### END SOLUTION"),
    widgets={"application/vnd.jupyter.widget-state+json": {"state": {}}},
    language_info={"name": "python", "version": "3.12.3"},
)


def exercise_of(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return make_exercise(nb, "test.ipynb")[0]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    solutions.mkdir()
    nbformat.write(HELLO, solutions / "00_warmup.ipynb")
    return solutions, exercises


def args(solutions: Path, exercises: Path) -> list[str]:
    return ["--solutions", str(solutions), "--exercises", str(exercises)]


# --- what a stub looks like ------------------------------------------------------------------


def test_solution_region_becomes_an_indented_stub_naming_the_exercise() -> None:
    cell = exercise_of(HELLO).cells[1]
    assert cell.source == (
        'def hello(name: str) -> str:\n    # YOUR CODE HERE\n    raise NotImplementedError("Exercise 0.1: Say hello")\n'
    )


def test_stub_runs_and_raises_with_the_exercise_message() -> None:
    namespace: dict = {}
    exec(exercise_of(HELLO).cells[1].source, namespace)
    with pytest.raises(NotImplementedError, match=r"^Exercise 0\.1: Say hello$"):
        namespace["hello"]("ada")


def test_deeper_indentation_and_several_regions_in_one_cell() -> None:
    nb = notebook(
        md("## Exercise 3.2: Orders"),
        code(
            "class Order:\n"
            "    def place(self):\n"
            "        ### BEGIN SOLUTION\n"
            "        self.placed = True\n"
            "        ### END SOLUTION\n"
            "\n"
            "    def cancel(self):\n"
            "\t\t### BEGIN SOLUTION\n"
            "\t\tself.placed = False\n"
            "\t\t### END SOLUTION"
        ),
    )
    source = exercise_of(nb).cells[1].source
    assert '        raise NotImplementedError("Exercise 3.2: Orders")\n' in source
    assert '\t\traise NotImplementedError("Exercise 3.2: Orders")' in source
    assert "placed = " not in source
    assert make_exercise(nb)[1][0].code_stubs == 2


def test_title_with_quotes_is_a_valid_python_string() -> None:
    nb = notebook(md('### Exercise 1.1 — The "bus" \\ and you'), code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    namespace: dict = {}
    with pytest.raises(NotImplementedError) as info:
        exec(exercise_of(nb).cells[1].source, namespace)
    assert str(info.value) == 'Exercise 1.1: The "bus" \\ and you'


def test_heading_without_title_gives_a_bare_id() -> None:
    nb = notebook(md("### Exercise 2.3b"), code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    assert 'raise NotImplementedError("Exercise 2.3b")' in exercise_of(nb).cells[1].source


def test_markdown_answer_is_replaced() -> None:
    assert exercise_of(HELLO).cells[-1].source == "Why a function?\n\n_Your answer here._"


def test_hidden_tests_are_removed_and_a_cell_left_empty_is_dropped() -> None:
    cells = exercise_of(HELLO).cells
    assert len(cells) == len(HELLO.cells) - 1
    assert cells[2].source == "assert hello('ada') == 'hello ada'"
    assert all("HIDDEN" not in c.source and "hello('x')" not in c.source for c in cells)


def test_outputs_counts_and_metadata_are_normalised() -> None:
    nb = exercise_of(HELLO)
    cell = nb.cells[1]
    assert cell.outputs == [] and cell.execution_count is None
    assert cell.metadata == {"tags": ["keep-me"]}
    assert cell.id == HELLO.cells[1].id
    assert nb.metadata == {"kernelspec": KERNELSPEC}
    nbformat.validate(nb)


def test_the_solution_notebook_itself_is_not_modified() -> None:
    before = nbformat.writes(HELLO)
    exercise_of(HELLO)
    assert nbformat.writes(HELLO) == before


# --- which exercise a region belongs to --------------------------------------------------------


def test_exercises_are_listed_in_order(dirs: tuple[Path, Path]) -> None:
    found = exercises_in(dirs[0] / "00_warmup.ipynb")
    assert [(e.id, e.title, e.code_stubs) for e in found] == [("0.1", "Say hello", 1)]
    assert found[0].message == "Exercise 0.1: Say hello"


def test_region_outside_an_exercise_section_is_an_error() -> None:
    nb = notebook(md("# Intro"), code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    with pytest.raises(MarkerError, match=r"test\.ipynb, cell 2 .*Exercise 3\.2 — Title"):
        make_exercise(nb, "test.ipynb")


def test_a_same_level_heading_ends_the_exercise_section_a_deeper_one_does_not() -> None:
    solution = code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    deeper = notebook(md("### Exercise 1.1 — A"), md("#### Hint\nUse a dict."), solution)
    assert "Exercise 1.1: A" in exercise_of(deeper).cells[2].source
    same = notebook(md("### Exercise 1.1 — A"), md("### Recap"), solution)
    with pytest.raises(MarkerError, match="not inside an exercise section"):
        exercise_of(same)


def test_heading_like_lines_in_code_fences_do_not_count() -> None:
    nb = notebook(
        md("```python\n# Exercise 9.9 — not a heading\n```"), code("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    )
    with pytest.raises(MarkerError, match="not inside an exercise section"):
        exercise_of(nb)


def test_each_cell_belongs_to_the_latest_exercise() -> None:
    nb = notebook(
        md("### Exercise 1.1 — First"),
        code("### BEGIN SOLUTION\na = 1\n### END SOLUTION"),
        md("### Exercise 1.2 — Second"),
        code("### BEGIN SOLUTION\nb = 2\n### END SOLUTION"),
    )
    ex, found = make_exercise(nb)
    assert [e.id for e in found] == ["1.1", "1.2"]
    assert "Exercise 1.2: Second" in ex.cells[3].source


def test_duplicate_exercise_id_is_an_error() -> None:
    nb = notebook(md("### Exercise 1.1 — A"), md("### Exercise 1.1 — B"), code("### BEGIN SOLUTION\n### END SOLUTION"))
    with pytest.raises(MarkerError, match="two headings say 'Exercise 1.1'"):
        exercise_of(nb)


def test_notebook_without_solution_regions_is_an_error() -> None:
    with pytest.raises(MarkerError, match="no '### BEGIN SOLUTION' region"):
        exercise_of(notebook(md("### Exercise 1.1"), code("x = 1")))


# --- malformed markers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", r"line 1: '### BEGIN SOLUTION' is never closed"),
        ("x = 1\n### END SOLUTION", r"line 2: '### END SOLUTION' without a matching BEGIN \(no region is open here\)"),
        (
            "### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n",
            r"line 2: '### BEGIN HIDDEN TESTS' inside the '### BEGIN SOLUTION'",
        ),
        (
            "### BEGIN HIDDEN TESTS\n### END SOLUTION",
            r"'### END SOLUTION' without a matching BEGIN \(expected '### END HIDDEN TESTS'\)",
        ),
        ("    ### BEGIN SOLUTION 3.2\nx = 1\n### END SOLUTION", r"alone on its line"),
    ],
)
def test_unbalanced_markers_name_notebook_and_cell(source: str, message: str) -> None:
    nb = notebook(md("### Exercise 1.1 — A"), code(source))
    with pytest.raises(MarkerError, match=r"^broken\.ipynb, cell 2 \(code, starts .*" + message):
        make_exercise(nb, "broken.ipynb")


def test_unbalanced_markers_fail_the_build_command(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    solutions, exercises = dirs
    nbformat.write(notebook(md("### Exercise 1.1"), code("### BEGIN SOLUTION\nx = 1")), solutions / "01_bad.ipynb")
    assert cli.main(["exercises", "build", *args(solutions, exercises)]) == 1
    err = capsys.readouterr().err
    assert "01_bad.ipynb, cell 2" in err and "never closed" in err
    assert "Traceback" not in err


# --- build and check ---------------------------------------------------------------------------


def test_build_writes_byte_stable_files_and_is_idempotent(dirs: tuple[Path, Path]) -> None:
    solutions, exercises = dirs
    first = build(solutions, exercises)
    assert list(first.write) == ["00_warmup.ipynb"]
    data = (exercises / "00_warmup.ipynb").read_bytes()
    assert data.endswith(b"}\n") and b"\r\n" not in data
    assert data == render(solutions / "00_warmup.ipynb").encode()
    second = build(solutions, exercises)
    assert second.write == {} and second.unchanged == ["00_warmup.ipynb"]
    assert (exercises / "00_warmup.ipynb").read_bytes() == data


def test_saving_the_solution_again_without_changes_keeps_the_exercise(dirs: tuple[Path, Path]) -> None:
    solutions, exercises = dirs
    build(solutions, exercises)
    path = solutions / "00_warmup.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="a new run\n")]
    nb.cells[1].execution_count = 99
    nbformat.write(nb, path)
    assert plan(solutions, exercises).problems == []


def test_check_passes_after_build(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    solutions, exercises = dirs
    assert main(["build", *args(solutions, exercises)]) == 0
    assert main(["check", *args(solutions, exercises)]) == 0
    assert "1 exercise notebook(s) up to date" in capsys.readouterr().out


def test_check_fails_after_editing_a_solution_without_rebuilding(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    solutions, exercises = dirs
    main(["build", *args(solutions, exercises)])
    path = solutions / "00_warmup.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("Say hello", "Greet someone")
    nbformat.write(nb, path)
    capsys.readouterr()
    assert main(["check", *args(solutions, exercises)]) == 1
    err = capsys.readouterr().err
    assert "stale:   00_warmup.ipynb" in err
    assert "Fix: run `workshop exercises build`" in err
    assert main(["build", *args(solutions, exercises)]) == 0
    assert main(["check", *args(solutions, exercises)]) == 0
    assert "Greet someone" in (exercises / "00_warmup.ipynb").read_text()


def test_check_reports_missing_and_extra_and_build_fixes_both(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    solutions, exercises = dirs
    exercises.mkdir()
    (exercises / "09_gone.ipynb").write_text("{}")
    (exercises / "README.md").write_text("not a notebook: left alone")
    assert main(["check", *args(solutions, exercises)]) == 1
    err = capsys.readouterr().err
    assert "missing: 00_warmup.ipynb" in err and "extra:   09_gone.ipynb" in err
    assert main(["build", *args(solutions, exercises)]) == 0
    assert "removed" in capsys.readouterr().out
    assert sorted(p.name for p in exercises.iterdir()) == ["00_warmup.ipynb", "README.md"]
    assert main(["check", *args(solutions, exercises)]) == 0


def test_check_through_the_workshop_command(dirs: tuple[Path, Path]) -> None:
    solutions, exercises = dirs
    assert cli.main(["exercises", "check", *args(solutions, exercises)]) == 1
    assert cli.main(["exercises", "build", *args(solutions, exercises)]) == 0
    assert cli.main(["exercises", "check", *args(solutions, exercises)]) == 0


def test_missing_solutions_directory_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["exercises", "check", *args(tmp_path / "nope", tmp_path / "ex")]) == 1
    err = capsys.readouterr().err.strip()
    assert "no solutions directory" in err and "--solutions DIR" in err and "\n" not in err


def test_copy_puts_the_exercises_next_to_exercises_so_links_keep_working_and_never_overwrites(tmp_path):
    import json as _json

    from workshop import exercises as ex

    (tmp_path / "exercises").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_x.ipynb").write_text("{}")
    (tmp_path / "exercises" / "01_x.ipynb").write_text(_json.dumps({"link": "../notebooks/01_x.ipynb"}))
    assert ex.main(["copy", "mine", "--exercises", str(tmp_path / "exercises")]) == 0
    mine = tmp_path / "mine" / "01_x.ipynb"
    link = _json.loads(mine.read_text())["link"]
    assert (mine.parent / link).resolve() == (tmp_path / "notebooks" / "01_x.ipynb").resolve()
    mine.write_text("my answers")
    assert ex.main(["copy", "mine", "--exercises", str(tmp_path / "exercises")]) == 0
    assert mine.read_text() == "my answers"
    with pytest.raises(ValueError, match="next to"):
        ex.copy(tmp_path / "exercises", tmp_path / "deep" / "mine")
