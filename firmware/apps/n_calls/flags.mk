APP_SOURCES := common/board.c common/log.c common/notifications.c
