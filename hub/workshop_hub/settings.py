"""Every HUB_* environment variable the hub reads, checked once at start-up.

`load()` returns the settings or raises `ConfigError` with a message that names
the variable to set; jupyterhub_config.py turns that into a one-line exit, so a
missing or weak secret stops the hub before anyone can log in.
hub/.env.example documents each variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .gpus import parse_pool

USER_PASSWORD_MIN = 8  # attendees type it from a slide; JupyterHub's own minimum
ADMIN_PASSWORD_MIN = 32  # the admin can stop anyone's server: JupyterHub's minimum
# Values that are in the docs or that people type when asked for "a password".
WEAK = {"password", "changeme", "change-me", "workshop", "jupyter", "jupyterhub", "12345678", "trainer"}
EXAMPLE_MARKER = "CHANGE-ME"

# What an attendee may call themselves: letters (unicode too), digits, '.', '-', '_';
# no spaces or path characters, at most 32 characters, starting with a letter or digit.
USERNAME_RE = re.compile(r"^[^\W_][\w.-]{0,31}$")
USERNAME_RULE = "letters, digits, '.', '-' and '_' only, no spaces, at most 32 characters (e.g. jane-doe)"


class ConfigError(Exception):
    pass


@dataclass
class Settings:
    user_password: str
    admin_password: str
    admin_users: list[str]
    roster: list[str]
    authenticator: str
    image: str
    network: str
    gpus: list[str]
    users_per_gpu: int
    mem_limit: str
    cpu_limit: float
    shm_size: str
    cull_timeout: int
    cull_every: int
    concurrent_spawn_limit: int
    start_timeout: int
    http_timeout: int
    ssl_cert: str
    ssl_key: str
    publish_ip: str
    connect_host: str
    data_dir: str
    name: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def cpu_only(self) -> bool:
        return not self.gpus

    @property
    def https(self) -> bool:
        return bool(self.ssl_cert)


def _int(env, name, default, minimum=0):
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def _names(raw: str) -> list[str]:
    return [n.strip().lower() for n in re.split(r"[,\s]+", raw) if n.strip()]


def _roster(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("@"):  # @/path/to/file: one name a line
        path = Path(raw[1:])
        if not path.is_file():
            raise ConfigError(f"HUB_ROSTER names the file {path}, which does not exist in the hub container")
        raw = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    names = _names(raw)
    bad = [n for n in names if not USERNAME_RE.match(n)]
    if bad:
        raise ConfigError(f"HUB_ROSTER: {', '.join(map(repr, bad))} not allowed as a username ({USERNAME_RULE})")
    return names


def _check_secret(name: str, value: str, minimum: int) -> None:
    if not value:
        raise ConfigError(f"{name} is not set: set it (at least {minimum} characters) in hub/.env; see hub/.env.example")
    if len(value) < minimum:
        raise ConfigError(f"{name} is too short ({len(value)} characters): use at least {minimum}")
    if value.lower() in WEAK or EXAMPLE_MARKER.lower() in value.lower() or len(set(value)) < 4:
        raise ConfigError(f"{name} is a well-known or placeholder value: choose a new one")


def load(env: os._Environ | dict | None = None) -> Settings:
    env = os.environ if env is None else env
    get = lambda name, default="": (env.get(name) or default).strip()  # noqa: E731

    authenticator = get("HUB_AUTHENTICATOR", "shared").lower()
    if authenticator not in {"shared", "native"}:
        raise ConfigError(f"HUB_AUTHENTICATOR={authenticator!r}: use 'shared' (one workshop password) or 'native'")
    user_password = env.get("HUB_USER_PASSWORD", "")
    admin_password = env.get("HUB_ADMIN_PASSWORD", "")
    if authenticator == "shared":
        _check_secret("HUB_USER_PASSWORD", user_password, USER_PASSWORD_MIN)
        _check_secret("HUB_ADMIN_PASSWORD", admin_password, ADMIN_PASSWORD_MIN)
        if user_password == admin_password:
            raise ConfigError("HUB_ADMIN_PASSWORD must differ from HUB_USER_PASSWORD")

    admin_users = _names(get("HUB_ADMIN_USERS", "instructor"))
    if not admin_users:
        raise ConfigError("HUB_ADMIN_USERS is empty: name at least one instructor account")
    bad = [n for n in admin_users if not USERNAME_RE.match(n)]
    if bad:
        raise ConfigError(f"HUB_ADMIN_USERS: {', '.join(map(repr, bad))} not allowed as a username ({USERNAME_RULE})")

    try:
        gpus = parse_pool(get("HUB_GPUS", "none"))
    except ValueError as e:
        raise ConfigError(str(e)) from None

    cpu_limit_raw = get("HUB_CPU_LIMIT", "4")
    try:
        cpu_limit = float(cpu_limit_raw)
    except ValueError:
        raise ConfigError(f"HUB_CPU_LIMIT={cpu_limit_raw!r} is not a number of CPUs") from None
    for name, default in (("HUB_MEM_LIMIT", "16G"), ("HUB_SHM_SIZE", "2G")):
        if not re.match(r"^\d+(\.\d+)?[kKmMgG]?$", get(name, default)):
            raise ConfigError(f"{name}={get(name, default)!r}: use a size like 16G or 512M")

    ssl_cert, ssl_key = get("HUB_SSL_CERT"), get("HUB_SSL_KEY")
    if bool(ssl_cert) != bool(ssl_key):
        raise ConfigError("set both HUB_SSL_CERT and HUB_SSL_KEY (paths inside the hub container), or neither")
    for name, path in (("HUB_SSL_CERT", ssl_cert), ("HUB_SSL_KEY", ssl_key)):
        if path and not Path(path).is_file():
            raise ConfigError(f"{name}={path} does not exist in the hub container (mount it read-only)")
    publish_ip = get("HUB_PUBLISH_IP", "127.0.0.1")
    try:
        loopback = ipaddress.ip_address(publish_ip).is_loopback
    except ValueError:
        raise ConfigError(f"HUB_PUBLISH_IP={publish_ip!r} is not an IP address") from None
    if not ssl_cert and not loopback:
        raise ConfigError(
            f"HUB_PUBLISH_IP={publish_ip} publishes the hub beyond this machine: set HUB_SSL_CERT and "
            "HUB_SSL_KEY for HTTPS (plain HTTP is only allowed on 127.0.0.1)"
        )

    extra_env = {}
    for pair in _names_keep_case(get("HUB_SINGLEUSER_ENV")):
        key, sep, value = pair.partition("=")
        if not sep or not re.match(r"^[A-Z_][A-Z0-9_]*$", key):
            raise ConfigError(f"HUB_SINGLEUSER_ENV: {pair!r} is not NAME=value")
        extra_env[key] = value

    return Settings(
        user_password=user_password,
        admin_password=admin_password,
        admin_users=admin_users,
        roster=_roster(get("HUB_ROSTER")),
        authenticator=authenticator,
        image=get("HUB_IMAGE", "trainer-workshop:gpu"),
        network=get("HUB_NETWORK", "trainer-workshop-hub"),
        gpus=gpus,
        users_per_gpu=_int(env, "HUB_USERS_PER_GPU", 1, minimum=1),
        mem_limit=get("HUB_MEM_LIMIT", "16G"),
        cpu_limit=cpu_limit,
        shm_size=get("HUB_SHM_SIZE", "2G"),
        cull_timeout=_int(env, "HUB_CULL_TIMEOUT", 7200, minimum=0),
        cull_every=_int(env, "HUB_CULL_EVERY", 300, minimum=10),
        concurrent_spawn_limit=_int(env, "HUB_CONCURRENT_SPAWN_LIMIT", 20, minimum=0),
        start_timeout=_int(env, "HUB_START_TIMEOUT", 600, minimum=30),
        http_timeout=_int(env, "HUB_HTTP_TIMEOUT", 300, minimum=30),
        ssl_cert=ssl_cert,
        ssl_key=ssl_key,
        publish_ip=publish_ip,
        connect_host=get("HUB_CONNECT_HOST"),
        data_dir=get("HUB_DATA_DIR", "/srv/jupyterhub"),
        name=get("HUB_NAME", "trainer-workshop"),
        extra_env=extra_env,
    )


def _names_keep_case(raw: str) -> list[str]:
    return [n.strip() for n in re.split(r"[,\s]+", raw) if n.strip()]
