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
 * data, one row per sample.  A row's data are as of its time; its CPU is
 * measured between the moments the rows were taken, which may differ from
 * their times by a few milliseconds. */
struct cr_node_csv {
	FILE *f;
	int64_t last_ns;     /* the last row's time */
	uint64_t last_bytes;
	double last_cpu_s;   /* process CPU when it was taken, */
	int64_t last_cpu_ns; /* at this experiment time */
};

/* One row: data as of t_ns, CPU cpu_s (and memory) read at experiment
 * time cpu_ns. */
struct cr_node_csv_row {
	int64_t t_ns;
	double cpu_s;
	int64_t cpu_ns;
	uint64_t rss_bytes;
	uint64_t peers_alive;
	uint64_t data_bytes_in;
};

int cr_node_csv_open(struct cr_node_csv *c, const char *dir, char *err,
		     size_t errlen);
/* The experiment clock started (it reads now_ns): the first row's CPU
 * counts from here, not from the set-up before. */
void cr_node_csv_start(struct cr_node_csv *c, int64_t now_ns);
/* A row, over the interval since the last; none unless its time is later. */
void cr_node_csv_sample(struct cr_node_csv *c, const struct cr_node_csv_row *r);
/* The row of the moment the run ended, unless the last periodic row was
 * less than CR_NODE_CSV_MIN_LAST before it: a rate or a CPU share over a
 * few microseconds says nothing. */
#define CR_NODE_CSV_MIN_LAST (100 * 1000 * 1000) /* ns */
void cr_node_csv_final(struct cr_node_csv *c, const struct cr_node_csv_row *r);
/* 0 or -1 when something could not be written. */
int cr_node_csv_close(struct cr_node_csv *c);

/* Process CPU seconds (user + system), and resident memory in bytes. */
double cr_cpu_seconds(void);
uint64_t cr_rss_bytes(void);

#endif
