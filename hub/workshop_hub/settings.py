"""Every HUB_* environment variable the hub reads, declared once: name, type, default, check.

`load()` returns the settings or raises `ConfigError` with a message that names the
variable to set; startup.load_settings turns that into a one-line exit, so a missing or
weak secret stops the hub before anyone can log in. hub/.env.example documents each
variable (a test keeps the two in step).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .gpus import parse_pool

ENV_PREFIX = "HUB_"
USER_PASSWORD_MIN = 8  # attendees type it from a slide; JupyterHub's own minimum
ADMIN_PASSWORD_MIN = 32  # the admin can stop anyone's server: JupyterHub's minimum
# Values that are in the docs or that people type when asked for "a password".
WEAK = {"password", "changeme", "change-me", "workshop", "jupyter", "jupyterhub", "12345678", "trainer"}
EXAMPLE_MARKER = "CHANGE-ME"

# What an attendee may call themselves: letters (unicode too), digits, '.', '-', '_';
# no spaces or path characters, at most 32 characters, starting with a letter or digit.
USERNAME_RE = re.compile(r"^[^\W_][\w.-]{0,31}$")
USERNAME_RULE = "letters, digits, '.', '-' and '_' only, no spaces, at most 32 characters (e.g. jane-doe)"
SIZE_RE = r"^\d+(\.\d+)?[kKmMgG]?$"

# A comma- or space-separated list in one variable (not JSON, as pydantic-settings would expect).
Words = Annotated[list[str], NoDecode]


class ConfigError(Exception):
    pass


def _words(raw: str) -> list[str]:
    return [word.strip() for word in re.split(r"[,\s]+", raw or "") if word.strip()]


def _usernames(variable: str, names: list[str]) -> list[str]:
    bad = [n for n in names if not USERNAME_RE.match(n)]
    if bad:
        raise ValueError(f"{variable}: {', '.join(map(repr, bad))} not allowed as a username ({USERNAME_RULE})")
    return names


def _check_secret(variable: str, value: str, minimum: int) -> None:
    if not value:
        raise ValueError(f"{variable} is not set: set it (at least {minimum} characters) in hub/.env; see hub/.env.example")
    if len(value) < minimum:
        raise ValueError(f"{variable} is too short ({len(value)} characters): use at least {minimum}")
    if value.lower() in WEAK or EXAMPLE_MARKER.lower() in value.lower() or len(set(value)) < 4:
        raise ValueError(f"{variable} is a well-known or placeholder value: choose a new one")


class Settings(BaseSettings):
    """The hub's settings; each field is the variable HUB_<FIELD> (hub/.env.example says why)."""

    # HUB_X= (empty) means the default, as a blank line in hub/.env would suggest.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True,
                                      str_strip_whitespace=True)

    # --- login
    authenticator: Literal["shared", "native"] = "shared"
    user_password: str = ""
    admin_password: str = ""
    admin_users: Words = ["instructor"]
    roster: Words = []
    # --- where it listens
    publish_ip: str = "127.0.0.1"
    ssl_cert: str = ""
    ssl_key: str = ""
    connect_host: str = ""
    # --- one host, or a Docker Swarm of GPU hosts
    mode: Literal["single", "swarm"] = "single"
    work_nfs_server: str = ""
    work_nfs_export: str = ""
    work_nfs_mount: str = ""
    # --- the attendees' containers
    image: str = "trainer-workshop:gpu"
    gpus: Words = []
    users_per_gpu: int = Field(1, ge=1)
    cpu_limit: float = Field(4.0, gt=0)
    mem_limit: str = Field("16G", pattern=SIZE_RE)
    shm_size: str = Field("2G", pattern=SIZE_RE)
    singleuser_env: Annotated[dict[str, str], NoDecode] = {}
    # --- capacity and timeouts
    concurrent_spawn_limit: int = Field(20, ge=0)
    start_timeout: int = Field(600, ge=30)
    http_timeout: int = Field(300, ge=30)
    cull_timeout: int = Field(7200, ge=0)
    cull_every: int = Field(300, ge=10)
    # --- plumbing
    network: str = "trainer-workshop-hub"
    name: str = "trainer-workshop"
    data_dir: str = "/srv/jupyterhub"

    @property
    def work_nfs(self) -> str:
        """SERVER:EXPORT, or "" when work stays on the nodes."""
        return f"{self.work_nfs_server}:{self.work_nfs_export}" if self.work_nfs_server else ""

    @property
    def https(self) -> bool:
        return bool(self.ssl_cert)

    @field_validator("authenticator", "mode", mode="before")
    @classmethod
    def _lower(cls, value: str) -> str:
        return str(value).strip().lower()

    @field_validator("work_nfs_server")
    @classmethod
    def _nfs_server(cls, value: str) -> str:
        if value and not re.match(r"^[\w.:-]+$", value):
            raise ValueError(f"HUB_WORK_NFS_SERVER={value!r} is not a host name or IP address")
        return value

    @field_validator("work_nfs_export")
    @classmethod
    def _nfs_export(cls, value: str) -> str:
        if value and not re.match(r"^/\S*$", value):
            raise ValueError(f"HUB_WORK_NFS_EXPORT={value!r} is not an absolute path (e.g. /srv/workshop-work)")
        return value.rstrip("/")

    @field_validator("admin_users", mode="before")
    @classmethod
    def _admins(cls, value) -> list[str]:
        names = [n.lower() for n in (_words(value) if isinstance(value, str) else value)]
        if not names:
            raise ValueError("HUB_ADMIN_USERS is empty: name at least one instructor account")
        return _usernames("HUB_ADMIN_USERS", names)

    @field_validator("roster", mode="before")
    @classmethod
    def _roster(cls, value) -> list[str]:
        if isinstance(value, str) and value.strip().startswith("@"):  # @/path/to/file: one name a line
            path = Path(value.strip()[1:])
            if not path.is_file():
                raise ValueError(f"HUB_ROSTER names the file {path}, which does not exist in the hub container")
            value = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
        names = [n.lower() for n in (_words(value) if isinstance(value, str) else value)]
        return _usernames("HUB_ROSTER", names)

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, value) -> list[str]:
        return parse_pool(value if isinstance(value, str) else ",".join(value))

    @field_validator("singleuser_env", mode="before")
    @classmethod
    def _singleuser_env(cls, value) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        pairs = {}
        for pair in _words(value):
            key, sep, item = pair.partition("=")
            if not sep or not re.match(r"^[A-Z_][A-Z0-9_]*$", key):
                raise ValueError(f"HUB_SINGLEUSER_ENV: {pair!r} is not NAME=value")
            pairs[key] = item
        return pairs

    @field_validator("publish_ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"HUB_PUBLISH_IP={value!r} is not an IP address") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.authenticator == "shared":
            _check_secret("HUB_USER_PASSWORD", self.user_password, USER_PASSWORD_MIN)
            _check_secret("HUB_ADMIN_PASSWORD", self.admin_password, ADMIN_PASSWORD_MIN)
            if self.user_password == self.admin_password:
                raise ValueError("HUB_ADMIN_PASSWORD must differ from HUB_USER_PASSWORD")
        if self.mode == "swarm" and self.gpus:
            raise ValueError("HUB_GPUS is for HUB_MODE=single: in swarm mode each node's devices come from its "
                             "trainer-workshop.gpus label (provisioning writes it); leave HUB_GPUS empty")
        if bool(self.work_nfs_server) != bool(self.work_nfs_export):
            raise ValueError("set both HUB_WORK_NFS_SERVER and HUB_WORK_NFS_EXPORT (work on NFS), or neither")
        if self.work_nfs_server and self.mode != "swarm":
            raise ValueError("HUB_WORK_NFS_SERVER is for HUB_MODE=swarm (one host keeps work on its own volumes)")
        if self.work_nfs_server and not (self.work_nfs_mount and Path(self.work_nfs_mount).is_dir()):
            raise ValueError("HUB_WORK_NFS_SERVER: the hub needs the export mounted (HUB_WORK_NFS_MOUNT) to make each "
                             "attendee's folder; add hub/compose.nfs.yaml to COMPOSE_FILE")
        if bool(self.ssl_cert) != bool(self.ssl_key):
            raise ValueError("set both HUB_SSL_CERT and HUB_SSL_KEY (paths inside the hub container), or neither")
        for variable, path in (("HUB_SSL_CERT", self.ssl_cert), ("HUB_SSL_KEY", self.ssl_key)):
            if path and not Path(path).is_file():
                raise ValueError(f"{variable}={path} does not exist in the hub container (mount it read-only)")
        if not self.https and not ipaddress.ip_address(self.publish_ip).is_loopback:
            raise ValueError(
                f"HUB_PUBLISH_IP={self.publish_ip} publishes the hub beyond this machine: set HUB_SSL_CERT and "
                "HUB_SSL_KEY for HTTPS (plain HTTP is only allowed on 127.0.0.1)"
            )
        return self


def variables() -> list[str]:
    """The environment variables the hub reads, in declaration order."""
    return [ENV_PREFIX + name.upper() for name in Settings.model_fields]


def _message(error: dict) -> str:
    """One line naming the variable: our own checks already do; pydantic's get the name prefixed."""
    text = error["msg"].removeprefix("Value error, ")
    if not error["loc"] or text.startswith(ENV_PREFIX) or f" {ENV_PREFIX}" in text:
        return text
    variable = ENV_PREFIX + str(error["loc"][0]).upper()
    shown = "" if "password" in variable.lower() else f"={error.get('input')!r}"
    return f"{variable}{shown}: {text}"


def load() -> Settings:
    """The settings from this process's environment, or ConfigError naming what to fix."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError("; ".join(_message(e) for e in error.errors())) from None
