"""What the test tiers share: paths, waiting, images, a hub, a swarm, the test data."""
