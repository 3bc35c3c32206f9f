"""The instructor/ops view: who is running, on which GPU, since when, idle how long.

Two faces over one collector:
- a hub service page, admins only: https://HUB/services/roster/ (JSON: .../api)
- a command in the hub container:
      cd hub && docker compose exec hub workshop-roster [--json]

The GPU (and, in swarm mode, the node) comes from the containers' or services' labels,
the same source the spawner allocates from; start time and last activity come from the
hub's REST API. In swarm mode it also shows each node's capacity (used / total) and why a
node takes no attendees (down, drained, unlabelled).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import docker
import requests

from . import LABEL_GPU, LABEL_HUB, LABEL_NODE, LABEL_STARTED, LABEL_USER
from .slots import capacity, held_slots, nodes_from_swarm

TOKEN_FILE = "roster-token"


def _parse_time(value):
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _ago(when, now):
    if when is None:
        return ""
    seconds = int((now - when).total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _containers(client, hub_name: str) -> dict[str, dict]:
    """One host: user -> what their container holds."""
    placed = {}
    for c in client.containers.list(all=True, filters={"label": f"{LABEL_HUB}={hub_name}"}):
        placed[c.labels.get(LABEL_USER, "")] = {
            "labels": c.labels, "name": c.name, "state": c.status, "node": "",
        }
    return placed


def _services(client, hub_name: str, nodes) -> dict[str, dict]:
    """Swarm: user -> what their service holds, on which node, in which task state."""
    hosts = {node.id: node.host for node in nodes}
    placed = {}
    for service in client.api.services(filters={"label": f"{LABEL_HUB}={hub_name}"}):
        labels = service["Spec"].get("Labels") or {}
        tasks = client.api.tasks(filters={"service": service["ID"], "desired-state": "running"})
        placed[labels.get(LABEL_USER, "")] = {
            "labels": labels, "name": service["Spec"]["Name"],
            "state": tasks[0]["Status"]["State"] if tasks else "no task",
            "node": hosts.get(labels.get(LABEL_NODE, ""), labels.get(LABEL_NODE, "")[:12]),
        }
    return placed


def collect(hub_api: str, token: str, hub_name: str, pool: list[str], mode: str = "single",
            users_per_gpu: int = 1) -> dict:
    """One row per attendee with a server (running, pending, or a container/service left over);
    in swarm mode, one row per node too."""
    now = datetime.now(timezone.utc)
    r = requests.get(
        f"{hub_api}/users", params={"state": "active"}, timeout=10,
        headers={"Authorization": f"token {token}"},
    )
    r.raise_for_status()
    hub_users = {u["name"]: u for u in r.json()}

    client = docker.from_env()
    nodes = nodes_from_swarm(client.api.nodes()) if mode == "swarm" else []
    placed = _services(client, hub_name, nodes) if mode == "swarm" else _containers(client, hub_name)

    rows = []
    for name in sorted(set(hub_users) | set(placed)):
        server = (hub_users.get(name) or {}).get("servers", {}).get("", {})
        c = placed.get(name)
        started = _parse_time(server.get("started")) or _parse_time(c["labels"].get(LABEL_STARTED) if c else None)
        last = _parse_time(server.get("last_activity"))
        rows.append({
            "user": name,
            "node": c["node"] if c else "",
            "gpu": (c["labels"].get(LABEL_GPU) if c else None) or ("none" if c else ""),
            "state": ("ready" if server.get("ready") else server.get("pending") or "") or (c["state"] if c else ""),
            "container": c["name"] if c else "",
            "container_state": c["state"] if c else "",
            "started": started.isoformat(timespec="seconds") if started else "",
            "running_for": _ago(started, now),
            "last_activity": last.isoformat(timespec="seconds") if last else "",
            "idle_for": _ago(last, now),
        })
    report = {"hub": hub_name, "servers": rows, "now": now.isoformat(timespec="seconds")}
    if mode == "swarm":
        held = held_slots(client.api.services(filters={"label": f"{LABEL_HUB}={hub_name}"}), hub_name)
        report["nodes"] = capacity(nodes, held, users_per_gpu)
        report.update(mode="swarm", pool=[f"{n['host']}:{d}" for n in report["nodes"] for d in n["devices"]],
                      free=[f"{n['host']}:{d}" for n in report["nodes"] if not n["problem"] for d in n["devices"]
                            if held.get((n["node"], d), 0) < users_per_gpu])
    else:
        busy = {r["gpu"] for r in rows if r["container_state"] == "running" and r["gpu"] not in ("", "none")}
        report.update(mode="gpu" if pool else "cpu-only", pool=pool, free=[d for d in pool if d not in busy])
    return report


COLUMNS = ("user", "gpu", "state", "running_for", "idle_for", "started")


def columns(report: dict) -> tuple[str, ...]:
    return ("user", "node", *COLUMNS[1:]) if report["mode"] == "swarm" else COLUMNS


def node_lines(report: dict) -> list[str]:
    """Swarm: "host  used/total  devices  problem" per node."""
    return [
        f"{n['host']}: {n['used']}/{n['total']} used ({', '.join(n['devices']) or 'no GPUs'})"
        + (f", takes no attendees: {n['problem']}" if n["problem"] else "")
        for n in report.get("nodes", [])
    ]


def as_text(report: dict) -> str:
    lines = [
        f"hub {report['hub']} ({report['mode']}), {len(report['servers'])} servers, "
        f"free GPUs: {', '.join(report['free']) or ('none' if report['pool'] else 'n/a (CPU-only)')}"
    ]
    lines += ["  " + line for line in node_lines(report)]
    shown = columns(report)
    rows = [shown] + [tuple(str(r[c]) for c in shown) for r in report["servers"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(shown))]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def as_html(report: dict) -> str:
    shown = columns(report)
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in shown)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in shown) + "</tr>"
        for r in report["servers"]
    ) or f"<tr><td colspan={len(shown)}>no servers running</td></tr>"
    free = ", ".join(report["free"]) or ("none" if report["pool"] else "n/a: CPU-only hub")
    return f"""<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>Workshop roster</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .8em;text-align:left}}</style></head><body>
<h1>Workshop roster</h1><p>{html.escape(report['mode'])} hub, {len(report['servers'])} servers,
free GPUs: {html.escape(free)}. Refreshes every 30 s; <a href="api">JSON</a>.</p>
{"".join(f"<p>{html.escape(line)}</p>" for line in node_lines(report))}
<table><tr>{head}</tr>{body}</table></body></html>"""


def _settings_from_env():
    from .gpus import parse_pool

    return (os.environ.get("HUB_NAME", "trainer-workshop"), parse_pool(os.environ.get("HUB_GPUS", "none")),
            os.environ.get("HUB_MODE", "single"), int(os.environ.get("HUB_USERS_PER_GPU", "1")))


def serve():  # pragma: no cover - runs as a hub-managed service
    from urllib.parse import urlparse

    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from jupyterhub.utils import url_path_join
    from tornado import ioloop, web

    hub_name, pool, mode, users_per_gpu = _settings_from_env()
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    api = os.environ["JUPYTERHUB_API_URL"]
    token = os.environ["JUPYTERHUB_API_TOKEN"]

    class Page(HubOAuthenticated, web.RequestHandler):
        # hub_scopes defaults to access:services!service=roster, which only admins hold.
        @web.authenticated
        def get(self, fmt=""):
            report = collect(api, token, hub_name, pool, mode, users_per_gpu)
            if fmt == "api":
                self.set_header("Content-Type", "application/json")
                self.finish(json.dumps(report))
            else:
                self.finish(as_html(report))

    app = web.Application(
        [
            (prefix, Page),
            (url_path_join(prefix, "(api)"), Page),
            (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        ],
        cookie_secret=os.urandom(32),
    )
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    app.listen(url.port, url.hostname)
    ioloop.IOLoop.current().start()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="workshop-roster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--serve", action="store_true", help="run as the hub service (the hub starts it)")
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    hub_name, pool, mode, users_per_gpu = _settings_from_env()
    token_file = Path(os.environ.get("HUB_DATA_DIR", "/srv/jupyterhub")) / TOKEN_FILE
    report = collect("http://127.0.0.1:8081/hub/api", token_file.read_text().strip(), hub_name, pool, mode,
                     users_per_gpu)
    print(json.dumps(report, indent=1) if args.json else as_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
