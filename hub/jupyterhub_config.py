# JupyterHub config for the workshop hub. Everything variable comes from HUB_*
# environment variables (documented in hub/.env.example); every setting below
# says in one line why it is set.
import os
from pathlib import Path

from workshop_hub import settings, startup

c = get_config()  # noqa: F821

# Never start half-configured: a bad HUB_* variable, an unreachable engine or a missing image
# stops the hub here with one line naming the fix.
S = startup.load_settings()
startup.preflight(S)
data = Path(S.data_dir)

# --- hub state ----------------------------------------------------------------
# Database and cookie secret on the hub's volume, so a restart keeps logins and servers.
c.JupyterHub.db_url = f"sqlite:///{data / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
# A hub restart (upgrade, config change, crash) must not stop 40 attendees' servers.
c.JupyterHub.cleanup_servers = False

# --- network ------------------------------------------------------------------
# The proxy listens on all of the container's interfaces; compose publishes it on
# HUB_PUBLISH_IP only (loopback unless HTTPS is configured, enforced in settings).
c.JupyterHub.bind_url = f"{'https' if S.https else 'http'}://0.0.0.0:8000"
if S.https:
    # TLS terminates at the proxy with the certificate and key the operator mounts.
    c.JupyterHub.ssl_cert = S.ssl_cert
    c.JupyterHub.ssl_key = S.ssl_key
# The hub API listens on the container network so that student servers can reach it.
c.JupyterHub.hub_ip = "0.0.0.0"
# Student containers reach the hub by its name on the shared Docker network.
c.JupyterHub.hub_connect_ip = S.connect_host or os.uname().nodename
# The proxy (configurable-http-proxy, locked in hub/proxy) runs beside the hub; on a
# hub restart the hub starts it again and re-adds the routes of running servers.
c.ConfigurableHTTPProxy.command = ["/opt/proxy/node_modules/.bin/configurable-http-proxy"]

# --- login --------------------------------------------------------------------
if S.authenticator == "shared":
    # One workshop password on the slide; names are free unless a roster is given.
    c.JupyterHub.authenticator_class = "workshop_hub.auth.WorkshopAuthenticator"
    c.WorkshopAuthenticator.user_password = S.user_password
    # Instructors log in with their own, longer password and become hub admins.
    c.WorkshopAuthenticator.admin_password = S.admin_password
else:
    # NativeAuthenticator: attendees sign up with their own password and an
    # instructor approves them at /hub/authorize; for multi-day courses.
    import nativeauthenticator

    c.JupyterHub.authenticator_class = "native"
    c.JupyterHub.template_paths = [os.path.join(os.path.dirname(nativeauthenticator.__file__), "templates")]
    # Sign-ups wait for an instructor's approval, so a leaked URL is not an open door.
    c.NativeAuthenticator.open_signup = False
    # Own passwords are long-lived here, so ask for a reasonable length.
    c.NativeAuthenticator.minimum_password_length = 10
# Instructors: admin in the hub (admin panel, roster page, stop anyone's server).
c.Authenticator.admin_users = set(S.admin_users)
if S.roster:
    # Only the names on the roster (plus the instructors) may log in.
    c.Authenticator.allowed_users = set(S.roster)
else:
    # No roster: anyone with the workshop password picks a name.
    c.Authenticator.allow_all = True
# Names become container and volume names: keep them to letters, digits, . - _ (checked
# with a clear message in WorkshopAuthenticator; this is the backstop for the API).
c.Authenticator.username_pattern = settings.USERNAME_RE.pattern
# Attendees land in JupyterLab on their labs folder (the image copies the labs into work/labs).
c.Spawner.default_url = "/lab/tree/labs"

# --- the student containers ---------------------------------------------------
# One host: a container per attendee with a device request. Swarm: a service per attendee,
# pinned to a node and holding one of its devices (workshop_hub/swarm.py). Settings on
# DockerSpawner and SlotPlacement apply to both; those on one class are that mode's own.
c.JupyterHub.spawner_class = (
    "workshop_hub.spawner.WorkshopSpawner" if S.mode == "single" else "workshop_hub.swarm.WorkshopSwarmSpawner"
)
# The pinned workshop image, and no other (no image picker in the spawn form).
c.DockerSpawner.image = S.image
c.DockerSpawner.allowed_images = [S.image]
# The image is built or loaded before the workshop; pulling inside a spawn would
# blow the start timeout for 40 people at once. (Swarm: the nodes have it; the hub's
# engine, which is not where attendees run, is not asked.)
c.DockerSpawner.pull_policy = "never" if S.mode == "single" else "skip"
# The image's entrypoint mode that runs jupyterhub-singleuser (after its start-up checks).
c.DockerSpawner.cmd = ["singleuser"]
# One named network shared with the hub, so servers are reached by internal IP.
c.DockerSpawner.network_name = S.network
c.DockerSpawner.use_internal_ip = True
# Predictable names: trainer-workshop-<user>; the per-attendee work volume likewise.
c.DockerSpawner.prefix = S.name
c.DockerSpawner.name_template = "{prefix}-{username}"
# Work lives on a named volume per attendee at the folder the image already has
# (owned by jovyan), so it survives server stop/start, culling and image updates.
# (Swarm: the same volume, on the node that ran the server.)
c.DockerSpawner.volumes = {f"{S.name}-work-{{username}}": "/home/jovyan/work"}
# Swarm: that volume as a folder of an NFS export instead, so any node can run the server.
c.WorkshopSwarmSpawner.work_nfs = S.work_nfs
# Swarm: where the hub has the export mounted, to make each attendee's folder before the mount.
c.WorkshopSwarmSpawner.work_nfs_mount = S.work_nfs_mount
# Containers are removed when a server stops: each start gets a fresh device
# request, and a stopped container cannot hold on to a GPU.
c.DockerSpawner.remove = True
# CPU and memory caps so one runaway training run cannot starve the others (in swarm
# mode they become the service's resource limits).
c.DockerSpawner.cpu_limit = S.cpu_limit
c.DockerSpawner.mem_limit = S.mem_limit
c.DockerSpawner.extra_host_config = {
    # PyTorch DataLoader workers share tensors through /dev/shm; Docker's 64 MB kills them.
    # (Swarm services take no host config: their /dev/shm is a tmpfs mount of this size.)
    "shm_size": S.shm_size,
    # Never privileged, no new privileges via setuid: students get a plain user container.
    "privileged": False,
    "security_opt": ["no-new-privileges"],
    # Remove synchronously in stop(), not in the background, so a restart never races it.
    "auto_remove": False,
    # A fork bomb in one notebook must not take the host down.
    "pids_limit": 4096,
}
# Swarm: the hub reaches each attendee's single task directly by its DNS name (dnsrr), not
# through a virtual IP, which needs the IPVS kernel module on every node and buys nothing here.
c.WorkshopSwarmSpawner.extra_endpoint_spec = {"mode": "dnsrr"}
# Settings for the labs inside every container (e.g. WORKSHOP_LAB_SIZE=workshop).
c.DockerSpawner.environment = dict(S.singleuser_env)
# One host: its GPU pool (swarm: each node's trainer-workshop.gpus label instead).
c.WorkshopSpawner.gpu_pool = S.gpus
# Both modes: how many attendees share one device (1 = exclusive).
c.SlotPlacement.users_per_gpu = S.users_per_gpu
# Both modes: the hub label on every attendee's container or service (several hubs, one engine).
c.SlotPlacement.hub_name = S.name
# A cold start of a CUDA image on a busy host can take minutes: don't give up early.
c.DockerSpawner.start_timeout = S.start_timeout
c.DockerSpawner.http_timeout = S.http_timeout
# Spawns beyond this many in flight get "try again in a minute" instead of
# overloading the hub and the engine at 9:00.
c.JupyterHub.concurrent_spawn_limit = S.concurrent_spawn_limit
# Answer the spawn request after a few seconds and show progress, rather than hold it.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 5}

# --- services: the roster page and the idle culler, each with a role of its own ----
c.JupyterHub.services, c.JupyterHub.load_roles = startup.services_and_roles(S)

startup.announce(S)
