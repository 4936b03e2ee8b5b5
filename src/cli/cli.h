/* The command line's subcommands. */
#ifndef CRYSTAL_CLI_H
#define CRYSTAL_CLI_H

#include <signal.h>

#define CR_VERSION_STRING "0.1.0"

int cr_cli_run(int argc, char **argv);
int cr_cli_algorithms(int argc, char **argv);
int cr_cli_tracker(int argc, char **argv);
int cr_cli_gen_events(int argc, char **argv);
int cr_cli_report(int argc, char **argv);
int cr_cli_log(int argc, char **argv);

/* Fills *set with SIGINT and SIGTERM and blocks them in the calling thread
 * and in every thread it starts from then on (a node's workers), so that
 * they wait for the caller's sigtimedwait(); ignores SIGPIPE.  For the
 * commands that run a node. */
void cr__cli_stop_signals(sigset_t *set);

#endif
