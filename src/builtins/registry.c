/* Algorithms by name: the built-ins compiled into the program, and
 * third-party ones loaded from a shared object that defines
 * `crystal_algorithm`.  Errors start with the name or path asked for; the
 * caller says which option or key gave it.
 *
 * This sits beside the command line, not in libcrystal: the library runs
 * whatever algorithm a node is given (cr_node_config.algo) and links none;
 * the program decides which ones it carries.
 */
#include "registry.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

extern const cr_algorithm cr_relay_algorithm;
extern const cr_algorithm cr_vanilla_algorithm;
extern const cr_algorithm cr_r2_algorithm;

static const cr_algorithm *const builtins[] = {
	&cr_relay_algorithm, &cr_vanilla_algorithm, &cr_r2_algorithm,
};

size_t cr__algorithms(const cr_algorithm *const **out)
{
	*out = builtins;
	return sizeof(builtins) / sizeof(builtins[0]);
}

static bool is_path(const char *s)
{
	size_t n = strlen(s);

	return strchr(s, '/') || (n > 3 && !strcmp(s + n - 3, ".so"));
}

const cr_algorithm *cr__algorithm_find(const char *name, char *err,
				       size_t errlen)
{
	const cr_algorithm *a;
	void *so;

	if (!is_path(name)) {
		char names[256] = "";
		for (size_t i = 0; i < sizeof(builtins) / sizeof(*builtins);
		     i++) {
			if (!strcmp(builtins[i]->name, name))
				return builtins[i];
			snprintf(names + strlen(names),
				 sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", builtins[i]->name);
		}
		snprintf(err, errlen,
			 "%s: no such built-in algorithm (built-in: %s; or give "
			 "the path of a .so)",
			 name, names);
		return NULL;
	}
	/* The handle stays open for the life of the process: the
	 * algorithm's code must outlive every peer that runs it. */
	so = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!so) {
		const char *why = dlerror();
		/* dlerror() names the file itself, mostly */
		snprintf(err, errlen, "%s%s%s", strstr(why, name) ? "" : name,
			 strstr(why, name) ? "" : ": ", why);
		return NULL;
	}
	a = dlsym(so, "crystal_algorithm");
	if (!a) {
		snprintf(err, errlen,
			 "%s: the library defines no 'crystal_algorithm' (see "
			 "docs/writing-an-algorithm.md)",
			 name);
		dlclose(so);
		return NULL;
	}
	/* a version 1 object is shorter: only its version and name are
	 * read here, and the node copies no more of it than it has */
	if (a->api_version < 1 || a->api_version > CR_API_VERSION) {
		snprintf(err, errlen,
			 "%s: built for API version %d, this crystal runs "
			 "versions 1 to %d: rebuild it against these headers",
			 name, a->api_version, CR_API_VERSION);
		dlclose(so);
		return NULL;
	}
	if (!a->name) {
		snprintf(err, errlen,
			 "%s: its crystal_algorithm has no name",
			 name);
		dlclose(so);
		return NULL;
	}
	return a;
}
