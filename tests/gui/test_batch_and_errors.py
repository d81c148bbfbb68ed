"""Several images, bad files, refused models, missing weights: the window says what happened."""

from __future__ import annotations

import csv
import sys
import threading

import keras

from app.log import install_exception_hooks, log_path, setup_logging
from tests.gui.conftest import MODEL_TIMEOUT_MS
from tests.gui.helpers import drop_files
from tests.image_cases import write_case


def test_dropped_folder_fills_the_batch_table_and_exports_csv(qtbot, window, photos, tmp_path):
    bad = write_case("truncated_jpeg", photos[0].parent).path
    assert drop_files(window, [photos[0].parent])  # a folder
    assert window.tabs.currentWidget() is window.batch_view
    qtbot.waitUntil(lambda: not window.batch_view.running, timeout=MODEL_TIMEOUT_MS)

    table = window.batch_view.table
    assert table.rowCount() == 4
    names = [table.item(row, 1).text() for row in range(4)]
    assert sorted(names) == sorted([p.name for p in photos] + [bad.name])
    bad_row = names.index(bad.name)
    assert "truncated" in table.item(bad_row, 2).text()
    good_row = names.index("garden.jpg")
    assert table.item(good_row, 2).toolTip().count("\n") == 4  # the top-5 on hover
    assert table.item(good_row, 3).text().endswith("%")
    assert not table.item(good_row, 0).icon().isNull()  # thumbnail
    assert "1 could not be read" in window.batch_view.summary.text()

    out = window.export_csv_to(tmp_path / "results.csv")
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == names
    assert rows[good_row]["top1_label"] == table.item(good_row, 2).text()
    assert len(rows[good_row]["top5"].split("|")) == 5
    assert "truncated" in rows[bad_row]["error"]
    assert not list(photos[0].parent.glob("*.csv"))  # nothing written into the image folder


def test_batch_can_be_cancelled(qtbot, window, photos, tmp_path):
    many = [photos[index % 3] for index in range(200)]
    window.open_paths(many)
    window.batch_view.cancel_button.click()
    qtbot.waitUntil(lambda: not window.batch_view.running, timeout=MODEL_TIMEOUT_MS)
    assert "Cancelled after" in window.batch_view.summary.text()
    assert len(window.batch_view.rows) < 200


def test_bad_file_shows_its_name_and_reason_and_the_app_goes_on(qtbot, window, photos, tmp_path):
    bad = write_case("html_named_jpg", tmp_path).path
    assert drop_files(window, [bad])
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=MODEL_TIMEOUT_MS)
    assert bad.name in window.notice.text()
    assert "HTML" in window.notice.text()
    assert window.predictions.predictions == []  # nothing pretends to be a result

    drop_files(window, [photos[0]])
    qtbot.waitUntil(
        lambda: window.current_result is not None and len(window.predictions.predictions) == 5,
        timeout=MODEL_TIMEOUT_MS,
    )
    assert not window.notice.isVisible()


def test_unsafe_keras_model_is_refused_with_a_clear_message(qtbot, window, tmp_path):
    inputs = keras.Input((227, 227, 3))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    unsafe = tmp_path / "unsafe.keras"
    keras.Model(inputs, outputs).save(unsafe)

    window.model_chooser.choose(unsafe)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=MODEL_TIMEOUT_MS)
    assert "unsafe.keras" in window.notice.text()
    assert "safe mode" in window.notice.text()
    qtbot.waitUntil(lambda: window.model_ready, timeout=MODEL_TIMEOUT_MS)
    assert "ImageNet" in window.model_status.text()  # the previous model is still in use
    assert window.model_chooser.current_spec() is None


def test_missing_weights_banner_and_no_predictions(qtbot, window_without_weights, photos):
    window = window_without_weights
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=MODEL_TIMEOUT_MS)
    assert window.banner.download_button.isEnabled()
    assert window.banner.import_button.isEnabled()
    assert "not installed" in window.predictions.message

    drop_files(window, [photos[0]])
    qtbot.wait(300)
    assert window.predictions.predictions == []
    assert window.current_result is None


def test_unexpected_error_is_logged_with_its_traceback(qtbot, window, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    setup_logging()
    install_exception_hooks(window.show_notice)
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert "boom in a slot" in window.notice.text()
    assert str(log_path()) in window.notice.text()
    log = log_path().read_text(encoding="utf-8")
    assert "Traceback" in log and "boom in a slot" in log


def test_every_bad_input_case_gets_a_row_with_its_reason_or_a_result(qtbot, window, tmp_path):
    from tests import image_cases

    cases = image_cases.write_all_cases(tmp_path / "cases")
    window.open_paths([case.path for case in cases.values()])
    qtbot.waitUntil(lambda: not window.batch_view.running, timeout=MODEL_TIMEOUT_MS * 3)
    rows = {row.path: row for row in window.batch_view.rows.values()}
    assert set(rows) == {case.path for case in cases.values()}
    for name, case in cases.items():
        row = rows[case.path]
        if case.expected is None:
            assert row.error and case.reason.lower() in row.error.lower(), (name, row.error)
        else:
            assert not row.error, (name, row.error)
    failed = len(image_cases.REFUSED)
    assert f"{failed} could not be read" in window.batch_view.summary.text()
