"""Who may log in to the class's hub: accounts the instructor issues, never claimed by a learner.

NativeAuthenticator keeps the passwords (bcrypt, in the hub's database) and gives
the learners their change-password page and the instructor the pages to reset a
learner's password or block a login (``/hub/authorize``). What the classroom
changes, and why:

- **No sign-up.** With sign-up on, NativeAuthenticator pre-authorises every name
  of the class list: the first person to sign up as ``carol`` — alice, say — chose
  carol's password. Here every account is created from the roster with the
  random first password ``workshop classroom up`` issued (``hub-passwords.txt``,
  0600, for the instructor to hand out); ``/hub/signup`` does not exist.
- **JupyterHub's own login page.** NativeAuthenticator 1.3.0's login handler
  times itself with ``self.statsd``, which JupyterHub 6 no longer has: every
  login answered 500. JupyterHub's login page calls the same
  :meth:`authenticate`, so it is used instead.
- **Failed logins slow down**: after 5 wrong passwords for a name, 60 s pause.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import bcrypt
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import (
    AuthorizationAreaHandler,
    ChangePasswordAdminHandler,
    ChangePasswordHandler,
    ToggleAuthorizationHandler,
)
from nativeauthenticator.orm import UserInfo
from traitlets import Bool, Integer

INSTRUCTOR_FILE = "instructor.json"  # {"name": ..., "password": ...}: the instructor's hub account


def first_password(state: Path, name: str) -> str | None:
    """The password the instructor issued to ``name`` (a learner, or the instructor), if any."""
    from workshop.classroom.learners import NAME_RE, Roster

    instructor = state / INSTRUCTOR_FILE
    if instructor.is_file():
        account = json.loads(instructor.read_text())
        if account["name"] == name:
            return account["password"]
    if not NAME_RE.match(name):
        return None
    learner = Roster(state).get(name)
    return learner.hub if learner else None


class ClassroomAuthenticator(NativeAuthenticator):
    """NativeAuthenticator with the accounts issued by the instructor and no sign-up."""

    enable_signup = Bool(False, config=True, help="always off in a classroom: accounts come from the roster")
    allowed_failed_logins = Integer(5, config=True, help="wrong passwords before a pause")
    seconds_before_next_try = Integer(60, config=True, help="the pause, in seconds")

    def get_user(self, username: str) -> UserInfo | None:
        """The account, created on first use from the password the instructor issued."""
        name = self.normalize_username(username)
        info = UserInfo.find(self.db, name)
        if info is None:
            password = first_password(Path(os.environ["WORKSHOP_CLASSROOM_DIR"]), name)
            if password is None:
                return None
            info = UserInfo(
                username=name, password=bcrypt.hashpw(password.encode(), bcrypt.gensalt()), is_authorized=True
            )
            self.db.add(info)
            self.db.commit()
        return info

    def create_user(self, username, password, **kwargs):
        return None  # sign-up is off: no account is ever created from a form

    def get_handlers(self, app):
        return [
            (r"/authorize", AuthorizationAreaHandler),
            (r"/authorize/([^/]*)", ToggleAuthorizationHandler),
            (r"/change-password", ChangePasswordHandler),
            (r"/change-password/([^/]+)", ChangePasswordAdminHandler),
        ]
