"""The summary's counts are the BVLC model's, computed by hand."""

from __future__ import annotations

import json

import pytest

from alexnet_tf.explain.summary import SUMMARY_LAYERS, count_layers, format_summary, summarize
from alexnet_tf.model import build_alexnet


@pytest.fixture(scope="module")
def model():
    return build_alexnet()


def test_conv1_by_hand_and_the_totals(model):
    rows = {row.name: row for row in count_layers(model)}
    conv1 = rows["conv1"]
    assert conv1.output_shape == (55, 55, 96)
    assert conv1.parameters == 11 * 11 * 3 * 96 + 96 == 34_944
    # each of 55*55*96 outputs sums 11*11*3 products
    assert conv1.multiply_adds == 55 * 55 * 96 * 11 * 11 * 3 == 105_415_200
    assert conv1.activation_bytes == 55 * 55 * 96 * 4
    # conv2's groups: each output sees 48 of the 96 input channels
    assert rows["conv2"].multiply_adds == 27 * 27 * 256 * 5 * 5 * 48
    assert rows["fc6"].multiply_adds == 9216 * 4096
    assert rows["pool1"].multiply_adds == rows["norm1"].multiply_adds == 0
    assert sum(row.parameters for row in rows.values()) == 60_965_224
    assert sum(row.multiply_adds for row in rows.values()) == 724_406_816
    assert list(rows) == list(SUMMARY_LAYERS)


def test_a_fine_tuned_model_counts_its_own_fc8():
    rows = {row.name: row for row in count_layers(build_alexnet(num_classes=5))}
    assert rows["fc8"].parameters == 4096 * 5 + 5
    assert rows["prob"].output_shape == (5,)


def test_every_layer_is_timed_and_the_json_is_strict(model):
    summary = summarize(model, runs=1)
    assert all(row["seconds"] > 0 for row in summary["layers"])
    assert summary["total"]["parameters"] == 60_965_224
    assert summary["measured_on"]
    json.loads(json.dumps(summary, allow_nan=False))
    text = format_summary(summary)
    assert "60,965,224" in text and "measured here" in text
    assert "105,415,200" in text.splitlines()[1]
