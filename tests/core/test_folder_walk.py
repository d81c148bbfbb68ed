"""Folders are walked one way: `evaluate`, `scan` (and `train`), `classify FOLDER` agree.

A class folder that is a link back to the folder itself once made `evaluate` count every
image a second time under the linked class (top-1 halved, no warning), while `scan` skipped it.
"""

from __future__ import annotations

import pytest

from alexnet_tf.data.scan import scan_dataset
from tests.eval_folders import file_under, ranked_classes, write_images
from tests.model_fixtures import make_job

LABELS = ["blobs", "stripes", "checkers"]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    return make_job(tmp_path_factory.mktemp("job") / "job", LABELS)


def test_a_class_folder_linked_to_the_folder_itself_is_not_counted_again(job, tmp_path):
    from alexnet_tf.folder_evaluation import evaluate_folder
    from alexnet_tf.images import expand_inputs
    from alexnet_tf.inference import Classifier

    classifier = Classifier.load(job)
    paths = write_images(tmp_path / "loose", 6, seed=4)
    ranks = ranked_classes(classifier, paths)
    root = tmp_path / "L"
    for path, ranked in zip(paths, ranks, strict=True):
        file_under(root, path, LABELS[ranked[0]])  # every image right
    used = {LABELS[ranked[0]] for ranked in ranks}
    free = next(name for name in LABELS if name not in used)  # the "gravel" of the issue
    (root / free).symlink_to(root, target_is_directory=True)
    nested = next(iter(used))
    (root / nested / "again").symlink_to(root, target_is_directory=True)  # a loop inside

    report = evaluate_folder(classifier, root)
    assert report["num_examples"] == 6 and report["top1"] == 1.0
    skipped = {entry["path"]: entry["reason"] for entry in report["skipped"]}
    assert skipped == {str(root / free): skipped[str(root / free)]}
    assert "leads back into the folder" in skipped[str(root / free)]
    assert report["errors"] == [{"image": str(root / nested / "again"), "error": (
        "symbolic link, not followed (it leads back into the folder: its files would be "
        "counted again)"
    )}]  # fmt: skip

    # scan (what train uses) and classify FOLDER give the same reasons for the same links.
    scan = scan_dataset(root)
    scan_skipped = {str(r.path): r.reason for r in scan.skipped}
    assert scan_skipped[str(root / free)] == skipped[str(root / free)]
    assert scan_skipped[str(root / nested / "again")] == report["errors"][0]["error"]
    assert len(scan.items) == 6
    expanded = dict(expand_inputs([root]))
    assert sum(reason is None for reason in expanded.values()) == 6
    assert expanded[root / free] == skipped[str(root / free)]


def test_links_say_where_they_lead(tmp_path):
    from alexnet_tf.folder_walk import LINK, walk_files

    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.jpg").write_bytes(b"not decoded here")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "a" / "copy.jpg").symlink_to(root / "a" / "x.jpg")
    (root / "broken.jpg").symlink_to(tmp_path / "missing.jpg")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "y.jpg").write_bytes(b"")
    found = walk_files(root)
    assert found.files == [root / "a" / "x.jpg"]
    reasons = dict(found.skipped)
    assert reasons[root / "out"] == f"{LINK} (it leads outside the folder)"
    assert reasons[root / "a" / "copy.jpg"].endswith(
        "(it leads back into the folder: its files would be counted again)"
    )
    assert reasons[root / "broken.jpg"] == f"{LINK} (it is broken or a loop)"
    assert reasons[root / ".hidden"] == "hidden folder"
