"""Training studies on the demo's generated data (and their harness)."""
