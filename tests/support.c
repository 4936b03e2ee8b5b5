/* Helpers shared by the test programs: see support.h. */
#include "support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *t_build_dir(void)
{
	const char *b = getenv("BUILD");

	return b && *b ? b : "build";
}

const char *t_src_dir(void)
{
	const char *s = getenv("CRYSTAL_SRCDIR");

	return s && *s ? s : ".";
}

int t_mkdtemp(char *buf, size_t len)
{
	if (snprintf(buf, len, "/tmp/crystal-test-XXXXXX") >= (int)len)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

void t_rm_rf(const char *path)
{
	char *argv[] = {"rm", "-rf", (char *)path, NULL};

	if (path && *path && strcmp(path, "/"))
		t_wait(t_spawn(argv, NULL, NULL), 30000);
}

bool t_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

char *t_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, r;

	if (!f)
		return NULL;
	do {
		if (cap - len < 4096) {
			char *b = realloc(buf, cap + 65536);
			if (!b) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = b;
			cap += 65536;
		}
		r = fread(buf + len, 1, cap - len - 1, f);
		len += r;
	} while (r);
	fclose(f);
	buf[len] = 0;
	return buf;
}

int t_csv_load(struct t_csv *c, const char *path)
{
	size_t cap = 0;

	memset(c, 0, sizeof(*c));
	c->text = t_slurp(path);
	if (!c->text)
		return -1;
	for (char *line = c->text, *next; *line; line = next) {
		size_t n = 1, k = 0;
		char **f;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		else
			next = line + strlen(line);
		for (const char *s = line; *s; s++)
			n += *s == ',';
		if (c->nrows == cap) {
			cap = cap ? 2 * cap : 64;
			c->rows = realloc(c->rows, cap * sizeof(*c->rows));
			c->nfields = realloc(c->nfields, cap * sizeof(size_t));
			if (!c->rows || !c->nfields)
				return -1;
		}
		f = malloc(n * sizeof(*f));
		if (!f)
			return -1;
		f[k++] = line;
		for (char *s = line; *s; s++)
			if (*s == ',') {
				*s = 0;
				f[k++] = s + 1;
			}
		c->rows[c->nrows] = f;
		c->nfields[c->nrows++] = n;
	}
	if (c->nrows)
		return 0;
	t_csv_free(c); /* an empty file: nothing is kept */
	return -1;
}

void t_csv_free(struct t_csv *c)
{
	for (size_t i = 0; i < c->nrows; i++)
		free(c->rows[i]);
	free(c->rows);
	free(c->nfields);
	free(c->text);
	memset(c, 0, sizeof(*c));
}

int t_csv_col(const struct t_csv *c, const char *name)
{
	for (size_t i = 0; c->nrows && i < c->nfields[0]; i++)
		if (!strcmp(c->rows[0][i], name))
			return (int)i;
	return -1;
}

const char *t_csv_field(const struct t_csv *c, size_t row, int col)
{
	if (col < 0 || row + 1 >= c->nrows || (size_t)col >= c->nfields[row + 1])
		return NULL;
	return c->rows[row + 1][col];
}

double t_csv_num(const struct t_csv *c, size_t row, const char *name)
{
	const char *f = t_csv_field(c, row, t_csv_col(c, name));
	char *end;
	double v;

	if (!f || !*f)
		return NAN;
	v = strtod(f, &end);
	return *end ? NAN : v;
}

static void redirect(int fd, const char *path)
{
	int f = open(path ? path : "/dev/null",
		     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (f >= 0) {
		dup2(f, fd);
		close(f);
	}
}

pid_t t_spawn(char *const argv[], const char *out_path, const char *err_path)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid != 0)
		return pid;
	/* the child: only async-signal-safe calls until exec */
	{
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	redirect(1, out_path);
	redirect(2, err_path);
	execv(argv[0], argv);
	execvp(argv[0], argv);
	_exit(127);
}

int t_wait(pid_t pid, int timeout_ms)
{
	int status;

	if (pid < 0)
		return -1;
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(10000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int t_run(char *const argv[], int timeout_ms, char **out, char **err)
{
	char dir[64], op[128], ep[128];
	int rc;

	if (out)
		*out = NULL;
	if (err)
		*err = NULL;
	if (t_mkdtemp(dir, sizeof(dir)))
		return -1;
	snprintf(op, sizeof(op), "%s/stdout", dir);
	snprintf(ep, sizeof(ep), "%s/stderr", dir);
	rc = t_wait(t_spawn(argv, op, ep), timeout_ms);
	if (out)
		*out = t_slurp(op);
	if (err)
		*err = t_slurp(ep);
	t_rm_rf(dir);
	return rc;
}

cr_addr t_addr(uint16_t port)
{
	cr_addr a;

	memset(&a, 0, sizeof(a));
	a.family = 4;
	a.port = port;
	a.ip[0] = 127;
	a.ip[3] = 1;
	return a;
}

/* --- raw sockets ---------------------------------------------------------- */

int t_tcp_connect(uint16_t port)
{
	return t_tcp_connect_buf(port, 0);
}

int t_tcp_connect_buf(uint16_t port, int rcvbuf)
{
	struct sockaddr_in sa;
	struct timeval tv = {10, 0};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int t_send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int t_read_until_closed(int fd, uint8_t *got, size_t cap, size_t *n)
{
	uint8_t buf[4096];
	size_t total = 0;

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				break;
			if (n)
				*n = total;
			return -1; /* timeout (EAGAIN) or another error */
		}
		if (got && total < cap)
			memcpy(got + total, buf,
			       (size_t)r < cap - total ? (size_t)r
						       : cap - total);
		total += (size_t)r;
	}
	if (n)
		*n = total;
	return 0;
}

int t_read_exact(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = recv(fd, p, len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* --- frames --------------------------------------------------------------- */

struct t_hdr t_hdr_make(uint8_t type, uint32_t length, uint16_t src_port,
			uint16_t exp_tag)
{
	struct t_hdr h;

	memset(&h, 0, sizeof(h));
	h.magic = 0x4352;
	h.version = 1;
	h.type = type;
	h.family = 4;
	h.length = length;
	h.src_port = src_port;
	h.exp_tag = exp_tag;
	h.src_ip[0] = 127;
	h.src_ip[3] = 1;
	return h;
}

void t_put64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t t_get64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

void t_hdr_put(uint8_t out[T_HDR_SIZE], const struct t_hdr *h)
{
	out[0] = (uint8_t)(h->magic >> 8);
	out[1] = (uint8_t)h->magic;
	out[2] = h->version;
	out[3] = h->type;
	out[4] = h->flags;
	out[5] = h->family;
	out[6] = (uint8_t)(h->session >> 8);
	out[7] = (uint8_t)h->session;
	out[8] = (uint8_t)(h->length >> 24);
	out[9] = (uint8_t)(h->length >> 16);
	out[10] = (uint8_t)(h->length >> 8);
	out[11] = (uint8_t)h->length;
	out[12] = (uint8_t)(h->src_port >> 8);
	out[13] = (uint8_t)h->src_port;
	out[14] = (uint8_t)(h->exp_tag >> 8);
	out[15] = (uint8_t)h->exp_tag;
	t_put64(out + 16, (uint64_t)h->created_ns);
	memcpy(out + 24, h->src_ip, 16);
}

uint16_t t_exp_tag(uint64_t id)
{
	return (uint16_t)(id ^ id >> 16 ^ id >> 32 ^ id >> 48);
}

void t_hello(uint8_t out[T_HELLO_SIZE], uint64_t exp_id, uint16_t src_port,
	     uint16_t exp_tag)
{
	struct t_hdr h = t_hdr_make(1, 8, src_port, exp_tag);

	t_hdr_put(out, &h);
	t_put64(out + T_HDR_SIZE, exp_id);
}

const struct t_bad_kind t_bad_kinds[] = {
    {"random bytes", false, true},
    {"bad magic", true, true},
    {"bad version", true, true},
    {"unknown type", true, true},
    {"bad address family", true, true},
    {"length above the maximum", true, true},
    {"data frame before hello", false, true},
    {"second hello", true, true},
    {"hello with another experiment tag", false, true},
    {"hello for another experiment", false, false},
    {"hello of the wrong length", false, true},
};
const size_t t_nbad_kinds = sizeof(t_bad_kinds) / sizeof(t_bad_kinds[0]);

size_t t_bad_frame(size_t k, uint8_t *b, uint64_t exp_id, uint16_t tag,
		   uint16_t port, uint32_t max_len)
{
	struct t_hdr h = t_hdr_make(128, 4, port, tag);
	uint64_t s = 0x9E3779B97F4A7C15ULL;

	memset(b, 0, T_HDR_SIZE + 16);
	switch (k) {
	case 0:
		for (int i = 0; i < 512; i++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			b[i] = (uint8_t)s;
		}
		b[0] = 0x17; /* never the magic */
		return 512;
	case 1:
		h.magic = 0x4353;
		break;
	case 2:
		h.version = 2;
		break;
	case 3:
		h.type = 9; /* engine range, unassigned */
		h.length = 0;
		break;
	case 4:
		h.family = 5;
		break;
	case 5:
		/* the header alone is refused: the body is never awaited */
		h.length = max_len + 1;
		t_hdr_put(b, &h);
		return T_HDR_SIZE;
	case 6:
		h.length = 16;
		break;
	case 7:
		t_hello(b, exp_id, port, tag);
		return T_HELLO_SIZE;
	case 8:
		t_hello(b, exp_id, port, (uint16_t)(tag ^ 1));
		return T_HELLO_SIZE;
	case 9:
		/* another experiment whose id folds to the same tag */
		t_hello(b, exp_id ^ 0x0001000100000000ULL, port, tag);
		return T_HELLO_SIZE;
	case 10:
		h.type = 1;
		h.length = 4;
		break;
	default:
		return 0;
	}
	t_hdr_put(b, &h);
	return T_HDR_SIZE + h.length;
}

int t_build_so(const char *dir, const char *name, const char *source,
	       char *path, size_t len)
{
	char src[4200], inc[4096], *out = NULL, *err = NULL;
	const char *cc = getenv("CC");
	FILE *f;
	int rc;

	snprintf(src, sizeof(src), "%s/%s.c", dir, name);
	snprintf(path, len, "%s/%s.so", dir, name);
	snprintf(inc, sizeof(inc), "-I%s/include", t_src_dir());
	f = fopen(src, "w");
	if (!f)
		return -1;
	fputs(source, f);
	fclose(f);
	char *argv[] = {(char *)(cc && *cc ? cc : "cc"),
			"-std=gnu17",
			"-Wall",
			"-Werror",
			"-shared",
			"-fPIC",
			inc,
			"-o",
			path,
			src,
			NULL};
	rc = t_run(argv, 60000, &out, &err);
	if (rc)
		fprintf(stderr, "building %s: %s%s\n", name, out ? out : "",
			err ? err : "");
	free(out);
	free(err);
	return rc;
}
