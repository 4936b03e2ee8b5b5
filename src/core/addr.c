/* Peer addresses: parsing, printing, hashing, and conversion to sockaddr. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -CR_EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return -CR_EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int cr_addr_parse(cr_addr *out, const char *text)
{
	char host[64];
	const char *colon;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (!text)
		return -CR_EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -CR_EINVAL;
		hl = (size_t)(close - text - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -CR_EINVAL;
		memcpy(host, text + 1, hl);
		host[hl] = 0;
		if (inet_pton(AF_INET6, host, out->ip) != 1)
			return -CR_EINVAL;
		out->family = 6;
		return parse_port(close + 2, &out->port);
	}
	colon = strrchr(text, ':');
	if (!colon)
		return -CR_EINVAL;
	hl = (size_t)(colon - text);
	if (hl == 0 || hl >= sizeof(host))
		return -CR_EINVAL;
	memcpy(host, text, hl);
	host[hl] = 0;
	if (inet_pton(AF_INET, host, out->ip) != 1)
		return -CR_EINVAL;
	out->family = 4;
	return parse_port(colon + 1, &out->port);
}

const char *cr_addr_format(const cr_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (a->family == 6) {
		inet_ntop(AF_INET6, a->ip, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, a->port);
	} else if (a->family == 4) {
		inet_ntop(AF_INET, a->ip, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, a->port);
	} else {
		snprintf(buf, len, "(none)");
	}
	return buf;
}

bool cr_addr_eq(const cr_addr *a, const cr_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4) == 0;
}

uint64_t cr_addr_hash(const cr_addr *a)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t n = a->family == 6 ? 16 : 4;

	for (size_t i = 0; i < n; i++)
		h = (h ^ a->ip[i]) * 0x100000001b3ull;
	h = (h ^ a->port) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

int cr__sockaddr_from(const cr_addr *a, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(a->port);
		memcpy(&s4->sin_addr, a->ip, 4);
		*len = sizeof(*s4);
		return 0;
	}
	if (a->family == 6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		memcpy(&s6->sin6_addr, a->ip, 16);
		*len = sizeof(*s6);
		return 0;
	}
	return -CR_EINVAL;
}

void cr__addr_from_sockaddr(cr_addr *a, const struct sockaddr *sa)
{
	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		a->family = 4;
		a->port = ntohs(s4->sin_port);
		memcpy(a->ip, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
			(const struct sockaddr_in6 *)sa;
		a->family = 6;
		a->port = ntohs(s6->sin6_port);
		memcpy(a->ip, &s6->sin6_addr, 16);
	}
}

int cr__addr_bindable(const cr_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, e = 0, one = 1;

	if (cr__sockaddr_from(a, &ss, &sl))
		return EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno == EAFNOSUPPORT ? EAFNOSUPPORT : 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		e = errno;
	close(fd);
	return e == EADDRNOTAVAIL || e == EACCES ? e : 0;
}
