"""The docs and notebooks agree with the repository: links resolve, Compose commands work as typed.

A learner copies a command from a notebook or clicks a link in it; both must work. A chapter
still to come is *named* in the text, never linked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", ".git", ".ipynb_checkpoints", "node_modules", "build", ".pytest_cache"}


def _files(*patterns: str) -> list[Path]:
    found = {p for pattern in patterns for p in ROOT.glob(pattern)}
    return sorted(p for p in found if p.is_file() and not SKIP & set(p.relative_to(ROOT).parts))


def _markdown(path: Path) -> str:
    """A doc's text; for a notebook, its markdown cells."""
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _all_text(path: Path) -> str:
    """Every line a learner can copy: for a notebook, all its cells' sources."""
    if path.suffix != ".ipynb":
        return path.read_text()
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])


DOCS = _files("*.md", "docs/**/*.md", "notebooks/*.ipynb", "solutions/*.ipynb", "exercises/*.ipynb")
LINK = re.compile(r"\]\(\s*<?([^)>\s]+)>?(?:\s+\"[^\"]*\")?\s*\)|href=\"([^\"]+)\"")


def _relative_links(text: str) -> list[str]:
    links = []
    for md, html in LINK.findall(text):
        target = (md or html).split("#", 1)[0]
        if target and not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("/"):
            links.append(target)
    return links


def test_the_link_finder_sees_markdown_and_html_links():
    text = '[a](02_pubsub.ipynb) [b](../docs/x.md#part) [c](https://example.org) <a href="y.md">y</a> [d](#top)'
    assert _relative_links(text) == ["02_pubsub.ipynb", "../docs/x.md", "y.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path):
    dead = [t for t in _relative_links(_markdown(doc)) if not (doc.parent / t).exists()]
    assert not dead, f"{doc.relative_to(ROOT)} links to files that do not exist: {dead}"


# --- Docker Compose commands -------------------------------------------------------------

COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())
# profile -> the services that only start with `--profile <name>`
PROFILES: dict[str, set[str]] = {}
for _name, _svc in COMPOSE["services"].items():
    for _profile in _svc.get("profiles", []):
        PROFILES.setdefault(_profile, set()).add(_name)

SUBCOMMANDS = "up|down|build|config|ps|logs|run|exec|pull|restart|stop|start|rm"
# `docker compose` followed by options and a sub-command: a command, not prose about Compose
COMMAND = re.compile(rf"docker[ -]compose(?:\s+-[^`\n|]*?)?\s+(?:{SUBCOMMANDS})\b[^`\n|]*")
WHERE = _files(
    "*.md", "docs/**/*.md", "notebooks/*.ipynb", "solutions/*.ipynb", "docker/**/*", "workshop/**/*.py", "Makefile"
)


def compose_commands() -> list[tuple[str, str]]:
    """``(file, command)`` for every ``docker compose …`` command line a learner might copy."""
    found = []
    for path in WHERE:
        for command in COMMAND.findall(_all_text(path)):
            command = command.strip().rstrip(".,;:)'\"")
            if "..." in command or "…" in command:
                continue  # an elided example
            found.append((str(path.relative_to(ROOT)), command))
    return found


def problems(command: str) -> list[str]:
    """What a ``docker compose`` command lacks to work when typed from the repository root."""
    missing = []
    if "--env-file .env" not in command:
        missing.append("--env-file .env (every service's secrets come from it)")
    if "-f docker/compose.yml" not in command:
        missing.append("-f docker/compose.yml")
    for profile, services in PROFILES.items():
        named = {w.split("=", 1)[0] for w in command.split()} | set(re.findall(r"--scale (\w+)", command))
        if named & services and f"--profile {profile}" not in command:
            missing.append(f"--profile {profile} (for {', '.join(sorted(named & services))})")
    return missing


def test_the_command_check_catches_what_the_readme_once_missed():
    assert problems("docker compose -f docker/compose.yml up --scale payment=3") == [
        "--env-file .env (every service's secrets come from it)",
        "--profile orders (for payment)",
    ]
    assert problems("docker compose --env-file .env -f docker/compose.yml --profile orders up --scale payment=3") == []


def test_the_docs_have_compose_commands_to_check():
    assert len(compose_commands()) >= 5


@pytest.mark.parametrize("where,command", compose_commands())
def test_every_compose_command_works_as_typed(where: str, command: str):
    assert not problems(command), f"{where}: `{command}` needs {', '.join(problems(command))}"
