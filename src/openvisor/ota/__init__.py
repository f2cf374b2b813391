"""openvisor.ota."""
