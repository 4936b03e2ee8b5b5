/* crystal: the command line.
 *
 *   crystal run [options]       run an experiment (default: relay chains)
 *   crystal tracker FILE        an experiment's tracker, on its own
 *   crystal algorithms [PATH]   list algorithms and their parameters
 *   crystal gen-events [options]  write an events file of peer dynamics
 *   crystal report RUN_DIR...   a report of runs: table and plots (HTML)
 *   crystal log RUN --peer P    one peer's life in a run directory
 *   crystal version
 *
 * Exit codes: 0 done, 1 failed while running, 2 bad usage or input,
 * 130 / 143 ended early by SIGINT / SIGTERM (results are still written).
 */
#include "cli.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fputs("usage: crystal <command> [options]\n"
	      "\n"
	      "Crystal emulates many peers of a peer-to-peer streaming protocol on one\n"
	      "machine, with real TCP and UDP between them, and reports what every peer\n"
	      "experienced.\n"
	      "\n"
	      "commands:\n"
	      "  run          run an experiment: a file, or with none the relay chains\n"
	      "  tracker      run an experiment's tracker on its own\n"
	      "  algorithms   list algorithms and their parameters: the built-ins, or a .so\n"
	      "  gen-events   write an events file: births, joins, leaves drawn from distributions\n"
	      "  report       a report of run directories: summary table and plots, in HTML\n"
	      "  log          one peer's life in a run directory, in time order\n"
	      "  version      print the version\n"
	      "\n"
	      "`crystal <command> --help` explains a command's options.\n",
	      f);
}

void cr__cli_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cr_cli_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "tracker"))
		return cr_cli_tracker(argc - 1, argv + 1);
	if (!strcmp(argv[1], "algorithms"))
		return cr_cli_algorithms(argc - 1, argv + 1);
	if (!strcmp(argv[1], "gen-events"))
		return cr_cli_gen_events(argc - 1, argv + 1);
	if (!strcmp(argv[1], "report"))
		return cr_cli_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "log"))
		return cr_cli_log(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("crystal %s\n", CR_VERSION_STRING);
		return 0;
	}
	fprintf(stderr, "crystal: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
