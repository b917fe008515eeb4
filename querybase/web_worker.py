"""gunicorn's worker for the web process: gthread, taking a connection only with a thread free.

Every worker process waits on the same listening socket, and in gunicorn's gthread worker
the main thread accepts whatever arrives whether or not a thread is free to serve it: an
accepted connection queues inside that process behind the requests it already serves. A
kept-alive connection then stays with the process that took it. Under wrk (16 kept-alive
connections, 2 workers x 8 threads) one worker often held 15 connections and the other 1,
so one process, one interpreter lock and one core did nearly all the work on a 2-core
machine; and a worker whose threads all wait (a `wait` for a queued read, an export) took
new connections it could not serve while another worker stood idle.

Here a worker stops accepting once each of its threads has a connection, and starts
again when one finishes: a connection it cannot serve stays in the kernel's queue for a
worker that can. Connections it already holds are served as before.

The attribute and method names are gthread's (gunicorn is pinned in requirements.txt);
tests/test_shipped_server.py checks the behaviour through the shipped server.
"""

from concurrent.futures import Future

from gunicorn.workers.gthread import TConn, ThreadWorker


class WebWorker(ThreadWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Connections handed to the thread pool and not yet given back (served, deferred
        # to the poller or closed): the threads in use, or queued for one.
        self.connections_in_threads = 0

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread's loop asks to accept whenever it holds fewer connections than
        # worker_connections; a stopping worker never accepts again.
        has_free_thread = self.connections_in_threads < self.cfg.threads
        super().set_accept_enabled(enabled and self.alive and has_free_thread)

    def enqueue_req(self, conn: TConn) -> None:
        self.connections_in_threads += 1
        if self.connections_in_threads >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn: TConn, fs: Future) -> None:
        # Runs on the main thread; its loop turns accepting back on before it next waits.
        self.connections_in_threads -= 1
        super().finish_request(conn, fs)
