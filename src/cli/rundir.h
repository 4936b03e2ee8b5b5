/* The parts of a run directory the command line writes itself
 * (docs/run-directory.md): command.txt, inputs/, node.csv. */
#ifndef CRYSTAL_CLI_RUNDIR_H
#define CRYSTAL_CLI_RUNDIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* command.txt: the command line, the version and the host.  0 or -1
 * (err says why). */
int cr_rundir_command(const char *dir, int argc, char **argv, char *err,
		      size_t errlen);

/* A byte copy of an input file into dir/inputs/ under its own name.
 * NULL or "" is no file.  0 or -1 (err names the file). */
int cr_rundir_copy_input(const char *dir, const char *path, char *err,
			 size_t errlen);

/* node.csv: the process's CPU and memory, its live peers and their
 * data, one row per sample. */
struct cr_node_csv {
	FILE *f;
	int64_t last_ns;
	double last_cpu_s;
	uint64_t last_bytes;
};

int cr_node_csv_open(struct cr_node_csv *c, const char *dir, char *err,
		     size_t errlen);
void cr_node_csv_sample(struct cr_node_csv *c, int64_t now_ns,
			uint64_t peers_alive, uint64_t data_bytes_in);
/* 0 or -1 when something could not be written. */
int cr_node_csv_close(struct cr_node_csv *c);

/* Process CPU seconds (user + system), and resident memory in bytes. */
double cr_cpu_seconds(void);
uint64_t cr_rss_bytes(void);

#endif
