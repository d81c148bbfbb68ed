"""The dataset scan: what becomes a training image, what is refused or skipped, and why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from alexnet_tf.data import DatasetError, DatasetScan, require_trainable, scan_dataset
from tests import image_cases
from tests.datasets import make_class_image, make_image_folder

ROOT = Path(__file__).resolve().parents[2]
SYMLINK = "symbolic link, not followed"


def write_images(folder: Path, count: int, label: int = 0, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"img_{i:03d}.png"
        make_class_image(label, 32, rng=None).save(path)
        paths.append(path)
    return paths


def reasons(entries) -> dict[Path, str]:
    return {entry.path: entry.reason for entry in entries}


def snapshot(folder: Path) -> dict:
    """Every entry below ``folder`` with its type, size and mtime (links not followed)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            info = os.lstat(os.path.join(dirpath, name))
            state[os.path.join(dirpath, name)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    info = os.lstat(folder)
    state[str(folder)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return state


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The shared generated folder (3 classes, bad files) and its scan, with callbacks recorded."""
    info = make_image_folder(tmp_path_factory.mktemp("generated") / "data", per_class=8)
    calls, ticks = [], []
    scan = scan_dataset(
        info["root"],
        on_image=lambda path, label, image: calls.append((path, label, image.mode, image.size)),
        progress=lambda done, total: ticks.append((done, total)),
    )
    return info, scan, calls, ticks


def test_generated_folder_classes_counts_refused_and_skipped(generated):
    info, scan, _, _ = generated
    assert scan.trainable, scan.errors
    assert scan.classes == info["classes"]
    assert scan.counts() == info["counts"]
    assert [item.path for item in scan.items] == [
        path for name in info["classes"] for path in info["images"][name]
    ]
    assert [item.label for item in scan.items] == sorted(item.label for item in scan.items)
    refused = reasons(scan.refused)
    assert sorted(refused) == info["refused"]
    assert "truncated" in refused[info["root"] / "a_blobs" / "truncated.jpg"]
    assert "not an image" in refused[info["root"] / "c_vstripes" / "notes.jpg"]
    skipped = reasons(scan.skipped)
    assert sorted(skipped) == info["skipped"]
    assert "AppleDouble" in skipped[info["root"] / "a_blobs" / "._a_blobs_000.jpg"]
    assert ".DS_Store" in skipped[info["root"] / ".DS_Store"]
    assert "Thumbs.db" in skipped[info["root"] / "c_vstripes" / "Thumbs.db"]
    # A nested sub-folder of a class belongs to that class.
    nested = [item for item in scan.items if item.path.parent.name == "nested"]
    assert [item.label for item in nested] == [0]
    assert scan.warnings == []


def test_callbacks_see_each_accepted_image_once_in_item_order(generated):
    info, scan, calls, ticks = generated
    assert [(path, label) for path, label, _, _ in calls] == [
        (item.path, item.label) for item in scan.items
    ]
    assert all(mode == "RGB" and size == (64, 64) for _, _, mode, size in calls)
    total = info["num_images"] + len(info["refused"])  # every candidate is decoded
    assert ticks[0] == (0, total) and ticks[-1] == (total, total)
    assert [done for done, _ in ticks] == list(range(total + 1))


def test_report_is_json_and_round_trips(generated):
    _, scan, _, _ = generated
    data = json.loads(json.dumps(scan.to_dict(), ensure_ascii=False))
    assert data["trainable"] is True
    assert data["counts"] == scan.counts()
    assert data["num_images"] == len(scan.items)
    assert {r["path"] for r in data["refused"]} == {str(r.path) for r in scan.refused}
    assert DatasetScan.from_dict(data) == scan


def test_fingerprint_is_stable_and_follows_content_and_names(tmp_path):
    info = make_image_folder(tmp_path / "data", classes=2, per_class=4, bad_files=False)
    first = scan_dataset(info["root"]).fingerprint
    assert scan_dataset(info["root"]).fingerprint == first
    # The same images elsewhere give the same fingerprint (paths are relative to the root).
    shutil.copytree(info["root"], tmp_path / "copy")
    assert scan_dataset(tmp_path / "copy").fingerprint == first
    # A new bad file does not change what trains, so neither does it change the fingerprint.
    (info["root"] / "a_blobs" / "broken.jpg").write_bytes(b"not an image")
    assert scan_dataset(info["root"]).fingerprint == first
    changed = info["images"]["a_blobs"][0]
    make_class_image(0, 64).save(changed)
    assert scan_dataset(info["root"]).fingerprint != first
    shutil.copytree(tmp_path / "copy", tmp_path / "renamed")
    (tmp_path / "renamed" / "b_hstripes").rename(tmp_path / "renamed" / "stripes")
    assert scan_dataset(tmp_path / "renamed").fingerprint != first


def test_scan_writes_nothing_into_the_folder(tmp_path):
    info = make_image_folder(tmp_path / "data", classes=3, per_class=5)
    (info["root"] / "a_blobs" / "deeper" / "still").mkdir(parents=True)
    write_images(info["root"] / "a_blobs" / "deeper" / "still", 2)
    before = snapshot(info["root"])
    scan_dataset(info["root"], on_image=lambda *args: None)
    from alexnet_tf.cli import run

    run(["scan", str(info["root"]), "--json"])
    assert snapshot(info["root"]) == before


def test_every_image_case_is_accepted_or_refused_with_its_reason(tmp_path):
    root = tmp_path / "data"
    cases = image_cases.write_all_cases(root / "cases")
    write_images(root / "other", 2)
    scan = scan_dataset(root)
    accepted = {item.path for item in scan.items}
    refused = reasons(scan.refused)
    for name, case in cases.items():
        if case.expected is None:
            assert case.path in refused, name
            assert case.reason.lower() in refused[case.path].lower(), (name, refused[case.path])
        else:
            assert case.path in accepted, (name, refused.get(case.path))
    assert "HEIC" in refused[cases["heic"].path]  # unsupported formats are named
    assert "too large" in refused[cases["decompression_bomb"].path]


def test_symlinks_out_of_the_folder_and_loops_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    secret = write_images(outside, 3)
    root = tmp_path / "data"
    write_images(root / "cat", 3)
    write_images(root / "dog", 3, label=1)
    (root / "cat" / "escape.png").symlink_to(secret[0])
    (root / "cat" / "escape_dir").symlink_to(outside, target_is_directory=True)
    (root / "dog" / "loop").symlink_to(root, target_is_directory=True)
    (root / "dog" / "self").symlink_to(root / "dog" / "self")  # a link to itself
    (root / "linked_class").symlink_to(outside, target_is_directory=True)
    scan = scan_dataset(root)
    assert scan.classes == ["cat", "dog"]
    assert scan.counts() == {"cat": 3, "dog": 3}
    assert not any(str(item.path).startswith(str(outside)) for item in scan.items)
    skipped = reasons(scan.skipped)
    for link in ("cat/escape.png", "cat/escape_dir", "dog/loop", "dog/self", "linked_class"):
        assert skipped[root / link].startswith(SYMLINK), link
    assert scan.trainable


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_skipped_without_blocking(tmp_path):
    root = tmp_path / "data"
    write_images(root / "cat", 2)
    write_images(root / "dog", 2, label=1)
    os.mkfifo(root / "cat" / "pipe.jpg")  # opening it for reading would block forever
    scan = scan_dataset(root)
    assert "not a regular file" in reasons(scan.skipped)[root / "cat" / "pipe.jpg"]
    assert scan.counts() == {"cat": 2, "dog": 2}


def test_unreadable_file_and_folder_are_refused_with_permission_reason(tmp_path):
    if os.name != "posix":
        pytest.skip("permissions test needs POSIX")
    root = tmp_path / "data"
    unreadable = write_images(root / "cat", 3)[0]
    write_images(root / "dog", 2, label=1)
    locked = root / "dog" / "locked"
    write_images(locked, 1)
    unreadable.chmod(0)
    locked.chmod(0)
    try:
        if os.geteuid() != 0:
            report = scan_dataset(root).to_dict()
        else:
            report = scan_as_root_without_file_permission_override(root)
    finally:
        unreadable.chmod(0o644)
        locked.chmod(0o755)
    refused = {r["path"]: r["reason"] for r in report["refused"]}
    assert "permission denied" in refused[str(unreadable)]
    assert "permission denied" in refused[str(locked)]  # an unreadable sub-folder
    assert report["counts"] == {"cat": 2, "dog": 2}


def scan_as_root_without_file_permission_override(root: Path) -> dict:
    """Root reads any file whatever its mode; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    it obeys the permission bits like any user, which is what this test needs."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip(
            "running as root and setpriv (util-linux) is missing: cannot drop the "
            "capability that lets root read a mode-000 file"
        )
    code = (
        "import json, sys; from alexnet_tf.data import scan_dataset; "
        "print(json.dumps(scan_dataset(sys.argv[1]).to_dict()))"
    )
    caps = "-dac_override,-dac_read_search"
    result = subprocess.run(
        [
            setpriv,
            f"--inh-caps={caps}",
            f"--bounding-set={caps}",
            sys.executable,
            "-c",
            code,
            str(root),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0 and "setpriv" in result.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_unicode_class_names_sorted_and_kept(tmp_path):
    root = tmp_path / "data"
    names = ["猫", "chien été", "Ölfarbe 🎨", "dog"]
    for label, name in enumerate(names):
        write_images(root / name, 2, label=label)
    scan = scan_dataset(root)
    assert scan.classes == sorted(names)
    assert scan.counts() == dict.fromkeys(sorted(names), 2)
    data = json.loads(json.dumps(scan.to_dict(), ensure_ascii=False))
    assert data["classes"] == sorted(names)


def test_hidden_folders_and_root_files_are_skipped(tmp_path):
    root = tmp_path / "data"
    write_images(root / "cat", 2)
    write_images(root / "dog", 2, label=1)
    write_images(root / ".git", 2)
    write_images(root / "cat" / ".thumbnails", 2)
    write_images(root / "__MACOSX", 1)
    loose = write_images(root, 1)[0]
    scan = scan_dataset(root)
    assert scan.classes == ["cat", "dog"]
    assert scan.counts() == {"cat": 2, "dog": 2}
    skipped = reasons(scan.skipped)
    assert skipped[root / ".git"] == "hidden folder"
    assert skipped[root / "cat" / ".thumbnails"] == "hidden folder"
    assert "__MACOSX" in skipped[root / "__MACOSX"]
    assert "not inside a class folder" in skipped[loose]


def test_identical_images_across_and_within_classes_are_warned(tmp_path):
    root = tmp_path / "data"
    cats = write_images(root / "cat", 3)
    write_images(root / "dog", 3, label=1)
    shutil.copy(cats[0], root / "dog" / "same_as_cat.png")
    shutil.copy(cats[1], root / "cat" / "copy.png")
    scan = scan_dataset(root)
    assert scan.trainable  # warnings do not block training
    across = [w for w in scan.warnings if "two classes" in w]
    assert len(across) == 1
    assert "cat/img_000.png" in across[0] and "dog/same_as_cat.png" in across[0]
    within = [w for w in scan.warnings if w.startswith("Duplicate image in class 'cat'")]
    assert len(within) == 1 and "cat/copy.png" in within[0] and "cat/img_001.png" in within[0]


def test_small_and_empty_classes(tmp_path):
    root = tmp_path / "data"
    write_images(root / "cat", 4)
    write_images(root / "dog", 4, label=1)
    write_images(root / "owl", 1, label=2)
    (root / "empty").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "x.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    scan = scan_dataset(root)
    assert not scan.trainable
    assert any("'owl'" in w and "training only" in w for w in scan.warnings)
    assert len(scan.errors) == 2
    assert any("'empty'" in e and str(root / "empty") in e for e in scan.errors)
    assert any("'broken'" in e and "no usable image" in e for e in scan.errors)
    with pytest.raises(DatasetError, match="no usable image") as raised:
        require_trainable(scan)
    assert str(root) in str(raised.value)


def test_too_few_classes_and_bad_roots(tmp_path):
    one = tmp_path / "one"
    write_images(one / "cat", 3)
    scan = scan_dataset(one)
    assert any("at least 2 classes" in e for e in scan.errors)

    flat = tmp_path / "flat"
    write_images(flat, 3)
    scan = scan_dataset(flat)
    assert any("No class folders" in e and "one sub-folder per class" in e for e in scan.errors)
    assert len(scan.skipped) == 3

    scan = scan_dataset(tmp_path / "missing")
    assert scan.errors == [
        f"The dataset folder {tmp_path / 'missing'} does not exist: check the path."
    ]
    file = tmp_path / "file.png"
    Image.new("RGB", (4, 4)).save(file)
    assert "is not a folder" in scan_dataset(file).errors[0]
    for path in (one, flat, tmp_path / "missing"):
        with pytest.raises(DatasetError):
            require_trainable(scan_dataset(path))


def test_strong_imbalance_is_warned_with_numbers(tmp_path):
    root = tmp_path / "data"
    write_images(root / "many", 10)
    write_images(root / "few", 2, label=1)
    scan = scan_dataset(root)
    assert scan.trainable
    [warning] = [w for w in scan.warnings if "imbalanced" in w]
    assert "'many' has 10" in warning and "'few' only 2" in warning
    write_images(root / "few", 1, label=1, start=2)  # 10 vs 3: below 5x
    assert not any("imbalanced" in w for w in scan_dataset(root).warnings)


def test_on_image_exception_stops_the_scan(tmp_path):
    root = tmp_path / "data"
    write_images(root / "cat", 3)
    write_images(root / "dog", 3, label=1)
    seen = []

    class Stop(Exception):
        pass

    def on_image(path, label, image):
        seen.append(path)
        if len(seen) == 2:
            raise Stop()

    with pytest.raises(Stop):
        scan_dataset(root, on_image=on_image)
    assert len(seen) == 2


def test_names_that_are_not_utf8_are_refused_and_the_report_stays_printable(tmp_path):
    root = tmp_path / "data"
    write_images(root / "cat", 2)
    write_images(root / "dog", 2, label=1)
    bad_name = os.fsencode(root / "cat") + b"/caf\xe9.png"  # Latin-1 bytes, not UTF-8
    try:
        with open(bad_name, "wb") as file:
            make_class_image(0, 32).save(file, "PNG")
    except OSError as error:  # some file systems refuse such names outright
        pytest.skip(f"this file system does not store non-UTF-8 names: {error}")
    scan = scan_dataset(root)
    assert scan.counts() == {"cat": 2, "dog": 2}
    [refused] = scan.refused
    assert refused.path == Path(os.fsdecode(bad_name)) and "not valid UTF-8" in refused.reason
    text = json.dumps(scan.to_dict(), ensure_ascii=False)
    assert "caf\ufffd.png" in text
    text.encode("utf-8")  # what scan --json prints


def test_a_device_file_is_skipped_without_reading_it(tmp_path):
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("making a device file needs root")
    import stat

    root = tmp_path / "data"
    write_images(root / "cat", 2)
    write_images(root / "dog", 2, label=1)
    # /dev/zero's numbers: reading it would never end.
    os.mknod(root / "cat" / "zero.jpg", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    scan = scan_dataset(root)
    assert "not a regular file" in reasons(scan.skipped)[root / "cat" / "zero.jpg"]
    assert scan.counts() == {"cat": 2, "dog": 2}
