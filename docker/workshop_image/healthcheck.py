"""HEALTHCHECK: the Jupyter server answers on its API (a smoke run counts as healthy)."""

import os
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

try:
    mode = Path("/tmp/.workshop-mode").read_text().strip()
except OSError:
    mode = "lab"
if mode == "smoke":
    sys.exit(0)
service_url = os.environ.get("JUPYTERHUB_SERVICE_URL")
if service_url:  # under JupyterHub: its port and the user's prefix
    parsed = urlparse(service_url)
    url = f"http://127.0.0.1:{parsed.port or 8888}{os.environ.get('JUPYTERHUB_SERVICE_PREFIX', '/')}api"
else:
    url = f"http://127.0.0.1:{os.environ.get('JUPYTER_PORT', '8888')}/api"
try:
    with urllib.request.urlopen(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as error:
    print(f"{url}: {error}")
    sys.exit(1)
