"""What jupyterhub_config.py calls around its settings: the checks that refuse to start (one
line naming the fix, exit status 2: never start half-configured), the hub's services with
their roles, and the start-up banner."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import NoReturn

from . import settings
from .roster import TOKEN_FILE

PREFIX = "trainer-workshop hub:"


def refuse(reason: str) -> NoReturn:
    print(f"{PREFIX} refusing to start: {reason}", file=sys.stderr, flush=True)
    sys.exit(2)


def load_settings() -> settings.Settings:
    """The HUB_* settings, or a refusal naming the variable to set."""
    try:
        return settings.load()
    except settings.ConfigError as error:
        refuse(str(error))


def preflight(s: settings.Settings) -> None:
    """The Docker engine answers, and the student image is on it (a spawn never pulls); in swarm
    mode it is the swarm's manager instead. (The attendees then run on the worker nodes, whose
    images this hub cannot see: provisioning loads the image on every node and `make readiness`
    proves it there.) Then the hub's state folder exists."""
    import docker

    try:
        engine = docker.from_env()
        if s.mode == "single":
            engine.images.get(s.image)
        elif engine.info().get("Swarm", {}).get("ControlAvailable") is not True:
            refuse("HUB_MODE=swarm, but this Docker engine is not a swarm manager; run the hub on the manager "
                   "(docker swarm init there; make provision does)")
    except docker.errors.ImageNotFound:
        refuse(f"HUB_IMAGE={s.image} is not on this Docker engine; build it first (make image FLAVOR=cpu|gpu) "
               "so no attendee's spawn waits on a pull")
    except docker.errors.DockerException as error:
        refuse(f"cannot reach the Docker engine ({error}); mount /var/run/docker.sock into the hub container")
    Path(s.data_dir).mkdir(parents=True, exist_ok=True)


def services_and_roles(s: settings.Settings) -> tuple[list[dict], list[dict]]:
    """The roster page and, unless HUB_CULL_TIMEOUT=0, the idle culler, each with a role that
    grants only what it needs (c.JupyterHub.services and c.JupyterHub.load_roles)."""
    token_file = Path(s.data_dir) / TOKEN_FILE
    if not token_file.exists():
        # A stable token for the roster service, so `workshop-roster` in the container can use it.
        token_file.write_text(secrets.token_hex(32))
        token_file.chmod(0o600)
    services = [{
        # Instructor/ops view: user, GPU, since when, idle for (admins only).
        "name": "roster",
        "command": [str(Path(sys.executable).with_name("workshop-roster")), "--serve"],
        "url": "http://127.0.0.1:10102",
        "api_token": token_file.read_text().strip(),
        "environment": {"HUB_NAME": s.name, "HUB_GPUS": ",".join(s.gpus) or "none", "HUB_MODE": s.mode,
                        "HUB_USERS_PER_GPU": str(s.users_per_gpu)},
        "oauth_no_confirm": True,
    }]
    # Read-only: who has a server, since when, last activity.
    roles = [{"name": "roster", "services": ["roster"],
              "scopes": ["list:users", "read:users:activity", "read:servers"]}]
    if s.cull_timeout:
        services.append({
            # Stops servers idle for HUB_CULL_TIMEOUT seconds, which frees their GPU. A training
            # run keeps its kernel busy, which counts as activity, so it is not culled mid-run.
            "name": "idle-culler",
            "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                        f"--timeout={s.cull_timeout}", f"--cull-every={s.cull_every}"],
        })
        # Only what culling servers needs: no user deletion, no admin.
        roles.append({"name": "idle-culler", "services": ["idle-culler"],
                      "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]})
    return services, roles


def announce(s: settings.Settings) -> None:
    """One line in the hub's log: the image, where attendees run, how it is reached, the roster."""
    if s.mode == "swarm":
        work = f"on NFS {s.work_nfs}" if s.work_nfs else "on each node"
        where = f"swarm: GPUs from the nodes' labels ({s.users_per_gpu} per GPU), work {work}"
    elif s.gpus:
        where = f"GPU pool {','.join(s.gpus)} ({s.users_per_gpu} per GPU)"
    else:
        where = "CPU-only mode: attendees get no GPU"
    print(f"{PREFIX} image {s.image}, {where}, {'HTTPS' if s.https else 'HTTP on loopback only'}, "
          f"roster: {len(s.roster) or 'none (anyone with the password)'}", file=sys.stderr, flush=True)
