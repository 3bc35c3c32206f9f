"""The workshop hub: JupyterHub with one GPU-backed container per attendee.

- `settings`: every HUB_* environment variable, checked once at start-up.
- `gpus`: the GPU pool's device IDs (HUB_GPUS, `nvidia-smi -L`), pure Python.
- `slots`: the (node, device) slots, what holds them, and the one placement rule for both
  modes (a single host is a one-node pool), pure Python.
- `placement`: what both spawners share: settings, the lock, reservations, the refusal.
- `spawner`: DockerSpawner that takes a device from the pool for each attendee (one host).
- `swarm`: SwarmSpawner that places each attendee's service on a node's device (several hosts).
- `servicedns`: whether a service's name has reached the hub's DNS (the swarm spawner waits for it).
- `auth`: the shared-password login with a roster and clear error messages.
- `startup`: what jupyterhub_config.py calls: refusals to start, services and roles, the banner.
- `roster`: the instructor/ops view (a hub service page and a command).
"""

# Docker labels on every attendee container; the GPU pool is derived from them,
# so the assignment survives a hub restart without any state of its own.
LABEL_HUB = "trainer-workshop.hub"
LABEL_USER = "trainer-workshop.user"
LABEL_GPU = "trainer-workshop.gpu"
LABEL_STARTED = "trainer-workshop.started"
# Swarm mode: the node (id) whose device the attendee's service holds.
LABEL_NODE = "trainer-workshop.node"
