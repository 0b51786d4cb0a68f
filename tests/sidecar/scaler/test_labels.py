"""Scaling labels -> ScaleSpec: ours, OpenFaaS's where ours are absent, errors naming the label."""

from __future__ import annotations

import pytest

from faas_sidecar.scaler.labels import (
    ScaleLabelError,
    ScaleSpec,
    ScaleType,
    parse_duration,
    parse_scale_labels,
)

OF = "com.openfaas.scale."
SF = "swarmfaas.scale."


@pytest.mark.parametrize("labels, expected", [
    ({}, ScaleSpec()),
    ({SF + "min": "2", SF + "max": "8"}, ScaleSpec(min=2, max=8)),
    ({SF + "min": "30"}, ScaleSpec(min=30, max=30)),  # the default max follows a high min
    ({SF + "min": " 3 "}, ScaleSpec(min=3)),
    ({SF + "type": "rps"}, ScaleSpec(type=ScaleType.RPS, target=50.0)),
    ({SF + "type": "RPS", SF + "target": "10"}, ScaleSpec(type=ScaleType.RPS, target=10.0)),
    ({SF + "type": "cpu"}, ScaleSpec(type=ScaleType.CPU, target=800.0)),  # millicores
    ({SF + "target": "2.5"}, ScaleSpec(target=2.5)),
    ({SF + "zero": "true"}, ScaleSpec(zero=True)),
    ({SF + "zero": "FALSE"}, ScaleSpec(zero=False)),
    ({SF + "zero_duration": "30"}, ScaleSpec(zero_duration=30.0)),
    ({SF + "zero_duration": "2m"}, ScaleSpec(zero_duration=120.0)),
    # OpenFaaS's names where ours are absent
    ({OF + "min": "2", OF + "max": "5", OF + "target": "20", OF + "type": "rps",
      OF + "zero": "true", OF + "zero-duration": "15m"},
     ScaleSpec(min=2, max=5, target=20.0, type=ScaleType.RPS, zero=True,
               zero_duration=900.0)),
    # ours win over theirs, one setting at a time
    ({SF + "max": "3", OF + "max": "9", OF + "min": "2"}, ScaleSpec(min=2, max=3)),
    ({SF + "zero": "false", OF + "zero": "true"}, ScaleSpec(zero=False)),
    # a blank label of ours counts as absent
    ({SF + "min": " ", OF + "min": "4"}, ScaleSpec(min=4)),
    # unrelated labels are ignored
    ({"swarmfaas.function": "true", "com.openfaas.scale.other": "x"}, ScaleSpec()),
])
def test_parse(labels, expected):
    assert parse_scale_labels(labels) == expected


@pytest.mark.parametrize("labels, names", [
    ({SF + "min": "0"}, SF + "min"),
    ({SF + "min": "-1"}, SF + "min"),
    ({SF + "min": "two"}, SF + "min"),
    ({SF + "max": "1001"}, SF + "max"),
    ({SF + "min": "4", SF + "max": "2"}, SF + "max"),
    ({OF + "min": "5", OF + "max": "2"}, OF + "max"),
    ({OF + "max": "1.5"}, OF + "max"),
    ({SF + "target": "0"}, SF + "target"),
    ({SF + "target": "-3"}, SF + "target"),
    ({SF + "target": "nan"}, SF + "target"),
    ({SF + "target": "inf"}, SF + "target"),
    ({OF + "target": "lots"}, OF + "target"),
    ({SF + "type": "memory"}, SF + "type"),
    ({OF + "type": "capacity"}, OF + "type"),
    ({SF + "zero": "yes"}, SF + "zero"),
    ({OF + "zero": "1"}, OF + "zero"),
    ({SF + "zero_duration": "0"}, SF + "zero_duration"),
    ({SF + "zero_duration": "8d"}, SF + "zero_duration"),
    ({OF + "zero-duration": "15 minutes"}, OF + "zero-duration"),
])
def test_errors_name_the_label(labels, names):
    with pytest.raises(ScaleLabelError) as err:
        parse_scale_labels(labels)
    assert f"label {names}=" in str(err.value)


@pytest.mark.parametrize("raw, seconds", [
    ("300", 300.0), ("2.5", 2.5), ("30s", 30.0), ("15m", 900.0), ("1h", 3600.0),
    ("1m30s", 90.0), ("500ms", 0.5), ("1h2m3s", 3723.0),
    ("", None), ("m", None), ("15 m", None), ("5x", None), ("1m30", None), ("inf", None),
])
def test_parse_duration(raw, seconds):
    assert parse_duration(raw) == seconds
