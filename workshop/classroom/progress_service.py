"""The instructor's live progress page: a JupyterHub service at ``/services/progress/``.

JupyterHub starts it (``jupyterhub_config.py`` adds :func:`hub_service`) and sends every
visitor through the hub's OAuth first. Only someone with the scope
``access:services!service=progress`` gets in — the hub's admins (JupyterHub's ``admin``
role has ``access:services``; a learner's role has not): a learner, with a browser or with
a token, gets 403.

The page is one HTML file with its CSS and a few lines of JavaScript inline (no CDN): it
asks ``data.json`` every few seconds and redraws the grid — learners × exercises, who is
stuck (three failures in a row) with the hint they are looking at, and the pass rate per
exercise — in type big enough for a projector. ``data.json`` is
:func:`workshop.classroom.progress.summary` of every learner's ``ExerciseChecked``
events: outcomes and one-line hints, never code.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

NAME = "progress"
REFRESH_SECONDS = 5


def hub_service(state: Path, port: int) -> dict[str, Any]:
    """The entry for ``c.JupyterHub.services``: a managed service on loopback, OAuth without a confirm page."""
    from workshop.config import settings

    return {
        "name": NAME,
        "url": f"http://127.0.0.1:{port}",
        "command": [sys.executable, "-m", "workshop.classroom.progress_service"],
        "oauth_no_confirm": True,
        "environment": {
            "DATABASE_URL": settings().database_url,  # host and port; each learner is read with their own login
            "WORKSHOP_CLASSROOM_DIR": str(state),
            "WORKSHOP_ENV_FILE": os.devnull,
        },
    }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class progress</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:20px/1.35 system-ui,sans-serif;margin:1.2em;background:#fff;color:#111}
 h1{font-size:1.6em;margin:0 0 .2em} #when{color:#555;font-size:.8em}
 table{border-collapse:collapse;margin-top:.6em} th,td{border:1px solid #bbb;padding:.25em .5em;text-align:center}
 th.name,td.name{text-align:left;font-weight:600} th.hint{text-align:left}
 td.hint{text-align:left;min-width:22em;max-width:36em;font-size:.85em}
 .done{background:#1b7f3b;color:#fff} .stuck{background:#c62828;color:#fff;font-weight:700}
 .trying{background:#f6c343} .todo{color:#999} tr.rate td{font-weight:700;background:#eef}
 #legend{margin-top:.8em;font-size:.8em;color:#333} #error{color:#c62828;font-weight:700}
</style></head>
<body><h1>Class progress</h1><div id="when">loading…</div><div id="error"></div>
<table id="grid"></table>
<div id="legend"><span class="done">&nbsp;✔&nbsp;</span> done &nbsp;
 <span class="trying">&nbsp;n&nbsp;</span> trying (attempts) &nbsp;
 <span class="stuck">&nbsp;✖n&nbsp;</span> stuck: n failures in a row &nbsp; <span class="todo">·</span> not tried</div>
<script>
const REFRESH = %(refresh)d * 1000, XSRF = %(xsrf)s;  // the hub asks scripts for its xsrf token
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls; return e; }
function draw(data) {
  const grid = document.getElementById("grid"); grid.replaceChildren();
  const head = el("tr"); head.append(el("th", "learner", "name"));
  data.exercises.forEach(x => head.append(el("th", x))); head.append(el("th", "stuck on — the hint they see", "hint"));
  grid.append(head);
  data.learners.forEach(row => {
    const tr = el("tr"); tr.append(el("td", row.name, "name"));
    data.exercises.forEach(x => { const c = row.cells[x];
      const text = c.state === "done" ? "✔" : c.state === "stuck" ? "✖" + c.failures
                 : c.state === "trying" ? String(c.attempts) : "·";
      tr.append(el("td", text, c.state)); });
    const stuck = row.stuck.map(s => s.exercise + ": " + s.hint).join(" · ");
    tr.append(el("td", stuck || (row.started ? "" : "not started"), "hint")); grid.append(tr); });
  const rate = el("tr", undefined, "rate"); rate.append(el("td", "passed", "name"));
  data.exercises.forEach(x => { const r = data.pass_rates[x];
    rate.append(el("td", r.of ? Math.round(100 * r.done / r.of) + "%%" : "–")); });
  rate.append(el("td", "")); grid.append(rate);
  document.getElementById("when").textContent = data.learners.length + " learners · updated " +
    new Date().toLocaleTimeString() + " · refreshes every " + (REFRESH / 1000) + " s";
  document.body.dataset.ready = "1";
}
async function refresh() {
  try { const resp = await fetch("data.json", {cache: "no-store", headers: {"X-XSRFToken": XSRF}});
    if (!resp.ok) throw new Error("the service answered " + resp.status);
    draw(await resp.json()); document.getElementById("error").textContent = ""; }
  catch (e) { document.getElementById("error").textContent = "not updated: " + e.message; }
}
refresh(); setInterval(refresh, REFRESH);
</script></body></html>
"""


async def room_data() -> dict:
    """What the page shows, read fresh from every learner's progress stream."""
    from workshop.classroom.learners import Roster
    from workshop.classroom.progress import read_class, summary
    from workshop.config import settings

    directory = Path(os.environ["WORKSHOP_CLASSROOM_DIR"])
    return summary(await read_class(settings(), Roster(directory).all()))


def make_app() -> Any:
    """The tornado application behind the hub's proxy (JupyterHub's own service helpers do the OAuth)."""
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from jupyterhub.utils import url_path_join
    from tornado import web

    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{NAME}/")

    class Admins(HubOAuthenticated, web.RequestHandler):
        """Lets in only who holds this service's access scope (hub_scopes, JupyterHub's default):
        the admins; anyone else gets 403."""

    class Page(Admins):
        @web.authenticated
        def get(self) -> None:
            self.set_header("Cache-Control", "no-store")
            raw: bytes | str = self.xsrf_token
            token = raw.decode() if isinstance(raw, bytes) else raw
            self.write(PAGE % {"refresh": REFRESH_SECONDS, "xsrf": json.dumps(token)})

    class Data(Admins):
        @web.authenticated
        async def get(self) -> None:
            self.set_header("Cache-Control", "no-store")
            self.set_header("Content-Type", "application/json")
            self.write(json.dumps(await room_data()))

    return web.Application(
        [
            (prefix, Page),
            (url_path_join(prefix, "data.json"), Data),
            (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        ],
        cookie_secret=os.urandom(32),
    )


def main() -> None:
    from urllib.parse import urlsplit

    url = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))

    async def serve() -> None:
        make_app().listen(url.port or 80, url.hostname or "127.0.0.1")
        await asyncio.Event().wait()  # until JupyterHub stops the service

    asyncio.run(serve())


if __name__ == "__main__":
    main()
