# Server-log timing test: uses the shared server-log helper.
APP_SOURCES := common/log.c
