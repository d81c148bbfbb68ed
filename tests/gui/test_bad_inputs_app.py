"""Bad inputs of tests/bad_inputs.py in the app: the Fine-tune tab's scan report and the notice.

tests/gui/test_batch_and_errors.py already gives every image case of tests/image_cases.py a
batch row; here: a folder holding every case in the Fine-tune tab, and single files that are
not images (a FIFO, a device, a damaged TIFF, text named .jpg) opened in the main window.
"""

from __future__ import annotations

from pathlib import Path

from tests import bad_inputs
from tests.gui.conftest import MODEL_TIMEOUT_MS
from tests.gui.helpers import drop_files


def test_finetune_scan_report_lists_every_refused_and_skipped_file_with_its_reason(qtbot, tmp_path):
    from app.jobs.finetune_page import FinetunePage

    root = tmp_path / "data"
    paths = bad_inputs.make_dataset(root)
    if bad_inputs.is_root():  # root reads a mode-000 file: the app (in-process) uses it
        paths.pop("unreadable_file")
    page = FinetunePage()
    qtbot.addWidget(page)
    page.show()
    try:
        assert drop_files(page.drop_zone, [root])
        qtbot.waitUntil(lambda: page.scan is not None, timeout=60_000)
    finally:
        bad_inputs.restore_permissions(root)
    table = page.report.refused
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    for name, path in paths.items():
        case = bad_inputs.ALL_CASES[name]
        if case.outcome in ("refused", "skipped"):
            shown = str(path.relative_to(root))
            assert case.reason.lower() in rows[shown].lower(), (name, rows.get(shown))
    problems = page.report.problems.text()
    assert "'empty_class' has no usable image" in problems
    assert "'single_image_class' has only 1 usable image" in problems
    # The empty class folder blocks the start button, and the page says why.
    assert not page.start_button.isEnabled()
    assert "empty_class" in page.blocked_reason.text()
    assert page.report.classes.rowCount() == 5  # cases, empty, good_a, good_b, single


def test_opening_a_file_that_is_not_an_image_names_it_and_the_reason(qtbot, window, tmp_path):
    for name in ("fifo", "char_device", "tiff_damaged_width", "text_named_jpg"):
        case = bad_inputs.ALL_CASES[name]
        if not bad_inputs.can_make(case):
            continue
        path: Path = case.make(tmp_path)
        window.notice.hide()
        assert drop_files(window, [path])
        qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=MODEL_TIMEOUT_MS)
        text = window.notice.text()
        assert path.name in text and case.reason.lower() in text.lower(), (name, text)
        assert window.predictions.predictions == []  # nothing pretends to be a result

    # A folder with a FIFO named like a photo: its batch row says why it was not read.
    folder = tmp_path / "folder"
    good = bad_inputs.ALL_CASES["png"].make(folder)
    pipe = bad_inputs.ALL_CASES["fifo"].make(folder)
    window.open_paths([folder])
    qtbot.waitUntil(lambda: not window.batch_view.running, timeout=MODEL_TIMEOUT_MS)
    rows = {row.path: row for row in window.batch_view.rows.values()}
    assert "not a regular file" in rows[pipe].error
    assert not rows[good].error
