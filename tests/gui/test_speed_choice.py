"""The Fine-tune page offers the precision this machine's measurement found fastest."""

from __future__ import annotations

from alexnet_tf import speed
from alexnet_tf.machine import describe_machine
from app.jobs.finetune_page import FinetunePage
from tests.core.test_speed import EPYC_AVX2, XEON_AMX, entry_for


def precision_row(page):
    combo = page.settings.precision
    return combo.currentData(), combo.currentText(), page.settings.precision_help.text()


def test_bf16_is_recommended_where_it_was_measured_faster(qtbot):
    speed.save_measurement(entry_for(describe_machine(), XEON_AMX))
    page = FinetunePage()
    qtbot.addWidget(page)
    chosen, title, help_text = precision_row(page)
    assert chosen == "bf16" and "recommended" in title
    assert "bf16 trains 1.72x as fast as fp32 on this machine (faster" in help_text


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
    assert "bf16 trains 0.96x as fast as fp32 on this machine (not faster" in help_text
