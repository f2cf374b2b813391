"""openvisor: an open microvisor platform for the STM32U585."""

__version__ = "0.1.0"
