"""Workshop login: JupyterHub's shared-password authenticator, with clear answers.

JupyterHub answers every refusal with "Invalid username or password". At 9:00
with 40 people typing, that is not enough, so this says *which* rule failed
where that leaks nothing: the username rule (checked before the password), and
"not on the roster" (only after the right workshop password was given).
"""

from __future__ import annotations

import unicodedata

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from tornado import web

from .settings import USERNAME_RE, USERNAME_RULE


class WorkshopAuthenticator(SharedPasswordAuthenticator):
    def _refuse(self, message: str):
        # An HTTPError raised during login is shown on the login form itself.
        raise web.HTTPError(403, message)

    def normalize_username(self, username):
        # "zoë" typed on two keyboards can arrive as two different byte strings.
        return super().normalize_username(unicodedata.normalize("NFC", username))

    async def authenticate(self, handler, data):
        username = self.normalize_username(data.get("username", "").strip())
        if not USERNAME_RE.match(username):
            self._refuse(f"That username can't be used: {USERNAME_RULE}.")
        return await super().authenticate(handler, {**data, "username": username})

    def check_allowed(self, username, authentication=None):
        if self.allow_all or username in self.allowed_users or username in self.admin_users:
            return True
        self._refuse(
            f"'{username}' is not on this workshop's roster: use the name your instructor gave you, "
            "or ask them to add you."
        )
