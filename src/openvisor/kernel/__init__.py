"""openvisor.kernel."""
