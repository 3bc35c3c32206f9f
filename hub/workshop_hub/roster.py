"""The instructor/ops view: who is running, on which GPU, since when, idle how long.

Two faces over one collector:
- a hub service page, admins only: https://HUB/services/roster/ (JSON: .../api)
- a command in the hub container:
      cd hub && docker compose exec hub workshop-roster [--json]

The GPU comes from the containers' labels (the same source the spawner
allocates from); start time and last activity come from the hub's REST API.
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

from . import LABEL_GPU, LABEL_HUB, LABEL_STARTED, LABEL_USER

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


def collect(hub_api: str, token: str, hub_name: str, pool: list[str]) -> dict:
    """One row per attendee with a server (running, pending, or a container left over)."""
    now = datetime.now(timezone.utc)
    r = requests.get(
        f"{hub_api}/users", params={"state": "active"}, timeout=10,
        headers={"Authorization": f"token {token}"},
    )
    r.raise_for_status()
    hub_users = {u["name"]: u for u in r.json()}

    containers = {}
    for c in docker.from_env().containers.list(all=True, filters={"label": f"{LABEL_HUB}={hub_name}"}):
        containers[c.labels.get(LABEL_USER, "")] = c

    rows = []
    for name in sorted(set(hub_users) | set(containers)):
        server = (hub_users.get(name) or {}).get("servers", {}).get("", {})
        c = containers.get(name)
        started = _parse_time(server.get("started")) or _parse_time(c.labels.get(LABEL_STARTED) if c else None)
        last = _parse_time(server.get("last_activity"))
        rows.append({
            "user": name,
            "gpu": (c.labels.get(LABEL_GPU) if c else None) or ("none" if c else ""),
            "state": ("ready" if server.get("ready") else server.get("pending") or "") or (c.status if c else ""),
            "container": c.name if c else "",
            "container_state": c.status if c else "",
            "started": started.isoformat(timespec="seconds") if started else "",
            "running_for": _ago(started, now),
            "last_activity": last.isoformat(timespec="seconds") if last else "",
            "idle_for": _ago(last, now),
        })
    busy = {r["gpu"] for r in rows if r["container_state"] == "running" and r["gpu"] not in ("", "none")}
    return {
        "hub": hub_name,
        "mode": "gpu" if pool else "cpu-only",
        "pool": pool,
        "free": [d for d in pool if d not in busy],
        "servers": rows,
        "now": now.isoformat(timespec="seconds"),
    }


COLUMNS = ("user", "gpu", "state", "running_for", "idle_for", "started")


def as_text(report: dict) -> str:
    lines = [
        f"hub {report['hub']} ({report['mode']}), {len(report['servers'])} servers, "
        f"free GPUs: {', '.join(report['free']) or ('none' if report['pool'] else 'n/a (CPU-only)')}"
    ]
    rows = [COLUMNS] + [tuple(str(r[c]) for c in COLUMNS) for r in report["servers"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def as_html(report: dict) -> str:
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in COLUMNS) + "</tr>"
        for r in report["servers"]
    ) or f"<tr><td colspan={len(COLUMNS)}>no servers running</td></tr>"
    free = ", ".join(report["free"]) or ("none" if report["pool"] else "n/a: CPU-only hub")
    return f"""<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>Workshop roster</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .8em;text-align:left}}</style></head><body>
<h1>Workshop roster</h1><p>{html.escape(report['mode'])} hub, {len(report['servers'])} servers,
free GPUs: {html.escape(free)}. Refreshes every 30 s; <a href="api">JSON</a>.</p>
<table><tr>{head}</tr>{body}</table></body></html>"""


def _settings_from_env():
    from .gpus import parse_pool

    return os.environ.get("HUB_NAME", "trainer-workshop"), parse_pool(os.environ.get("HUB_GPUS", "none"))


def serve():  # pragma: no cover - runs as a hub-managed service
    from urllib.parse import urlparse

    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from jupyterhub.utils import url_path_join
    from tornado import ioloop, web

    hub_name, pool = _settings_from_env()
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    api = os.environ["JUPYTERHUB_API_URL"]
    token = os.environ["JUPYTERHUB_API_TOKEN"]

    class Page(HubOAuthenticated, web.RequestHandler):
        # hub_scopes defaults to access:services!service=roster, which only admins hold.
        @web.authenticated
        def get(self, fmt=""):
            report = collect(api, token, hub_name, pool)
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
    hub_name, pool = _settings_from_env()
    token_file = Path(os.environ.get("HUB_DATA_DIR", "/srv/jupyterhub")) / TOKEN_FILE
    report = collect("http://127.0.0.1:8081/hub/api", token_file.read_text().strip(), hub_name, pool)
    print(json.dumps(report, indent=1) if args.json else as_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
