"""JupyterHub's configuration for the classroom (``jupyterhub -f`` this file).

Everything that varies — ports, the class list, the limits — is read from
``$WORKSHOP_CLASSROOM_DIR/classroom.json``, which ``workshop classroom up``
writes; the secrets (cookie secret, proxy token, the instructor's API token)
are 0600 files in the same folder. Read it top to bottom: it is the whole hub.
"""

import json
import os
import sys
from pathlib import Path

import nativeauthenticator

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by JupyterHub when it loads this file

state = Path(os.environ["WORKSHOP_CLASSROOM_DIR"])
conf = json.loads((state / "classroom.json").read_text())
secret = lambda name: (state / name).read_text().strip()  # noqa: E731

# --- the hub and its proxy: loopback unless the instructor says otherwise --------------------
c.JupyterHub.bind_url = f"http://{conf['ip']}:{conf['port']}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = conf["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{conf['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [conf["proxy"]]
c.ConfigurableHTTPProxy.auth_token = secret("proxy_token")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
c.JupyterHub.pid_file = str(state / "hub.pid")
c.JupyterHub.cleanup_servers = False  # restarting the hub leaves the learners' servers (and work) running

# --- who may log in: accounts issued by the instructor (workshop/classroom/auth.py) ------------
if conf["authenticator"] == "native":
    c.JupyterHub.authenticator_class = "workshop.classroom.auth.ClassroomAuthenticator"  # no sign-up
    c.JupyterHub.template_paths = [os.path.join(os.path.dirname(nativeauthenticator.__file__), "templates")]
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.minimum_password_length = 8
else:
    c.JupyterHub.authenticator_class = conf["authenticator"]  # e.g. an oauthenticator class (docs/classroom.md)
c.Authenticator.allowed_users = set(conf["learners"])
c.Authenticator.admin_users = set(conf.get("admins", []))
# the instructor (an admin without a server of their own) lands on the admin page; learners in their JupyterLab
c.JupyterHub.default_url = lambda handler: "/hub/admin" if getattr(handler.current_user, "admin", False) else ""

# --- each learner's server: its own Unix account, credentials, limits -------------------------
c.JupyterHub.spawner_class = "workshop.classroom.spawner.ClassroomSpawner"
c.ClassroomSpawner.course_repo = conf["repo"]
c.Spawner.cmd = [conf["python"], "-m", "jupyterhub.singleuser"]
c.Spawner.notebook_dir = "~/course"
c.Spawner.default_url = "/lab"
c.Spawner.mem_limit = conf["mem_limit"]
c.ClassroomSpawner.nproc_limit = conf.get("nproc_limit", 512)
c.Spawner.cpu_limit = conf["cpu_limit"]  # informative only with this spawner (docs/classroom.md)
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# --- services: the instructor's CLI (an API token) and the idle culler ------------------------
c.JupyterHub.services = [
    {"name": "workshop-classroom", "api_token": secret("api_token")},
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={conf['idle_timeout']}",
            "--cull-every=60",
        ],
    },
]
# the size watch (workshop/classroom/watch.py): freezes a learner whose PostgreSQL database passes its limit
c.JupyterHub.services.append(
    {
        "name": "size-watch",
        "command": [sys.executable, "-m", "workshop.classroom.watch", "--every=60"],
        "environment": {
            "WORKSHOP_CLASSROOM_DIR": str(state),
            "PYTHONPATH": conf["repo"],
            **{k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "WORKSHOP_ENV_FILE")},
        },
    }
)
# the instructor's live progress page, admins only (workshop/classroom/progress_service.py)
from workshop.classroom.progress_service import hub_service  # noqa: E402
from workshop.process import free_port  # noqa: E402

c.JupyterHub.services.append(hub_service(state, conf.get("progress_port") or free_port()))
c.JupyterHub.load_roles = [
    {
        "name": "workshop-classroom",
        "services": ["workshop-classroom"],
        "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users", "tokens"],
    },
    {
        "name": "idle-culler",
        "services": ["idle-culler"],
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    },
]
