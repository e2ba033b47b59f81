"""In a real kernel, a check on a crashing answer prints one red line — no traceback, no warning."""

import nbformat
from nbclient import NotebookClient

CELLS = [
    "from workshop.checks import ch00, ch03\nfrom workshop.events import Event",
    # 3.3, sync: the brief's own example
    "def upcast_v1(data):\n"
    "    first, last = data['name'].split(' ')[0], data['name'].split(' ')[1]\n"
    "    return {'first_name': first, 'last_name': last, 'email': data['email']}\n"
    "\n"
    "ch03.check_upcaster(upcast_v1)",
    # 0.2, async: a forgotten await
    "async def read_back(r, stream):\n"
    "    entries = r.xrange(stream)\n"
    "    return [Event.from_json(fields['event']) for _, fields in entries]\n"
    "\n"
    "await ch00.check_read_back(read_back)",
    # 0.1, async: the Event itself handed to Redis
    "async def publish(r, stream, event):\n"
    "    return await r.xadd(stream, {'event': event})\n"
    "\n"
    "await ch00.check_publish(publish)",
]

EXPECTED = [
    (
        "ExerciseCrashed",
        [
            "Exercise 3.3: upcast_v1({'name': 'Cher', 'email': 'x@example.com'}) raised IndexError: "
            "list index out of range (in upcast_v1, line 2) — a name can be a single word"
        ],
    ),
    (
        "ExerciseCrashed",
        [
            "Exercise 0.2: read_back(r, stream) on a stream of 3 events raised TypeError: 'coroutine' "
            "object is not iterable (in read_back, line 3)",
            "did you forget `await`",
        ],
    ),
    (
        "ExerciseCrashed",
        [
            "Exercise 0.1: publish(r, stream, UserCreated event) raised DataError: Invalid input of type: 'Event'",
            "event.to_json()",
        ],
    ),
]


def test_crashing_answers_show_one_line_each_in_a_kernel(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    setup, *checks = nb.cells
    assert not [o for o in setup.outputs if o.output_type == "error"], setup.outputs
    for cell, (ename, parts) in zip(checks, EXPECTED):
        # exactly one output: the error — no stderr warning ("coroutine … was never awaited"), no print
        assert [o.output_type for o in cell.outputs] == ["error"], cell.outputs
        (error,) = cell.outputs
        assert error.ename == ename
        assert len(error.traceback) == 1, f"expected one line, got {len(error.traceback)}: {error.traceback}"
        line = error.traceback[0]
        assert "\n" not in line and "Traceback" not in line
        for part in parts:
            assert part in line, f"{part!r} missing from {line!r}"
