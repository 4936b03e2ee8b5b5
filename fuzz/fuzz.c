/* What the fuzz targets share: memory files and the fixed experiment. */
#include "fuzz.h"
#include "../src/scenario/experiment.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void fz_memfile_open(struct fz_memfile *m, const char *name)
{
	m->fd = memfd_create(name, MFD_CLOEXEC);
	FZ_CHECK(m->fd >= 0);
	snprintf(m->path, sizeof(m->path), "/proc/self/fd/%d", m->fd);
}

void fz_memfile_set(struct fz_memfile *m, const uint8_t *data, size_t size)
{
	size_t off = 0;

	FZ_CHECK(ftruncate(m->fd, 0) == 0);
	while (off < size) {
		ssize_t w = pwrite(m->fd, data + off, size - off, (off_t)off);
		FZ_CHECK(w > 0);
		off += (size_t)w;
	}
}

static const char fixture[] = "[experiment]\n"
			      "name = fuzz\n"
			      "duration = 60s\n"
			      "[tracker]\n"
			      "address = 127.0.0.1:19999\n"
			      "[class source]\n"
			      "count = 1\n"
			      "addresses = 127.0.0.1:20000\n"
			      "[class chain]\n"
			      "count = 100\n"
			      "addresses = 127.0.0.1:20001-20100\n"
			      "[class churn]\n"
			      "count = 31\n"
			      "addresses = 127.0.0.1:21000-21030\n"
			      "[class cable]\n"
			      "count = 5\n"
			      "addresses = 127.0.1.1-127.0.1.5:9000\n"
			      "[class six]\n"
			      "count = 10\n"
			      "addresses = [::1]:22000-22009\n"
			      "[session 1]\n"
			      "source = 127.0.0.1:21000\n"
			      "[session 2]\n"
			      "source = 127.0.0.1:20000\n"
			      "[session 3]\n"
			      "source = [::1]:22000\n";

const struct cr_experiment *fz_experiment(void)
{
	static struct cr_experiment e;
	static bool loaded;
	char err[512];

	if (!loaded) {
		if (cr_experiment_load_mem("fuzz.ini", fixture,
					   sizeof(fixture) - 1, &e, err,
					   sizeof(err))) {
			fprintf(stderr, "the fixed experiment: %s\n", err);
			abort();
		}
		loaded = true;
	}
	return &e;
}

bool fz_err_names(const char *err, const char *path)
{
	size_t n = strlen(path);

	return !strncmp(err, path, n) && err[n] == ':' && err[n + 1];
}
