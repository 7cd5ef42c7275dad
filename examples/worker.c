/* Workers: this program re-executes itself as a worker, calls named
 * handlers in it, and learns exactly how it ended.
 *
 * Copy this shape: kin_main() first thing in main(), the handlers in a
 * table, and kin_worker_spawn() wherever you want one. The same binary is
 * both the owner and (started by kin, with a chan on fd 3) the worker. */
#include <kin.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Raw bytes in, raw bytes out. */
static int upper(kin_request *req, void *userdata)
{
	(void)userdata;
	if (kin_buf_reserve(&req->reply, req->len) < 0)
		return 1;
	for (size_t i = 0; i < req->len; i++)
		req->reply.data[i] = (char)toupper(((const unsigned char *)req->args)[i]);
	req->reply.len = req->len;
	return 0;
}

/* MessagePack in and out: [a, b] -> a * b. A non-zero return is an error
 * the caller sees, with the reply as its detail. */
static int multiply(kin_request *req, void *userdata)
{
	(void)userdata;
	int64_t a, b;
	if (kin_mp_unpack(req->args, req->len, "[ii]", NULL, &a, &b) < 0) {
		kin_buf_append(&req->reply, "expected [int, int]", 19);
		return 22;
	}
	return kin_mp_pack(&req->reply, "i", a * b) == 0 ? 0 : 1;
}

static int whoami(kin_request *req, void *userdata)
{
	(void)userdata;
	return kin_mp_pack(&req->reply, "i", (int64_t)getpid()) == 0 ? 0 : 1;
}

static const kin_handler handlers[] = {
	{"upper", upper, NULL},
	{"multiply", multiply, NULL},
	{"whoami", whoami, NULL},
	{NULL, NULL, NULL},
};

static void on_down(kin_worker *w, const kin_exit_reason *reason, void *userdata)
{
	(void)userdata;
	char how[64];
	kin_exit_reason_format(reason, how, sizeof(how));
	printf("monitor: worker %d is down: %s\n", (int)kin_worker_pid(w), how);
}

int main(int argc, char **argv)
{
	/* In a worker, this serves `handlers` and never returns. */
	if (kin_main(argc, argv, handlers) < 0)
		return 1;

	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 1;
	kin_worker *w;
	kin_spawn_error why;
	if (kin_worker_spawn(loop, NULL, &w, &why) < 0) {
		fprintf(stderr, "worker: %s\n", why.message);
		return 1;
	}
	printf("owner %d started worker %d\n", (int)getpid(), (int)kin_worker_pid(w));

	kin_msg text = {.data = "hello, worker", .len = 13};
	kin_reply rep;
	if (kin_call(w, "upper", &text, kin_after(5 * KIN_SEC), &rep) == 0)
		printf("upper(\"hello, worker\") = \"%.*s\"\n", (int)rep.len, (char *)rep.data);
	kin_reply_release(&rep);

	kin_buf args = KIN_BUF_INIT;
	kin_mp_pack(&args, "[ii]", (size_t)2, (int64_t)6, (int64_t)7);
	kin_msg m = {.data = args.data, .len = args.len};
	int64_t product = 0;
	if (kin_call(w, "multiply", &m, kin_after(5 * KIN_SEC), &rep) == 0 &&
	    kin_mp_unpack(rep.data, rep.len, "i", &product) > 0)
		printf("multiply(6, 7) = %lld\n", (long long)product);
	kin_reply_release(&rep);
	kin_buf_free(&args);

	/* A handler's own error comes back as -EREMOTEIO with its detail. */
	kin_msg bad = {.data = "nonsense", .len = 8};
	if (kin_call(w, "multiply", &bad, kin_after(5 * KIN_SEC), &rep) == -EREMOTEIO)
		printf("multiply(\"nonsense\") failed: code %d, \"%.*s\"\n", rep.error, (int)rep.len,
		       (char *)rep.data);
	kin_reply_release(&rep);

	/* The worker dies mid-call: the call says how, and so does a monitor. */
	kin_worker_monitor(w, on_down, NULL, NULL);
	kill(kin_worker_pid(w), SIGKILL);
	if (kin_call(w, "whoami", NULL, kin_after(5 * KIN_SEC), &rep) == -ECONNRESET) {
		char how[64];
		kin_exit_reason_format(&rep.reason, how, sizeof(how));
		printf("whoami() failed: the worker ended: %s\n", how);
	}
	kin_reply_release(&rep);
	kin_loop_run(loop, kin_after(5 * KIN_SEC)); /* delivers the monitor's DOWN */

	kin_worker_free(w);
	kin_loop_free(loop);
	return 0;
}
