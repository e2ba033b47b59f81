"""Generate learner notebooks in ``exercises/`` from the instructor's ``solutions/``.

``solutions/NN_topic.ipynb`` is the only hand-edited exercise notebook. This
module turns it into ``exercises/NN_topic.ipynb`` (same file name), using
nbgrader's markers without needing nbgrader itself:

* **Exercise id** — every solution region belongs to the *Exercise section* it
  sits in: a markdown heading whose text starts with ``Exercise <id>``::

      ### Exercise 3.2 — Rebuild the state from events

  The id is digits and dots with an optional letter (``0.1``, ``3.2``,
  ``3.2b``); an optional separator (``—``, ``–``, ``-``, ``:``, ``.``) and a
  title follow. The section runs until the next heading of the same or a higher
  level (``##`` ends a ``###`` section, ``####`` does not). A solution region
  outside any Exercise section stops the build, as does an id used twice.

* **Code** between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (each marker
  alone on its line, any indentation) becomes, at the BEGIN line's indentation::

      # YOUR CODE HERE
      raise NotImplementedError("Exercise 3.2: Rebuild the state from events")

* **Markdown** between the same markers becomes ``_Your answer here._``.
* ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` is removed with its
  markers (a cell left empty by that is dropped).
* Outputs and execution counts are cleared, cell metadata is reduced to
  ``tags``, notebook metadata to ``kernelspec``; the JSON is written the same
  way every time, so ``workshop exercises check`` can compare bytes.

Command line::

    workshop exercises build   # write exercises/, delete exercises without a solution
    workshop exercises check   # non-zero exit when exercises/ is stale, missing or extra

Both take ``--solutions DIR`` and ``--exercises DIR``. See ``docs/exercises.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from workshop.errors import WorkshopError

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError({message})"
MARKDOWN_STUB = "_Your answer here._"
DEFAULT_KERNELSPEC = {"display_name": "Python 3 (workshop)", "language": "python", "name": "python3"}
FIX = "run `workshop exercises build` (or `make exercises`) and commit exercises/"

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXERCISE = re.compile(r"^[^\w\s]*\s*exercise\s+(\d+(?:\.\d+)*[a-z]?)\b(.*)$", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")


class MarkerError(WorkshopError):
    """A solution notebook's markers or exercise headings are malformed."""


@dataclass(frozen=True)
class Exercise:
    """An exercise found in a solution notebook."""

    id: str
    title: str
    level: int  # heading level: 3 for ``### Exercise …``
    code_stubs: int = 0  # code regions turned into stubs (0 for a written-answer exercise)

    @property
    def message(self) -> str:
        """The text of the stub's ``NotImplementedError``: ``Exercise 3.2: Title``."""
        return f"Exercise {self.id}: {self.title}" if self.title else f"Exercise {self.id}"


@dataclass
class _State:
    """What the walk through one notebook knows so far."""

    where: str  # notebook name, for error messages
    current: Exercise | None = None
    exercises: dict[str, Exercise] = field(default_factory=dict)
    regions: int = 0


def _marker(line: str, where: str) -> str | None:
    """The marker on ``line``, or None. A marker line with anything else on it is an error."""
    text = line.strip()
    for marker in MARKERS:
        if text == marker:
            return marker
        if text.startswith(marker):
            raise MarkerError(f"{where}: {line.strip()!r} — put {marker!r} alone on its line")
    return None


def _heading(state: _State, line: str) -> None:
    """Open or close an Exercise section on a markdown heading line."""
    m = _HEADING.match(line)
    if not m:
        return
    level, text = len(m.group(1)), m.group(2)
    ex = _EXERCISE.match(text)
    if ex:
        ex_id, title = ex.group(1), ex.group(2).strip().lstrip("—–-:.").strip()
        if ex_id in state.exercises:
            raise MarkerError(f"{state.where}: two headings say 'Exercise {ex_id}' — give each exercise its own id")
        state.current = state.exercises[ex_id] = Exercise(ex_id, title, level)
    elif state.current and level <= state.current.level:
        state.current = None


def _transform(source: str, cell_type: str, state: _State, where: str) -> tuple[str, bool]:
    """Replace solution regions and drop hidden tests in one cell's source.

    Returns the new source and whether hidden tests were removed.
    """
    out: list[str] = []
    open_marker: str | None = None
    open_line = 0
    hidden = False
    in_fence = False
    for number, line in enumerate(source.split("\n"), start=1):
        marker = _marker(line, f"{where}, line {number}")
        if marker is None:
            if open_marker is None:
                out.append(line)
                if cell_type == "markdown":
                    if _FENCE.match(line):
                        in_fence = not in_fence
                    elif not in_fence:
                        _heading(state, line)
            continue
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if open_marker:
                raise MarkerError(
                    f"{where}, line {number}: {marker!r} inside the {open_marker!r} opened on line "
                    f"{open_line} — close it with {_closer(open_marker)!r} first"
                )
            open_marker, open_line = marker, number
            if marker == BEGIN_HIDDEN:
                hidden = True
                continue
            exercise = state.current
            if exercise is None:
                raise MarkerError(
                    f"{where}, line {number}: this solution is not inside an exercise section — put a "
                    f"markdown heading like '### Exercise 3.2 — Title' above it"
                )
            state.regions += 1
            indent = line[: len(line) - len(line.lstrip())]
            if cell_type == "code":
                stub = CODE_STUB.format(message=json.dumps(exercise.message, ensure_ascii=False))
                state.current = state.exercises[exercise.id] = Exercise(
                    exercise.id, exercise.title, exercise.level, exercise.code_stubs + 1
                )
            else:
                stub = MARKDOWN_STUB
            out.extend(indent + stub_line for stub_line in stub.split("\n"))
        else:  # an END marker
            if open_marker != _opener(marker):
                expected = f"expected {_closer(open_marker)!r}" if open_marker else "no region is open here"
                raise MarkerError(f"{where}, line {number}: {marker!r} without a matching BEGIN ({expected})")
            open_marker = None
    if open_marker:
        raise MarkerError(f"{where}, line {open_line}: {open_marker!r} is never closed — add {_closer(open_marker)!r}")
    return "\n".join(out), hidden


def _closer(marker: str) -> str:
    return END_SOLUTION if marker == BEGIN_SOLUTION else END_HIDDEN


def _opener(marker: str) -> str:
    return BEGIN_SOLUTION if marker == END_SOLUTION else BEGIN_HIDDEN


def _cell_name(name: str, index: int, cell: nbformat.NotebookNode) -> str:
    first = next((line.strip() for line in cell.source.split("\n") if line.strip()), "")
    first = first if len(first) <= 40 else first[:39] + "…"
    return f"{name}, cell {index + 1} ({cell.cell_type}, starts {first!r})"


def make_exercise(
    solution: nbformat.NotebookNode, name: str = "notebook"
) -> tuple[nbformat.NotebookNode, list[Exercise]]:
    """Return the learner's notebook made from ``solution``, and the exercises found in it.

    ``name`` is only used in error messages. Raises :class:`MarkerError`.
    """
    state = _State(where=name)
    cells = []
    for index, cell in enumerate(solution.cells):
        where = _cell_name(name, index, cell)
        source, hidden = _transform(cell.source, cell.cell_type, state, where)
        if hidden and not source.strip():
            continue
        new = nbformat.NotebookNode(
            cell_type=cell.cell_type,
            id=cell.get("id") or f"cell-{index}",
            metadata=nbformat.NotebookNode({"tags": list(cell.metadata["tags"])} if cell.metadata.get("tags") else {}),
            source=source,
        )
        if cell.cell_type == "code":
            new.execution_count = None
            new.outputs = []
        if "attachments" in cell and cell.cell_type != "code":
            new.attachments = cell.attachments
        cells.append(new)
    if state.regions == 0:
        raise MarkerError(f"{name}: no '{BEGIN_SOLUTION}' region — a notebook without exercises belongs in notebooks/")
    metadata = {"kernelspec": dict(solution.metadata.get("kernelspec") or DEFAULT_KERNELSPEC)}
    nb = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    nb.nbformat_minor = 5
    return nb, list(state.exercises.values())


def exercises_in(solution_path: Path) -> list[Exercise]:
    """The exercises of a solution notebook, in order (used by the tests)."""
    return make_exercise(_read(solution_path), solution_path.name)[1]


def render(solution_path: Path) -> str:
    """The exact text of the exercise notebook generated from ``solution_path``."""
    nb, _ = make_exercise(_read(solution_path), solution_path.name)
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def _read(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # invalid JSON, wrong format …
        raise MarkerError(f"{path}: cannot read this notebook ({exc})") from exc


@dataclass
class Plan:
    """What ``build`` would change: file name -> new text, and files to delete."""

    write: dict[str, str] = field(default_factory=dict)  # missing or stale
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return (
            [
                f"stale:   {n} (differs from what its solution generates: solution changed, or exercise edited)"
                for n in self.stale
            ]
            + [f"missing: {n} (solutions/{n} has no exercise yet)" for n in self.missing]
            + [f"extra:   {n} (no solutions/{n}; build deletes it)" for n in self.extra]
        )


def plan(solutions: Path, exercises: Path) -> Plan:
    """Compare ``exercises/`` with what ``solutions/`` generates. Reads only."""
    if not solutions.is_dir():
        raise WorkshopError(
            f"no solutions directory at {solutions} — run from the workshop repository or pass --solutions DIR"
        )
    result = Plan()
    wanted = sorted(p for p in solutions.glob("*.ipynb") if not p.name.startswith("."))
    for path in wanted:
        text = render(path)
        target = exercises / path.name
        if not target.exists():
            result.missing.append(path.name)
        elif target.read_bytes() != text.encode("utf-8"):
            result.stale.append(path.name)
        else:
            result.unchanged.append(path.name)
            continue
        result.write[path.name] = text
    names = {p.name for p in wanted}
    if exercises.is_dir():
        result.extra = sorted(p.name for p in exercises.glob("*.ipynb") if p.name not in names)
    return result


def build(solutions: Path, exercises: Path) -> Plan:
    """Write every stale or missing exercise notebook and delete extra ones."""
    result = plan(solutions, exercises)
    exercises.mkdir(parents=True, exist_ok=True)
    for name, text in result.write.items():
        (exercises / name).write_bytes(text.encode("utf-8"))
    for name in result.extra:
        (exercises / name).unlink()
    return result


def project_root() -> Path:
    """The repository: the nearest folder up from here with ``solutions/``, else the package's parent."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "solutions").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    return Path(__file__).resolve().parent.parent


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def copy(exercises: Path, folder: Path) -> tuple[list[str], list[str]]:
    """Copy every exercise notebook into ``folder`` (created), never overwriting one already there.

    ``folder`` must sit next to ``exercises/`` (same parent): the notebooks link to
    ``../notebooks/…`` and ``../exercises/…``, and those links only resolve from there.
    Returns (copied, kept) file names.
    """
    if folder.resolve().parent != exercises.resolve().parent:
        raise ValueError(
            f"{folder} must be a folder next to {exercises} (e.g. {exercises.parent / 'mine'}), "
            "or the notebooks' links to ../notebooks/ would lead nowhere"
        )
    if folder.resolve() == exercises.resolve():
        raise ValueError("copy into a folder of your own, not into exercises/ itself")
    folder.mkdir(exist_ok=True)
    copied, kept = [], []
    for source in sorted(exercises.glob("*.ipynb")):
        target = folder / source.name
        if target.exists():
            kept.append(source.name)
        else:
            shutil.copyfile(source, target)
            copied.append(source.name)
    return copied, kept


def main(argv: list[str] | None = None) -> int:
    """``workshop exercises {build,check} [--solutions DIR] [--exercises DIR]`` or ``copy NAME``."""
    root = project_root()
    parser = argparse.ArgumentParser(prog="workshop exercises", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "action",
        choices=["build", "check", "copy"],
        help="build: write exercises/; check: fail if stale; "
        "copy NAME: your own copies in NAME/, next to exercises/, links working",
    )
    parser.add_argument("name", nargs="?", help="copy: the folder to copy into (created next to exercises/)")
    parser.add_argument("--solutions", type=Path, default=root / "solutions", help="default: %(default)s")
    parser.add_argument("--exercises", type=Path, default=root / "exercises", help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.action == "copy":
        if not args.name or "/" in args.name or args.name in (".", ".."):
            parser.error("copy needs a plain folder name, e.g. `workshop exercises copy mine`")
        try:
            copied, kept = copy(args.exercises, args.exercises.parent / args.name)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 1
        where = _shown(args.exercises.parent / args.name)
        print(
            f"{where}/: {len(copied)} exercise notebook(s) copied"
            + (f", {len(kept)} already there and kept (your answers)" if kept else "")
            + f" — open {where}/ in JupyterLab; its links lead to ../notebooks/ as before"
        )
        return 0
    if args.name:
        parser.error(f"{args.action} takes no folder name")
    if args.action == "check":
        result = plan(args.solutions, args.exercises)
        if result.problems:
            print(f"{_shown(args.exercises)}/ is out of date:", file=sys.stderr)
            for line in result.problems:
                print(f"  {line}", file=sys.stderr)
            print(f"Fix: {FIX}.", file=sys.stderr)
            return 1
        print(f"{_shown(args.exercises)}/: {len(result.unchanged)} exercise notebook(s) up to date")
        return 0
    result = build(args.solutions, args.exercises)
    for name in result.write:
        print(f"wrote   {_shown(args.exercises / name)}")
    for name in result.extra:
        print(f"removed {_shown(args.exercises / name)}")
    print(f"{len(result.write)} written, {len(result.extra)} removed, {len(result.unchanged)} unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
