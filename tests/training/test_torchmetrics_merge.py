"""TaxonomyMetrics.merge_state (torchmetrics' merging outside DDP, its states are sums):
metrics updated on two halves and merged equal one metric on everything."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchmetrics")

from taxovit.integrations.torchmetrics import TaxonomyMetrics  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared helpers
from test_torchmetrics_integration import _data  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("as_dict", [False, True])
def test_merge_state_equals_one_metric(as_dict) -> None:
    tax, classes, target, logits = _data(3, n=200)
    one, a, b = (TaxonomyMetrics(tax, classes) for _ in range(3))
    one.update(torch.tensor(logits), torch.tensor(target))
    a.update(torch.tensor(logits[:70]), torch.tensor(target[:70]))
    b.update(torch.tensor(logits[70:]), torch.tensor(target[70:]))
    b.merge_state(a.metric_state if as_dict else a)
    want, got = one.compute(), b.compute()
    assert want.keys() == got.keys()
    for k, v in want.items():
        np.testing.assert_allclose(got[k].numpy(), v.numpy(), rtol=1e-12, atol=1e-12, err_msg=k)
    assert int(got["n_samples"]) == 200
