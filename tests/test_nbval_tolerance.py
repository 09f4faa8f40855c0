"""nbval's tolerance: a last-digit flip or a 7th-digit change passes, anything larger does not."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nbval_tolerance import snap_output, snapped  # noqa: E402


@pytest.mark.parametrize("committed, fresh", [
    ("true log Z = 3.26", "true log Z = 3.27"),                  # rounded the other way
    ("0.03001200407743454", "0.0300119761377573"),              # a glued float, 7th digit
    ("1.406310111806158e-06", "1.4063101369695164e-06"),
    ("| 0.9 | 0.032 | 3.27 |", "| 0.9 | 0.033 | 3.26 |"),
    ("loss 1.0e-02", "loss 1.1e-02"),                           # one unit of the last digit
])
def test_close_numbers_pass(committed, fresh):
    assert snapped(committed, fresh) == committed


@pytest.mark.parametrize("committed, fresh", [
    ("final exact TV: 0.041", "final exact TV: 0.045"),         # a training run's second digit
    ("modes found: 4/4", "modes found: 3/4"),                   # integers are never close
    ("samples: (32768, 2)", "samples: (32767, 2)"),
    ("TV 0.0328", "TV 0.0330"),                                  # two units of the last digit
    ("log Z 4.37", "log Z  4.37"),                               # the text around differs
    ("0.03001200407743454", "0.0300130040774345"),              # 3e-5 relative
])
def test_different_numbers_fail(committed, fresh):
    assert snapped(committed, fresh) == fresh


def test_outputs_are_snapped_field_by_field():
    committed = {"output_type": "stream", "name": "stdout", "text": "TV 0.41\n"}
    assert snap_output(committed, {**committed, "text": "TV 0.42\n"})["text"] == "TV 0.41\n"
    assert snap_output(committed, {**committed, "name": "stderr", "text": "TV 0.42\n"})["text"] == "TV 0.42\n"
    glue = {"output_type": "display_data", "data": {"application/papermill.record/text/plain": "2501.000488"}}
    fresh = {"output_type": "display_data", "data": {"application/papermill.record/text/plain": "2501.000732"}}
    assert snap_output(glue, fresh) == glue
