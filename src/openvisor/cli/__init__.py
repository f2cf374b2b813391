"""openvisor.cli."""
