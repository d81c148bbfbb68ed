"""Downloading weights from a local HTTP server: success, resume, checksum, errors."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from alexnet_tf.errors import DownloadError, WeightsError
from alexnet_tf.weights import store
from alexnet_tf.weights.download import (
    FILE_NAMES,
    SOURCES,
    download_file,
    download_weights,
    downloads_dir,
    part_path,
)
from tests.local_server import LocalServer, closed_port
from tests.synthetic_weights import (
    bvlc_files,
    discard_installed_weights,  # noqa: F401 (autouse)
    write_hostile_npy,
)

PAYLOAD = os.urandom(3_000_000)
PAYLOAD_SHA1 = hashlib.sha1(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    with LocalServer() as server:
        server.behaviour.files["/file.bin"] = PAYLOAD
        yield server


def test_download_reports_progress_and_verifies_the_checksum(server, tmp_path):
    seen = []
    dest = download_file(
        server.url("/file.bin"),
        tmp_path / "file.bin",
        expected_sha1=PAYLOAD_SHA1,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert dest.read_bytes() == PAYLOAD
    assert not part_path(dest).exists()
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_cut_connection_keeps_the_part_and_the_next_run_resumes(server, tmp_path):
    server.behaviour.cut_after = 1_000_000
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match="cut after 1000000 of 3000000 bytes.*resume") as caught:
        download_file(server.url("/file.bin"), dest, expected_sha1=PAYLOAD_SHA1)
    assert server.url("/file.bin") in str(caught.value)
    assert not dest.exists()
    assert part_path(dest).read_bytes() == PAYLOAD[:1_000_000]

    download_file(server.url("/file.bin"), dest, expected_sha1=PAYLOAD_SHA1)
    assert dest.read_bytes() == PAYLOAD
    assert server.behaviour.requests[-1]["range"] == "bytes=1000000-"


def test_a_server_that_ignores_range_gives_the_whole_file_again(server, tmp_path):
    server.behaviour.ignore_range = True
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(b"stale bytes from some other file")
    download_file(server.url("/file.bin"), dest, expected_sha1=PAYLOAD_SHA1)
    assert dest.read_bytes() == PAYLOAD
    assert server.behaviour.requests[-1]["range"] is not None  # it was asked, and ignored


def test_a_part_as_long_as_the_file_restarts_cleanly(server, tmp_path):
    dest = tmp_path / "file.bin"
    part_path(dest).write_bytes(b"x" * (len(PAYLOAD) + 10))  # 416 for the Range request
    download_file(server.url("/file.bin"), dest, expected_sha1=PAYLOAD_SHA1)
    assert dest.read_bytes() == PAYLOAD


def test_wrong_checksum_installs_nothing_and_discards_the_file(server):
    server.behaviour.files["/bvlc_alexnet.caffemodel"] = PAYLOAD  # not the BVLC file
    with pytest.raises(DownloadError, match=f"sha1 is {PAYLOAD_SHA1}, not the expected"):
        download_weights("caffemodel", url=server.url("/bvlc_alexnet.caffemodel"))
    assert not store.weights_installed()
    assert list(downloads_dir().iterdir()) == []


def test_http_error_is_reported_with_the_url_and_status(server):
    server.behaviour.status = 500
    url = server.url("/bvlc_alexnet.npy")
    with pytest.raises(DownloadError, match="HTTP 500") as caught:
        download_weights("npy", url=url)
    assert url in str(caught.value)
    assert not store.weights_installed()


def test_no_network_is_reported_with_the_url_and_the_reason():
    url = f"http://127.0.0.1:{closed_port()}/bvlc_alexnet.npy"
    with pytest.raises(DownloadError, match="connection refused") as caught:
        download_weights("npy", url=url)
    assert url in str(caught.value)
    assert not store.weights_installed()


def test_downloaded_npy_is_installed_and_the_download_removed(server):
    path = bvlc_files()["npy"]
    server.behaviour.files["/w.npy"] = path.read_bytes()
    progress = []
    info = download_weights("npy", url=server.url("/w.npy"), progress=lambda *a: progress.append(a))
    assert store.weights_installed()
    assert info["url"] == server.url("/w.npy")
    assert info["format"] == "npy" and info["source"] == FILE_NAMES["npy"]
    assert info["sha1"] == hashlib.sha1(path.read_bytes()).hexdigest()
    assert progress[-1] == (path.stat().st_size, path.stat().st_size)
    assert list(downloads_dir().iterdir()) == []


def test_downloaded_file_that_is_not_weights_is_not_installed(server, tmp_path):
    marker = tmp_path / "pwned"
    server.behaviour.files["/evil.npy"] = write_hostile_npy(tmp_path / "e.npy", marker).read_bytes()
    with pytest.raises(WeightsError, match="refused"):
        download_weights("npy", url=server.url("/evil.npy"))
    assert not marker.exists()
    assert not store.weights_installed()
    assert list(downloads_dir().iterdir()) == []


def test_unknown_source_is_a_clear_argument_error():
    with pytest.raises(ValueError, match="Received: source='bvlc'"):
        download_weights("bvlc")
    assert SOURCES["caffemodel"][1] == "9116a64c0fbe4459d18f4bb6b56d647b63920377"


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_redraws_in_place_on_a_terminal_and_prints_lines_otherwise():
    from alexnet_tf.cli.weights import ProgressBar

    terminal, log = _Terminal(), io.StringIO()
    for stream in (terminal, log):
        bar = ProgressBar(stream)
        for done in range(0, 3_000_001, 100_000):
            bar.update(done, 3_000_000)
        bar.close()
    assert terminal.getvalue().startswith("\r[")
    assert terminal.getvalue().endswith("] 100%  3.0 / 3.0 MB\n")
    assert terminal.getvalue().count("\n") == 1
    lines = log.getvalue().splitlines()
    assert [line.split("%")[0].strip() for line in lines] == [str(p) for p in range(0, 101, 10)]
