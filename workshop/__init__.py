"""Support package for the event-driven systems workshop.

Notebooks import what they need from the sub-modules (``workshop.events``,
``workshop.connect``, …); this file only sets up nicer errors in Jupyter and
offers :func:`doctor` for the setup notebook.
"""

from workshop.errors import ServiceUnavailable, WorkshopError, install_notebook_hook

__version__ = "0.1.0"
__all__ = ["ServiceUnavailable", "WorkshopError", "adoctor", "doctor", "__version__"]


def doctor(**kw):
    """Check every service and show the result as a table (see ``workshop doctor``)."""
    from workshop.infra.doctor import doctor as _doctor

    return _doctor(**kw)


async def adoctor(**kw):
    """``await workshop.adoctor()``: the same checks on the notebook's own event loop."""
    from workshop.infra.doctor import adoctor as _adoctor

    return await _adoctor(**kw)


install_notebook_hook()
