# Demo application, version 1: built from common/demo.c.
APP_CFLAGS := -DDEMO_VERSION=1
APP_SOURCES := common/demo.c common/board.c common/log.c common/notifications.c
