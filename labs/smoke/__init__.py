"""The Trainer Workshop smoke harness: every lab task, run and checked (see smoke.cli)."""
