"""Loaded for every test run, whatever paths it collects (tests/, notebooks/, solutions/, exercises/).

A test's check runs — nbval's kernels included, which inherit this environment — are nobody's
progress: they are not recorded as ExerciseChecked events (workshop/checks/progress.py).
Every notebook nbval runs is run a second time in the same kernel (tests/notebooks/second_run.py).
Fixtures live in tests/conftest.py.
"""

import os

os.environ.setdefault("WORKSHOP_PROGRESS", "off")

pytest_plugins = ["tests.notebooks.second_run"]
