"""pyproject.toml and environment.yml must list the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"redis": "redis-py"}


def _name(spec: str) -> str:
    name = re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].strip().lower().replace("_", "-")
    return CONDA_NAMES.get(name, name)


def _pyproject() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    return {_name(s) for s in specs}


def _environment() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            names |= {_name(s) for s in dep.get("pip", [])}
        elif not dep.startswith(("python=", "python ", "pip")) and dep != "python":
            names.add(_name(dep))
    return names


def test_environment_yml_matches_pyproject():
    py, env = _pyproject(), _environment()
    assert not py - env, f"in pyproject.toml but not environment.yml: {sorted(py - env)}"
    assert not env - py, f"in environment.yml but not pyproject.toml: {sorted(env - py)}"


def test_name_mapping_catches_drift():
    assert _name("psycopg[binary]>=3.1") == "psycopg"
    assert _name("redis>=5.0") == "redis-py"
    assert _name("psycopg_pool >=3") == "psycopg-pool"
