"""The workshop image's own plumbing, run inside it (`python -m workshop_image.NAME`):

- `check`: start-up checks (model cache, NVIDIA driver) that say what to do;
- `sync_labs`: the image's labs into the student's work, never over their changes;
- `healthcheck`: the HEALTHCHECK of whichever server the container runs;
- `manifest`: /opt/workshop/MANIFEST.json, written at build time.
"""
