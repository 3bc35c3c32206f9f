# A test host for molecule: Debian 12 with systemd as PID 1 and Python for Ansible, built
# FROM the local debootstrap base (no registry pull). Everything else (Docker, the hub, the
# images) is what the roles install, as on a real host.
ARG BASE_IMAGE=trainer-workshop-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        systemd systemd-sysv dbus sudo python3 python3-apt ca-certificates iproute2 procps >/dev/null \
    && rm -rf /var/lib/apt/lists/*
# Units that make no sense in a container would only slow the boot or fail it. binfmt_misc is
# the host kernel's, shared with this privileged container: systemd-binfmt would unregister
# the host's entries (the CI's arm64 emulation) and register Debian's own there.
RUN systemctl mask systemd-udevd.service systemd-udev-trigger.service getty.target console-getty.service \
        systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount
# systemd stops on SIGRTMIN+3, not SIGTERM.
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
