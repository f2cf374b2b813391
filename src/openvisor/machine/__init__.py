"""openvisor.machine."""
