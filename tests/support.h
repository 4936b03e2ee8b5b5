/* Helpers shared by the test programs (tests/support.c): where the build
 * is, temporary directories, child processes, raw sockets, and frame
 * headers encoded by hand, independently of src/net/wire.c, so that a test
 * checks the wire format rather than the encoder against itself.
 *
 * Nothing here uses cmocka: a helper reports failure through its return
 * value and the test asserts on it.
 */
#ifndef CRYSTAL_TEST_SUPPORT_H
#define CRYSTAL_TEST_SUPPORT_H

#include <crystal/crystal.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The build directory: $BUILD, or "build". */
const char *t_build_dir(void);
/* The source tree (for include/): $CRYSTAL_SRCDIR, or ".". */
const char *t_src_dir(void);

/* Makes a fresh directory /tmp/crystal-test-XXXXXX; 0 or -1. */
int t_mkdtemp(char *buf, size_t len);
/* Removes a directory tree (best effort). */
void t_rm_rf(const char *path);
bool t_exists(const char *path);
/* Reads a whole file into a NUL-terminated malloc'd string; NULL if none. */
char *t_slurp(const char *path);

/* A CSV file of the run directory, read whole: a header line naming the
 * columns, then rows of fields (no quoting: Crystal writes none). */
struct t_csv {
	char *text;
	char ***rows; /* rows[0] is the header */
	size_t *nfields;
	size_t nrows; /* with the header */
};

/* Reads path; 0, or -1 when it cannot be read or has no header. */
int t_csv_load(struct t_csv *c, const char *path);
void t_csv_free(struct t_csv *c);
/* Data rows, without the header. */
static inline size_t t_csv_rows(const struct t_csv *c)
{
	return c->nrows ? c->nrows - 1 : 0;
}
/* The column named `name`, or -1. */
int t_csv_col(const struct t_csv *c, const char *name);
/* Field `col` of data row `row` (0-based), or NULL when the row is short
 * or col is -1. */
const char *t_csv_field(const struct t_csv *c, size_t row, int col);
/* The same by column name, as a number (NaN when empty or absent). */
double t_csv_num(const struct t_csv *c, size_t row, const char *name);

/* Starts argv[0] with stdout and stderr sent to the given files (NULL:
 * /dev/null).  Returns the pid, or -1. */
pid_t t_spawn(char *const argv[], const char *out_path, const char *err_path);
/* Waits for a child: its exit status, 128 + signal if a signal ended it,
 * or -1 if it is still running after timeout_ms (it is then killed). */
int t_wait(pid_t pid, int timeout_ms);
/* t_spawn + t_wait, with stdout and stderr captured into malloc'd strings
 * (each may be NULL to discard). */
int t_run(char *const argv[], int timeout_ms, char **out, char **err);

/* Builds DIR/NAME.so from the C source text, against the public headers,
 * with $CC (or cc); path gets the .so's path.  0, or the compiler's exit
 * status (its output said on stderr). */
int t_build_so(const char *dir, const char *name, const char *source,
	       char *path, size_t len);

/* 127.0.0.1:port */
cr_addr t_addr(uint16_t port);

/* --- raw sockets ---------------------------------------------------------- */

/* A blocking TCP connection to 127.0.0.1:port with a 10 s receive timeout
 * and TCP_NODELAY, or -1. */
int t_tcp_connect(uint16_t port);
/* The same with the receive buffer set (before connecting) to rcvbuf. */
int t_tcp_connect_buf(uint16_t port, int rcvbuf);
/* Writes everything; 0, or -errno (EPIPE or ECONNRESET once the peer has
 * closed: that is an answer, not a failure, for the hostile tests). */
int t_send_all(int fd, const void *buf, size_t len);
/* Reads until the other end closes.  Returns 0 when it closed (EOF or
 * ECONNRESET) and -1 on a timeout or another error.  The first bytes read
 * are copied to `got` (up to cap); *n gets how many bytes arrived in all. */
int t_read_until_closed(int fd, uint8_t *got, size_t cap, size_t *n);
/* Reads exactly len bytes (blocking, with the socket's timeout); 0 or -1. */
int t_read_exact(int fd, void *buf, size_t len);

/* --- frames --------------------------------------------------------------- */

#define T_HDR_SIZE 40

struct t_hdr {
	uint16_t magic;
	uint8_t version;
	uint8_t type;
	uint8_t flags;
	uint8_t family;
	uint16_t session;
	uint32_t length;
	uint16_t src_port;
	uint16_t exp_tag;
	int64_t created_ns;
	uint8_t src_ip[16];
};

/* A well-formed header from 127.0.0.1:port. */
struct t_hdr t_hdr_make(uint8_t type, uint32_t length, uint16_t src_port,
			uint16_t exp_tag);
/* Big-endian encoding, written out field by field. */
void t_hdr_put(uint8_t out[T_HDR_SIZE], const struct t_hdr *h);
/* The 16-bit tag carried in every frame for a 64-bit experiment id. */
uint16_t t_exp_tag(uint64_t exp_id);
/* A hello frame (header + 8-byte experiment id) into out[48]. */
#define T_HELLO_SIZE (T_HDR_SIZE + 8)
void t_hello(uint8_t out[T_HELLO_SIZE], uint64_t exp_id, uint16_t src_port,
	     uint16_t exp_tag);

/* Malformed input, one kind at a time, for the tests that check a peer
 * refuses it.  hello_first: the kind is sent after a valid hello (so the
 * connection has a name and departs when closed); counted: the peer counts
 * it as a bad frame (a hello for another experiment is refused without). */
struct t_bad_kind {
	const char *name;
	bool hello_first;
	bool counted;
};
extern const struct t_bad_kind t_bad_kinds[];
extern const size_t t_nbad_kinds;
/* Writes kind `k` into buf (at least 1024 bytes); returns its length. */
size_t t_bad_frame(size_t k, uint8_t *buf, uint64_t exp_id, uint16_t tag,
		   uint16_t src_port, uint32_t max_len);

void t_put64(uint8_t *b, uint64_t v);
uint64_t t_get64(const uint8_t *b);
/* A payload pattern that depends on a sequence number and the offset. */
static inline uint8_t t_pattern(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

#endif
