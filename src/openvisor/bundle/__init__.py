"""openvisor.bundle."""
