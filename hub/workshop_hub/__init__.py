"""The workshop hub: JupyterHub with one GPU-backed container per attendee.

- `settings`: every HUB_* environment variable, checked once at start-up.
- `gpus`: the GPU pool (parsing, `nvidia-smi -L`, allocation), pure Python.
- `spawner`: DockerSpawner that takes a device from the pool for each attendee (one host).
- `slots`: the (node, device) slots of a Docker Swarm, pure Python.
- `swarm`: SwarmSpawner that places each attendee's service on a node's device (several hosts).
- `auth`: the shared-password login with a roster and clear error messages.
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
