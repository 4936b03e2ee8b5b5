/* The command line's subcommands. */
#ifndef CRYSTAL_CLI_H
#define CRYSTAL_CLI_H

#define CR_VERSION_STRING "0.1.0"

int cr_cli_run(int argc, char **argv);
int cr_cli_algorithms(int argc, char **argv);
int cr_cli_tracker(int argc, char **argv);
int cr_cli_gen_events(int argc, char **argv);
int cr_cli_report(int argc, char **argv);
int cr_cli_log(int argc, char **argv);

#endif
