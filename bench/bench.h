/* Shared pieces of kin-bench: timing, statistics and the one-line report.
 *
 * Every benchmark measures kin and a raw C baseline in the same run,
 * alternating between the two, because the machine is shared and noisy:
 * drift then hits both sides alike instead of skewing the ratio. */
#ifndef KIN_BENCH_H
#define KIN_BENCH_H

#include "kin.h"

#include <sched.h>

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

/* The worker benchmarks (bench/worker.c), the handlers kin-bench serves as
 * a worker, and the raw baseline's child: `kin-bench --raw-worker`. */
void bench_rpc_call(void);
void bench_rpc_pipelined(void);
void bench_worker_spawn(void);
void bench_zygote_spawn(void);
/* bench/sandbox.c */
void bench_sandbox_spawn(void);
extern const kin_handler bench_worker_handlers[];
int bench_raw_worker_main(void);

/* Shared by the chan and worker benchmarks (bench/chan.c). */

/* The owner pins itself to the CPU it is on for one benchmark; children
 * it spawns from the main thread inherit that. */
typedef struct bench_pinning {
	cpu_set_t saved;
	bool pinned;
	int cpu;   /* the owner's, or -1 */
	int other; /* another CPU it may use, or -1 */
} bench_pinning;
void bench_pin_owner(bench_pinning *p);
void bench_unpin_owner(const bench_pinning *p);

/* A `--chan-peer MODE` child and the owner's end of its fd 3: MODE "echo"
 * and "count" speak kin_chan, "raw-echo", "raw-count" and "raw-fd-count"
 * plain send/recv. */
typedef struct bench_peer {
	kin_proc *proc;
	kin_chan *chan; /* kin side */
	int fd;         /* raw side */
} bench_peer;
int bench_peer_start(kin_loop *loop, const char *mode, long n, int cpu, bench_peer *p);
int bench_peer_stop(bench_peer *p);
/* n 64 B messages (each with a dup of fd, if fd >= 0) to a raw counting
 * peer, one send each: messages per second, or -1 with *err set. */
double bench_raw_flow(int sock, int n, int fd, int *err);

#endif
