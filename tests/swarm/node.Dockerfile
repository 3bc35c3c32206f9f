# A Docker Swarm node for the swarm tier: Debian 12 (the local debootstrap base: no registry
# pull) with trixie's Docker engine, as provisioning leaves a GPU host, except the GPU: the
# NVIDIA runtime is a stand-in that runs containers with runc, set as the default runtime
# the way provisioning sets it (nvidia_container_toolkit_default_runtime), so a service's
# NVIDIA_VISIBLE_DEVICES reaches its container and can be read back; nothing else about a
# GPU is simulated.
ARG BASE_IMAGE=trainer-workshop-base:bookworm
FROM ${BASE_IMAGE}
# trixie only for the engine (as .ci/run does on the CI host), from the archive the base uses.
RUN uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list) \
    && echo "deb ${uri} trixie main" > /etc/apt/sources.list.d/trixie.list \
    && printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/trixie \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io/trixie docker-cli/trixie docker-compose/trixie iptables ca-certificates procps iproute2 >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY --chmod=755 <<'SH' /usr/local/bin/nvidia-container-runtime
#!/bin/sh
# Stand-in for the NVIDIA container runtime on a node without GPUs: plain runc.
exec runc "$@"
SH
COPY <<'JSON' /etc/docker/daemon.json
{
  "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}},
  "default-runtime": "nvidia",
  "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"],
  "tls": false
}
JSON
VOLUME /var/lib/docker
# The test network is private to the test; the engine listens on it without TLS.
CMD ["dockerd"]
