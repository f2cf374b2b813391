"""openvisor.device."""
