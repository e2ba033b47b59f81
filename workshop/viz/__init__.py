"""Pictures of what the systems do: event timelines (swimlanes with causation arrows), and more per chapter.

Each module draws with matplotlib from plain records or pandas frames, so the
same functions work on a live run in a notebook and on saved data in a test.
"""
