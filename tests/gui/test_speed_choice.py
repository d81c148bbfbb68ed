"""The Fine-tune page offers the precision this machine's measurement found fastest."""

from __future__ import annotations

import pytest

from alexnet_tf import speed
from alexnet_tf.machine import describe_machine
from app.jobs.finetune_page import FinetunePage
from tests.core.test_speed import EPYC_AVX2, XEON_AMX, entry_for
from tests.gui.conftest import MODEL_TIMEOUT_MS
from tests.gui.helpers import drop_files


def wait_for_result(qtbot, window, after: int) -> None:
    """Wait until the window shows the result of a request newer than ``after``."""
    qtbot.waitUntil(
        lambda: (
            window.current_request > after
            and window.current_result is not None
            and window.current_result.request_id == window.current_request
        ),
        timeout=MODEL_TIMEOUT_MS,
    )


def precision_row(page):
    combo = page.settings.precision
    return combo.currentData(), combo.currentText(), page.settings.precision_help.text()


def test_bf16_is_recommended_where_it_was_measured_faster(qtbot):
    speed.save_measurement(entry_for(describe_machine(), XEON_AMX))
    page = FinetunePage()
    qtbot.addWidget(page)
    chosen, title, help_text = precision_row(page)
    assert chosen == "bf16" and "recommended" in title
    assert "bf16 trains 1.72x as fast as fp32 on this machine (faster: recommended" in help_text


def test_fp32_stays_where_bf16_is_not_faster_and_a_new_measurement_updates_the_page(qtbot):
    page = FinetunePage()
    qtbot.addWidget(page)
    chosen, title, help_text = precision_row(page)
    assert chosen == "fp32" and "recommended" not in title
    assert "Not measured on this machine yet" in help_text

    speed.save_measurement(entry_for(describe_machine(), EPYC_AVX2))
    page.settings.show_speed_measurement()  # what the window does when the measurement ends
    chosen, title, help_text = precision_row(page)
    assert chosen == "fp32" and "recommended" in title
    assert "bf16 trains 0.96x as fast as fp32 on this machine (slower" in help_text


@pytest.mark.slow
def test_bf16_inference_setting_classifies_in_bf16_and_is_remembered(qtbot, window, photos):
    drop_files(window, [photos[0]])
    wait_for_result(qtbot, window, 0)
    fp32 = [p.index for p in window.predictions.predictions]

    window.bf16_action.trigger()  # View > Compute in bf16
    assert window.settings.inference_precision() == "bf16"
    first = window.current_request
    drop_files(window, [photos[0]])
    wait_for_result(qtbot, window, first)
    classifier = window.service.worker.classifier
    assert classifier.precision == "bf16"
    assert classifier._everything.precision == "bf16"  # noqa: SLF001 - the pass that ran
    bf16 = [p.index for p in window.predictions.predictions]
    assert len(bf16) == 5 and fp32[0] in bf16  # close to fp32, not bit-equal
