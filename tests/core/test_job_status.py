"""A job whose process died is seen as dead at once, even before its parent reaps it."""

import subprocess
import sys
import time

from alexnet_tf.jobfolder import job_is_alive


def test_killed_job_process_is_not_alive_even_as_an_unreaped_zombie():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    status = {"state": "running", "heartbeat": time.time(), "pid": process.pid}
    try:
        assert job_is_alive(status)
        process.kill()
        time.sleep(0.5)  # dead but not reaped: the app would see this until it calls wait()
        assert not job_is_alive(status)
    finally:
        process.kill()
        process.wait()
    assert not job_is_alive(status)


def test_stale_heartbeat_or_finished_state_is_not_alive():
    status = {"state": "running", "heartbeat": time.time() - 3600, "pid": 1}
    assert not job_is_alive(status)
    assert not job_is_alive({"state": "finished", "heartbeat": time.time(), "pid": 1})
