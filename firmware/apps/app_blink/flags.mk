APP_SOURCES := common/board.c common/log.c
