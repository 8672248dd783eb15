/*
 * log.c — libdshm's optional logger (see dshm.h).  Lines go to a file
 * and/or stderr; a mutex keeps lines from several threads whole.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dshm.h"

struct dshm_log {
	FILE *file;
	char *program;
	bool console;
	dshm_log_level level;
	pthread_mutex_t mutex;
};

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARNING", "ERROR"};

struct dshm_log *
dshm_log_create(const char *file, const char *program_name, bool is_active_console,
		dshm_log_level level)
{
	struct dshm_log *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->program = strdup(program_name != NULL ? program_name : "dshm");
	if (l->program == NULL || (file != NULL && (l->file = fopen(file, "ae")) == NULL)) {
		free(l->program);
		free(l);
		return NULL;
	}
	l->console = is_active_console;
	l->level = level;
	pthread_mutex_init(&l->mutex, NULL);
	return l;
}

void
dshm_log_destroy(struct dshm_log *l)
{
	if (l == NULL)
		return;
	if (l->file != NULL)
		fclose(l->file);
	pthread_mutex_destroy(&l->mutex);
	free(l->program);
	free(l);
}

void
dshm_log_message(struct dshm_log *l, dshm_log_level level, const char *fmt, ...)
{
	char msg[512], stamp[32];
	struct tm tm;
	time_t now;
	va_list ap;

	if (l == NULL || level < l->level || level > DSHM_LOG_ERROR)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	pthread_mutex_lock(&l->mutex);
	if (l->file != NULL) {
		fprintf(l->file, "[%s] %s %s/(%d): %s\n", level_names[level], stamp, l->program,
			(int)getpid(), msg);
		fflush(l->file);
	}
	if (l->console)
		fprintf(stderr, "[%s] %s %s/(%d): %s\n", level_names[level], stamp, l->program,
			(int)getpid(), msg);
	pthread_mutex_unlock(&l->mutex);
}
