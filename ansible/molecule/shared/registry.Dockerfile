# A private registry for the stand-in hosts, as ops would have one (workshop_image_registry):
# Debian's docker-registry (the CNCF distribution registry) over plain HTTP on port 5000,
# FROM the local debootstrap base (no registry pull). The tests push the test images to it;
# the hosts pull them, which takes about half the disk of copying and loading an archive.
ARG BASE_IMAGE=trainer-workshop-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null \
    && rm -rf /var/lib/apt/lists/*
# Debian's own config asks for an htpasswd file; a test registry on a private network has no login.
RUN printf '%s\n' 'version: 0.1' 'storage:' '  filesystem:' '    rootdirectory: /var/lib/docker-registry' \
        'http:' '  addr: :5000' > /etc/docker/registry/config.yml
EXPOSE 5000
CMD ["docker-registry", "serve", "/etc/docker/registry/config.yml"]
