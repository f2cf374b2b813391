# The benchmark measures emulation speed on optimised code.
APP_CFLAGS := -O2
