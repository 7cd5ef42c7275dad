/* Shared pieces of kin-bench: timing, statistics and the one-line report.
 *
 * Every benchmark measures kin and a raw C baseline in the same run,
 * alternating between the two, because the machine is shared and noisy:
 * drift then hits both sides alike instead of skewing the ratio. */
#ifndef KIN_BENCH_H
#define KIN_BENCH_H

#include "kin.h"

#include <stdbool.h>
#include <stddef.h>

/* KIN_BENCH_VERBOSE=1 in the environment: print every round on '#' lines. */
extern bool bench_verbose;

/* Seconds on CLOCK_MONOTONIC. */
double bench_seconds(void);

/* CPU seconds this process has used (its own threads, not its children):
 * the owner's share of the work, steadier than wall time on a busy host. */
double bench_cpu_seconds(void);

/* Median of v[0..n); sorts v in place. */
double bench_median(double *v, size_t n);

/* The one result line every benchmark prints:
 *   <name> kin=<x> baseline=<y> unit=<u> ratio=<x/y> */
void bench_result(const char *name, double kin, double baseline, const char *unit, double ratio);

/* A context line; "# " is prepended and a newline appended. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a setup failure (not a missed target) on a '#' line and remembers
 * it, so kin-bench exits 1 after the remaining benchmarks have run. */
void bench_fail(const char *name, const char *what, int err);

/* "PASS" or "MISS". */
const char *bench_verdict(bool pass);

/* Current VmRSS and VmHWM of this process in KiB, or -1. */
long bench_vm_kib(const char *field);

/* The benchmarks, one per file. */
void bench_spawn_true(void);
void bench_stream_cat(void);
void bench_slow_reader_rss(void);
void bench_many_children(void);
void bench_chan_rtt(void);
void bench_chan_oneway(void);
void bench_fd_pass(void);
void bench_hol_small_msg(void);

/* The children of the chan benchmarks: `kin-bench --chan-peer MODE N CPU`. */
int bench_chan_peer(int argc, char **argv);

#endif
