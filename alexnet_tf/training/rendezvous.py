"""The workers of a multi-worker job meet before TensorFlow connects them, within a deadline.

Creating a ``MultiWorkerMirroredStrategy`` waits, inside TensorFlow's C++ code and holding
Python's lock, for every worker listed in ``TF_CONFIG`` to join. A worker that was never
started (or was killed while starting) leaves the others waiting silently (measured: still
waiting after a minute, whatever coordination timeout is set), and no Python thread can cut
that wait short (measured: a timer thread never runs). So the workers meet here first, with
plain sockets and a deadline: each worker connects to worker 0 on worker 0's ``TF_CONFIG``
port and sends its index; once every worker has, worker 0 answers each one "go" and closes
the port, which TensorFlow's server then takes.
"""

from __future__ import annotations

import socket
import time

from ..errors import AlexNetStudioError

# A worker waits this many times the job's step watchdog floor for the others (10 min by
# default): people start the workers of one job by hand, one after the other.
JOIN_WAIT_FACTOR = 5
GO = b"go\n"


class JoinError(AlexNetStudioError):
    """The workers of a multi-worker job did not all join in time."""


def _host_and_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise JoinError(
            f"A TF_CONFIG worker address must be host:port. Received: {address!r}"
        ) from None


def wait_for_workers(workers: list[str], index: int, timeout: float) -> None:
    """Return once every worker of ``workers`` has reached this call; this is worker ``index``.

    Raises:
        JoinError: not all workers arrived within ``timeout`` seconds (the message names
            the missing ones), or worker 0's port is taken by another program.
    """
    deadline = time.monotonic() + timeout
    if index == 0:
        _gather(workers, deadline, timeout)
    else:
        _join(workers, index, deadline, timeout)


def _gather(workers: list[str], deadline: float, timeout: float) -> None:
    """Worker 0: accept every other worker's index, then send each one GO."""
    _, port = _host_and_port(workers[0])
    try:
        server = socket.create_server(("", port))  # SO_REUSEADDR: TensorFlow binds it next
    except OSError as error:
        raise JoinError(
            f"Worker 0 cannot listen on port {port} of TF_CONFIG ({error.strerror}): "
            "another program uses it; choose a free port for every worker."
        ) from None
    joined: dict[int, socket.socket] = {}
    try:
        with server:
            while len(joined) < len(workers) - 1:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = ", ".join(
                        f"worker {i} at {workers[i]}"
                        for i in range(1, len(workers))
                        if i not in joined
                    )
                    raise JoinError(
                        f"The other workers of this job did not join within {timeout:.0f} s "
                        f"(missing: {missing}): start every worker listed in TF_CONFIG, with "
                        "the same cluster and its own task index."
                    )
                server.settimeout(remaining)
                try:
                    connection, _ = server.accept()
                except TimeoutError:
                    continue
                worker = _read_index(connection, min(remaining, 5.0))
                if worker is None or not 0 < worker < len(workers):
                    connection.close()  # not one of ours (a port scanner, a stale client)
                    continue
                if worker in joined:  # a worker restarted: keep its newest connection
                    joined[worker].close()
                joined[worker] = connection
            for connection in joined.values():
                try:
                    connection.sendall(GO)
                except OSError:
                    pass  # it died just now: TensorFlow's own checks report it
    finally:
        for connection in joined.values():
            connection.close()


def _read_index(connection: socket.socket, timeout: float) -> int | None:
    connection.settimeout(timeout)
    try:
        with connection.makefile("rb") as lines:
            return int(lines.readline(16))
    except (OSError, ValueError):
        return None


def _join(workers: list[str], index: int, deadline: float, timeout: float) -> None:
    """A worker other than 0: connect to worker 0 (retrying until it listens), wait for GO."""
    host, port = _host_and_port(workers[0])
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            with socket.create_connection((host, port), timeout=min(remaining, 5.0)) as peer:
                peer.sendall(f"{index}\n".encode())
                peer.settimeout(max(deadline - time.monotonic(), 0.01))
                with peer.makefile("rb") as lines:
                    if lines.readline(len(GO)) == GO:
                        return
        except OSError:
            pass  # not listening yet, or it restarted: try again
        time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
    raise JoinError(
        f"Worker 0 of this job (at {workers[0]}) did not gather the workers within "
        f"{timeout:.0f} s: start every worker listed in TF_CONFIG, with the same cluster and "
        "its own task index."
    )
