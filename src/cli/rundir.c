/* The run directory's own files: what ran (command.txt, inputs/) and the
 * node's per-second row (node.csv).  The peers' and workers' rows come
 * from the engine (src/engine/sampler.c). */
#include "rundir.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int cr_rundir_command(const char *dir, int argc, char **argv, char *err,
		      size_t errlen)
{
	char path[4096], host[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/command.txt", dir);
	f = fopen(path, "we");
	if (!f)
		goto fail;
	gethostname(host, sizeof(host) - 1);
	fputs("crystal", f);
	for (int i = 0; i < argc; i++) {
		/* quoted where a shell would need it */
		if (argv[i][strcspn(argv[i], " \t'\"\\$`*?[]{}()<>|&;#~")] ||
		    !argv[i][0]) {
			fputs(" '", f);
			for (const char *s = argv[i]; *s; s++)
				if (*s == '\'')
					fputs("'\\''", f);
				else
					fputc(*s, f);
			fputc('\'', f);
		} else {
			fprintf(f, " %s", argv[i]);
		}
	}
	fprintf(f, "\nversion %s\nhost %s\n", CR_VERSION_STRING, host);
	if (ferror(f) | fclose(f))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	return -1;
}

int cr_rundir_copy_input(const char *dir, const char *path, char *err,
			 size_t errlen)
{
	char to[4096], buf[65536];
	const char *base;
	int in = -1, out = -1;
	ssize_t n;

	if (!path || !*path)
		return 0;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(to, sizeof(to), "%s/inputs", dir);
	if (mkdir(to, 0755) && errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", to,
			 strerror(errno));
		return -1;
	}
	snprintf(to, sizeof(to), "%s/inputs/%s", dir, base);
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path,
			 strerror(errno));
		return -1;
	}
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		goto fail_out;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "cannot read %s: %s", path,
				 strerror(errno));
			goto fail;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				goto fail_out;
			off += w;
		}
	}
	close(in);
	if (close(out))
		goto fail_out_closed;
	return 0;
fail_out:
	snprintf(err, errlen, "cannot write %s: %s", to, strerror(errno));
fail:
	close(in);
	if (out >= 0)
		close(out);
	return -1;
fail_out_closed:
	snprintf(err, errlen, "cannot write %s: %s", to, strerror(errno));
	return -1;
}

double cr_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

uint64_t cr_rss_bytes(void)
{
	unsigned long long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

int cr_node_csv_open(struct cr_node_csv *c, const char *dir, char *err,
		     size_t errlen)
{
	char path[4096];

	memset(c, 0, sizeof(*c));
	snprintf(path, sizeof(path), "%s/node.csv", dir);
	c->f = fopen(path, "we");
	if (!c->f || fputs("time_s,cpu_percent,rss_bytes,peers_alive,"
			   "data_bytes_in,data_rate_Bps\n",
			   c->f) == EOF) {
		snprintf(err, errlen, "cannot write %s: %s", path,
			 strerror(errno));
		if (c->f)
			fclose(c->f);
		c->f = NULL;
		return -1;
	}
	c->last_cpu_s = cr_cpu_seconds();
	return 0;
}

void cr_node_csv_start(struct cr_node_csv *c, int64_t now_ns)
{
	c->last_ns = c->last_cpu_ns = now_ns;
	c->last_cpu_s = cr_cpu_seconds();
}

void cr_node_csv_final(struct cr_node_csv *c, const struct cr_node_csv_row *r)
{
	if (r->t_ns - c->last_ns >= CR_NODE_CSV_MIN_LAST)
		cr_node_csv_sample(c, r);
}

void cr_node_csv_sample(struct cr_node_csv *c, const struct cr_node_csv_row *r)
{
	double dt = (double)(r->t_ns - c->last_ns) / 1e9;
	double cpu_dt = (double)(r->cpu_ns - c->last_cpu_ns) / 1e9;

	if (!c->f || dt <= 0)
		return;
	fprintf(c->f, "%.3f,%.1f,%llu,%llu,%llu,%.0f\n", (double)r->t_ns / 1e9,
		cpu_dt > 0 ? 100 * (r->cpu_s - c->last_cpu_s) / cpu_dt : 0,
		(unsigned long long)r->rss_bytes,
		(unsigned long long)r->peers_alive,
		(unsigned long long)r->data_bytes_in,
		(double)(r->data_bytes_in - c->last_bytes) / dt);
	fflush(c->f);
	c->last_ns = r->t_ns;
	c->last_bytes = r->data_bytes_in;
	c->last_cpu_s = r->cpu_s;
	c->last_cpu_ns = r->cpu_ns;
}

int cr_node_csv_close(struct cr_node_csv *c)
{
	int rc = 0;

	if (c->f && (ferror(c->f) | fclose(c->f)))
		rc = -1;
	c->f = NULL;
	return rc;
}
