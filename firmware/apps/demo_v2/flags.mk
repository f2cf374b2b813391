# Demo application, version 2: built from common/demo.c.
APP_CFLAGS := -DDEMO_VERSION=2
APP_SOURCES := common/demo.c common/board.c common/log.c common/notifications.c
