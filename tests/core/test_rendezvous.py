"""The workers of a multi-worker job meet within a deadline before TensorFlow connects them
(real sockets on 127.0.0.1, one thread per worker)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from alexnet_tf.training.rendezvous import JoinError, wait_for_workers
from tests.cli import free_ports


def _run_workers(workers: list[str], indices: list[int], timeout: float) -> dict[int, object]:
    """Run wait_for_workers for each index in its own thread; what each returned or raised."""
    outcomes: dict[int, object] = {}

    def worker(index):
        try:
            wait_for_workers(workers, index, timeout)
            outcomes[index] = "joined"
        except JoinError as error:
            outcomes[index] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in indices]
    for thread in threads:
        thread.start()
        time.sleep(0.3)  # started one after the other, as people do
    for thread in threads:
        thread.join(timeout + 10)
    return outcomes


def test_workers_started_in_any_order_all_join_and_worker_0_frees_its_port():
    ports = free_ports(3)
    workers = [f"127.0.0.1:{port}" for port in ports]
    assert _run_workers(workers, [2, 1, 0], timeout=20) == {0: "joined", 1: "joined", 2: "joined"}
    with socket.create_server(("", ports[0])):  # TensorFlow's server can take the port next
        pass


def test_worker_0_names_the_worker_that_never_joined():
    workers = [f"127.0.0.1:{port}" for port in free_ports(3)]
    began = time.monotonic()
    outcomes = _run_workers(workers, [0, 1], timeout=2)
    assert time.monotonic() - began < 15
    message = str(outcomes[0])
    assert message.startswith("The other workers of this job did not join within 2 s")
    assert f"missing: worker 2 at {workers[2]})" in message
    # Worker 1 arrived but never got the go: it gives up too, naming worker 0.
    assert str(outcomes[1]).startswith(f"Worker 0 of this job (at {workers[0]}) did not gather")


def test_a_worker_whose_worker_0_never_starts_gives_up():
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    with pytest.raises(JoinError, match=rf"Worker 0 of this job \(at {workers[0]}\) .* 1 s"):
        wait_for_workers(workers, 1, timeout=1)


def test_worker_0_says_when_its_port_is_taken():
    with socket.create_server(("127.0.0.1", 0)) as other_program:
        port = other_program.getsockname()[1]
        with pytest.raises(JoinError, match=f"cannot listen on port {port} .*another program"):
            wait_for_workers([f"127.0.0.1:{port}", "127.0.0.1:1"], 0, timeout=1)
