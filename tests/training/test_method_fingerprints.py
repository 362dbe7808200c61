"""Every method trains bit-for-bit as the code before the method-module restructure did:
``scripts/method_fingerprints.py`` (loss curve, checkpoint tensors and prediction CSV of a
short CPU run per method) against ``data/method_fingerprints.json``, recorded on the code
before the change. Bit-for-bit holds on one machine and torch build: marked slow (another
CPU may round differently in the last bits)."""

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

pytestmark = [pytest.mark.torch, pytest.mark.slow]


def test_every_method_trains_bit_for_bit_as_before(capsys):
    from method_fingerprints import compare, run_all

    old = json.loads((REPO / "tests" / "data" / "method_fingerprints.json").read_text())
    new = run_all(sorted(old))
    assert compare(old, new), capsys.readouterr().out
