# The swarm tier's stand-in attendee image: a few MB of Python instead of the 2.4 GB workshop
# image on every node (placement, restarts and work are what the tier tests). It answers any
# request with who it is and what the engine gave it (tests/swarm/standin_singleuser.py).
ARG BASE_IMAGE=trainer-workshop-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 --user-group jovyan && install -d -o jovyan -g jovyan /home/jovyan/work
COPY --chmod=755 standin_singleuser.py /usr/local/bin/standin-singleuser
USER 1000:1000
ENTRYPOINT ["/usr/local/bin/standin-singleuser"]
