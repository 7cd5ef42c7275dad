/* The capability pattern: a worker in a sandbox with no network at all
 * (its own empty net namespace, and a seccomp profile that refuses to
 * make sockets) can still use a connection it is handed. The owner
 * connects, and passes the connected socket over the worker's chan; the
 * worker can use that one socket and nothing else.
 *
 * Here the server is a loopback listener in this process, so the example
 * needs no network either. */
#include <kin.h>

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* In the worker: try to make a socket of its own (refused), then ask the
 * handed one a question and return the answer. */
static int fetch(kin_request *req, void *userdata)
{
	(void)userdata;
	int own = socket(AF_INET, SOCK_STREAM, 0);
	int own_err = own < 0 ? errno : 0;
	if (own >= 0)
		close(own);
	if (req->nfds != 1)
		return 22;
	int conn = req->fds[0];
	char answer[64] = "";
	ssize_t n = -1;
	if (write(conn, "time?", 5) == 5)
		n = read(conn, answer, sizeof(answer) - 1);
	char text[160];
	int len = snprintf(text, sizeof(text), "a socket of my own: %s; the handed one says: %.*s",
			   own_err ? strerror(own_err) : "allowed (!)", n > 0 ? (int)n : 0, answer);
	return kin_buf_append(&req->reply, text, (size_t)len) == 0 ? 0 : 1;
}

static const kin_handler handlers[] = {{"fetch", fetch, NULL}, {NULL, NULL, NULL}};

/* The server: answers one question per connection. */
static void *serve(void *arg)
{
	int listener = *(int *)arg;
	int c = accept(listener, NULL, NULL);
	char q[16];
	if (c >= 0 && read(c, q, sizeof(q)) > 0)
		(void)!write(c, "half past ten", 13);
	if (c >= 0)
		close(c);
	return NULL;
}

int main(int argc, char **argv)
{
	if (kin_main(argc, argv, handlers) < 0)
		return 1;

	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listener, 1) < 0 || getsockname(listener, (struct sockaddr *)&addr, &len) < 0) {
		perror("listener");
		return 1;
	}
	pthread_t server;
	pthread_create(&server, NULL, serve, &listener);

	/* No network, no privileges, no new sockets but AF_UNIX ones (the chan
	 * is one), and the host's files read-only. */
	kin_sandbox sb = KIN_SANDBOX_INIT;
	sb.namespaces = KIN_NS_ALL;
	sb.ro_root = true;
	sb.seccomp = KIN_SECCOMP_DEFAULT | KIN_SECCOMP_NO_NETWORK;
	kin_spawn_opts spawn = KIN_SPAWN_OPTS_INIT;
	spawn.sandbox = &sb;
	kin_worker_opts o = KIN_WORKER_OPTS_INIT;
	o.spawn = &spawn;

	kin_loop *loop;
	kin_worker *w;
	kin_spawn_error why;
	if (kin_loop_new(&loop) < 0 || kin_worker_spawn(loop, &o, &w, &why) < 0) {
		fprintf(stderr, "sandboxed worker: %s\n", why.message);
		return 1;
	}
	printf("worker %d runs in a sandbox with no network\n", (int)kin_worker_pid(w));

	/* The owner connects; the worker gets the connection, nothing more. */
	int conn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn < 0 || connect(conn, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("connect");
		return 1;
	}
	int fds[1] = {conn};
	kin_msg m = {.fds = fds, .nfds = 1};
	kin_reply rep;
	int r = kin_call(w, "fetch", &m, kin_after(10 * KIN_SEC), &rep);
	if (r < 0) {
		fprintf(stderr, "fetch: %s\n", kin_strerror(r));
		return 1;
	}
	printf("worker: %.*s\n", (int)rep.len, (const char *)rep.data);
	kin_reply_release(&rep);

	pthread_join(server, NULL);
	close(listener);
	kin_worker_free(w);
	kin_loop_free(loop);
	return 0;
}
