"""openvisor.link."""
