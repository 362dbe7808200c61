import numpy as np
import pytest

torch = pytest.importorskip("torch")

from taxovit.training.run import neighbors  # noqa: E402
from taxovit.training.run.neighbors import NeighborIndex, available_backends, knn_search  # noqa: E402

pytestmark = pytest.mark.torch


def _data(seed=0, n=300, q=40, d=16):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((q, d)).astype(np.float32), rng.standard_normal((n, d)).astype(
        np.float32
    )


def _reference(queries, db, k, metric):
    q, x = queries.astype(np.float64), db.astype(np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    if metric == "l2":
        s = ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        idx = np.argsort(s, axis=1, kind="stable")[:, :k]
    else:
        s = q @ x.T
        idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, idx, axis=1), idx


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_all_backends_agree_with_reference(metric):
    queries, db = _data()
    k = 7
    ref_s, ref_i = _reference(queries, db, k, metric)
    backends = available_backends()
    assert backends[-1] == "torch"
    for backend in backends:
        s, i = knn_search(queries, db, k, metric=metric, backend=backend)
        assert s.shape == (len(queries), k) and i.dtype == torch.int64
        np.testing.assert_array_equal(i.cpu().numpy(), ref_i, err_msg=backend)
        np.testing.assert_allclose(s.cpu().numpy(), ref_s, atol=1e-5, rtol=1e-5, err_msg=backend)


def test_auto_uses_torch_when_faiss_missing(monkeypatch):
    queries, db = _data(1)
    with_faiss = knn_search(queries, db, 5, backend="auto")
    monkeypatch.setattr(neighbors, "_import_faiss", lambda: None)
    assert available_backends() == ["torch"]
    idx = NeighborIndex(db.shape[1])
    assert idx.backend == "torch"
    without = knn_search(queries, db, 5, backend="auto")
    assert torch.equal(with_faiss[1], without[1])
    assert torch.allclose(with_faiss[0], without[0], atol=1e-5)
    with pytest.raises(RuntimeError, match="not available"):
        NeighborIndex(4, backend="faiss-cpu")


def test_no_gpu_routine_without_gpu(monkeypatch):
    faiss = neighbors._import_faiss()
    if faiss is None:
        pytest.skip("faiss not installed")

    class FakeFaiss:
        """faiss stand-in that reports no GPU and explodes if a GPU routine is called."""

        def __getattr__(self, name):
            if "gpu" in name.lower() and name != "get_num_gpus":
                raise AssertionError(f"GPU routine {name} called without a GPU")
            return getattr(faiss, name)

        def get_num_gpus(self):
            return 0

    monkeypatch.setattr(neighbors, "_import_faiss", lambda: FakeFaiss())
    assert "faiss-gpu" not in available_backends()
    s, i = knn_search(*_data(2), 3)
    assert i.shape == (40, 3)
    with pytest.raises(RuntimeError):
        NeighborIndex(16, backend="faiss-gpu")


def test_torch_inputs_incremental_add_and_k_clipping():
    queries, db = _data(3, n=10, q=4)
    idx = NeighborIndex(16, metric="ip", backend="torch")
    idx.add(torch.from_numpy(db[:6]))
    idx.add(torch.from_numpy(db[6:]))
    assert len(idx) == 10
    s, i = idx.search(torch.from_numpy(queries), k=50)
    assert i.shape == (4, 10)
    ref_s, ref_i = _reference(queries, db, 10, "ip")
    np.testing.assert_array_equal(i.numpy(), ref_i)


def test_torch_backend_chunking_matches_single_chunk():
    queries, db = _data(4, n=100, q=33)
    idx = NeighborIndex(16, metric="l2", backend="torch")
    idx.add(db)
    a = idx.search(queries, 5, chunk_size=7)
    b = idx.search(queries, 5)
    assert torch.equal(a[1], b[1]) and torch.allclose(a[0], b[0])


def test_errors():
    with pytest.raises(ValueError, match="metric"):
        NeighborIndex(4, metric="manhattan")
    with pytest.raises(ValueError, match="backend"):
        NeighborIndex(4, backend="gpu")
    idx = NeighborIndex(4, backend="torch")
    with pytest.raises(ValueError, match="empty"):
        idx.search(np.zeros((1, 4), np.float32), 1)
    with pytest.raises(ValueError, match="shape"):
        idx.add(np.zeros((2, 3), np.float32))


def test_knn_classify_weighted_vote():
    from taxovit.training.run.neighbors import knn_classify

    db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], np.float32)
    labels = np.array([0, 1, 2])
    q = np.array([[1.0, 0.05]], np.float32)
    scores = knn_classify(q, db, labels, num_classes=4, k=2, temperature=0.07)
    cos = (db[:2] @ q[0]) / (np.linalg.norm(db[:2], axis=1) * np.linalg.norm(q[0]))
    w = np.exp(cos / 0.07)
    np.testing.assert_allclose(scores[0, :2].numpy(), w / w.sum(), rtol=1e-5)
    assert scores[0, 2:].sum() == 0
    torch_scores = knn_classify(q, db, labels, 4, k=2, backend="torch")
    assert torch.allclose(scores, torch_scores, atol=1e-6)
