# Jupyter server settings baked into the workshop image (/etc/jupyter).
c = get_config()  # noqa: F821
# Terminals are part of the course (accelerate launch for the FSDP task).
c.ServerApp.terminals_enabled = True
# Behind the hub's proxy or a published port: trust X-Forwarded-* headers.
c.ServerApp.trust_xheaders = True
# Deleting a file deletes it, instead of moving it to a hidden trash folder that fills the
# attendee's work volume unseen.
c.FileContentsManager.delete_to_trash = False
