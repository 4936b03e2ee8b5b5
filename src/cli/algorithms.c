/* crystal algorithms: the algorithms crystal run can play, and the
 * parameters each declares (-D NAME=VALUE), from the registry of
 * built-ins or from a shared object.
 */
#include "../builtins/registry.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* Typed parameters (API version 3): type, range and default. */
static void list_specs(const cr_algorithm *a)
{
	char what[256];

	for (const cr_param_spec *d = a->param_specs; d->name; d++) {
		cr_param_spec_describe(d, what, sizeof(what));
		printf("    -D %s  %s (%s)\n", d->name,
		       d->help ? d->help : "(no description)", what);
	}
}

static void list_algorithm(const cr_algorithm *a)
{
	bool typed = a->api_version >= 3 && a->param_specs &&
		     a->param_specs->name;

	printf("%-12s %s\n", a->name, a->description ? a->description : "");
	if (typed)
		list_specs(a);
	if (!a->params || !a->params->name) {
		if (typed)
			return;
		printf("    no parameters: it declares none, so crystal run "
		       "refuses every -D for it\n");
		return;
	}
	for (const cr_param_def *d = a->params; d->name; d++)
		printf("    -D %s=%s  %s\n", d->name,
		       d->default_value ? d->default_value : "",
		       d->help ? d->help : "(no description)");
}

int cr_cli_algorithms(int argc, char **argv)
{
	const cr_algorithm *const *all;
	size_t n = cr__algorithms(&all);
	char err[1024];
	int rc = 0;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs("usage: crystal algorithms [NAME|PATH...]\n"
		      "\n"
		      "Lists algorithms and the parameters they take (-D NAME=VALUE,\n"
		      "with its default): every built-in, or those named, a built-in's\n"
		      "name or the path of a shared object as --algorithm takes it\n"
		      "(./x.so).  Exit status 2 when one cannot be loaded.\n",
		      stdout);
		return 0;
	}
	if (argc < 2) {
		for (size_t i = 0; i < n; i++)
			list_algorithm(all[i]);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		const cr_algorithm *a = cr__algorithm_find(argv[i], err,
							   sizeof(err));
		if (!a) {
			fprintf(stderr, "crystal algorithms: %s\n", err);
			rc = 2;
			continue;
		}
		list_algorithm(a);
	}
	return rc;
}
