/* Per-worker and node logs: buffered lines with the experiment time.
 */
#ifndef CRYSTAL_CORE_LOG_H
#define CRYSTAL_CORE_LOG_H

#include "clock.h"

#include <pthread.h>
#include <stdarg.h>

typedef struct cr__log {
	pthread_mutex_t lock;
	int fd;	   /* -1: stderr only for errors */
	int level; /* lines above this level are dropped */
	char *buf;
	size_t len, cap;
	const cr__clock *clock;
	bool echo_stderr; /* also print warnings and errors to stderr */
} cr__log;

int cr__log_open(cr__log *l, const char *path, int level,
		 const cr__clock *clock);
void cr__log_close(cr__log *l);
void cr__log_write(cr__log *l, int level, const cr_addr *who,
		   const char *fmt, va_list ap);
void cr__logf(cr__log *l, int level, const cr_addr *who, const char *fmt,
	      ...) __attribute__((format(printf, 4, 5)));
void cr__log_flush(cr__log *l);
/* Async-signal-safe best effort for fatal signals: writes what is
 * buffered in every open log. */
void cr__log_crash_flush(void);
/* Installs handlers for fatal signals that flush the logs, then die. */
void cr__log_install_crash_handler(void);
const char *cr__log_level_name(int level);
int cr__log_level_parse(const char *s);

#endif
