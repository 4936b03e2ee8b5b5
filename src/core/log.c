/* Logging: one buffered file per worker, each line stamped with experiment
 * time, level and peer address.
 *
 * Lines gather in memory and reach the file when the buffer fills, when the
 * worker flushes it (a periodic timer and at the end), and at once for
 * warnings and errors.  A fatal signal writes what is buffered in every open
 * log (cr__log_crash_flush), so what was logged before a crash is on disk.
 * The lock makes a log safe to share with an algorithm's own threads.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define LOG_BUF (64 * 1024)
#define MAX_LOGS 256

/* The only process-wide state: the crash handler must find the buffers. */
static cr__log *_Atomic open_logs[MAX_LOGS];

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG",
					  "TRACE"};

const char *cr__log_level_name(int level)
{
	if (level < 0 || level > CR_LOG_TRACE)
		return "?";
	return level_names[level];
}

int cr__log_level_parse(const char *s)
{
	for (int i = 0; i <= CR_LOG_TRACE; i++)
		if (!strcasecmp(s, level_names[i]))
			return i;
	if (!strcasecmp(s, "warning"))
		return CR_LOG_WARN;
	return -CR_EINVAL;
}

static void registry_add(cr__log *l)
{
	for (int i = 0; i < MAX_LOGS; i++) {
		cr__log *expect = NULL;
		if (atomic_compare_exchange_strong(&open_logs[i], &expect, l))
			return;
	}
}

static void registry_del(cr__log *l)
{
	for (int i = 0; i < MAX_LOGS; i++) {
		cr__log *expect = l;
		if (atomic_compare_exchange_strong(&open_logs[i], &expect,
						   NULL))
			return;
	}
}

int cr__log_open(cr__log *l, const char *path, int level,
		 const cr__clock *clock)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->level = level;
	l->clock = clock;
	l->cap = LOG_BUF;
	l->buf = malloc(l->cap);
	if (!l->buf)
		return -CR_ENOMEM;
	if (path) {
		l->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			     0644);
		if (l->fd < 0) {
			int e = errno;
			free(l->buf);
			l->buf = NULL;
			return e == EMFILE ? -CR_EMFILE : -CR_EIO;
		}
	}
	pthread_mutex_init(&l->lock, NULL);
	registry_add(l);
	return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void flush_locked(cr__log *l)
{
	if (l->len && l->fd >= 0)
		write_all(l->fd, l->buf, l->len);
	l->len = 0;
}

void cr__log_flush(cr__log *l)
{
	if (!l->buf)
		return;
	pthread_mutex_lock(&l->lock);
	flush_locked(l);
	pthread_mutex_unlock(&l->lock);
}

void cr__log_close(cr__log *l)
{
	if (!l->buf)
		return;
	registry_del(l);
	cr__log_flush(l);
	if (l->fd >= 0)
		close(l->fd);
	pthread_mutex_destroy(&l->lock);
	free(l->buf);
	l->buf = NULL;
	l->fd = -1;
}

void cr__log_write(cr__log *l, int level, const cr_addr *who, const char *fmt,
		   va_list ap)
{
	char line[1024], addr[CR_ADDR_STRLEN];
	int64_t t;
	int n, m;

	if (!l || !l->buf || level > l->level)
		return;
	t = l->clock ? cr__clock_now(l->clock) : 0;
	if (who)
		cr_addr_format(who, addr, sizeof(addr));
	else
		strcpy(addr, "-");
	n = snprintf(line, sizeof(line), "%s%lld.%09lld %s %-5s ",
		     t < 0 ? "-" : "", (long long)(llabs(t) / CR_SEC),
		     (long long)(llabs(t) % CR_SEC), addr,
		     cr__log_level_name(level));
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';

	pthread_mutex_lock(&l->lock);
	if (l->len + (size_t)n > l->cap)
		flush_locked(l);
	memcpy(l->buf + l->len, line, (size_t)n);
	l->len += (size_t)n;
	if (level <= CR_LOG_WARN) {
		flush_locked(l);
		if (l->echo_stderr || l->fd < 0)
			write_all(2, line, (size_t)n);
	}
	pthread_mutex_unlock(&l->lock);
}

void cr__logf(cr__log *l, int level, const cr_addr *who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cr__log_write(l, level, who, fmt, ap);
	va_end(ap);
}

void cr__log_crash_flush(void)
{
	/* No locks here: the crashing thread may hold one.  Best effort. */
	for (int i = 0; i < MAX_LOGS; i++) {
		cr__log *l = atomic_load(&open_logs[i]);
		if (l && l->buf && l->fd >= 0 && l->len <= l->cap)
			write_all(l->fd, l->buf, l->len);
	}
}

static void crash_handler(int sig)
{
	cr__log_crash_flush();
	signal(sig, SIG_DFL);
	raise(sig);
}

void cr__log_install_crash_handler(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = crash_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}
