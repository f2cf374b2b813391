APP_SOURCES := common/log.c
