"""openvisor.gdb."""
