"""Errors a learner can act on: each says what is wrong and how to fix it in one line.

Inside Jupyter, :func:`install_notebook_hook` (called when ``workshop`` is
imported in a kernel) shows these errors as that single line instead of a
60-line traceback. The cell still fails, so nbval and "Run all" stop there.
"""

from __future__ import annotations


class WorkshopError(Exception):
    """Base class: an error whose message alone tells the learner what to do."""


class ConfigError(WorkshopError, ValueError):
    """A setting (environment variable or `.env` line) is malformed."""


class ServiceUnavailable(WorkshopError, ConnectionError):
    """A backing service does not answer. The message names it and the fix (``workshop.fixes``)."""

    def __init__(self, service: str, url: str, reason: str, fix: str) -> None:
        self.service, self.url, self.reason, self.fix = service, url, reason, fix
        super().__init__(f"{service} is not reachable at {redact(url)} ({reason}). Start it: {self.fix}")


def redact(url: str) -> str:
    """Hide a password in a URL before printing it."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def install_notebook_hook() -> bool:
    """In IPython, print :class:`WorkshopError` as one red line instead of a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False

    def _one_line(shell, etype, value, tb, tb_offset=None):  # IPython's handler signature
        stb = [f"\x1b[31m{etype.__name__}: {value}\x1b[0m"]
        shell._showtraceback(etype, value, stb)  # IPython discards the return value
        return stb

    ip.set_custom_exc((WorkshopError,), _one_line)
    return True
