# The stack starts below the top 2 KiB of SRAM, which hold canaries.
APP_LDFLAGS := -Wl,--defsym=_estack=0x2007F000
APP_SOURCES := common/board.c
