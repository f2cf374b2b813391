"""openvisor.peripherals."""
