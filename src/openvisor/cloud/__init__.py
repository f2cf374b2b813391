"""openvisor.cloud."""
