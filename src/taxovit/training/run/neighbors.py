"""Exact k-nearest-neighbour search behind one interface.

Backends, in the order ``backend="auto"`` tries them:

``faiss-gpu``
    only when faiss is importable **and** ``faiss.get_num_gpus() > 0`` (faiss aborts the whole
    process if a GPU routine is called without a GPU, so this is checked first, every time).
``faiss-cpu``
    a flat (exact) faiss index on the CPU.
``torch``
    exact ``matmul`` + ``topk`` on the device of the input tensor (used when faiss is missing).

Scores returned for each metric (the same for every backend):

``cosine``  cosine similarity, larger is nearer (rows are L2-normalised first)
``ip``      inner product, larger is nearer
``l2``      *squared* Euclidean distance, smaller is nearer (faiss's convention)

This module imports torch; ``import taxovit`` never imports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["METRICS", "NeighborIndex", "available_backends", "knn_classify", "knn_search"]

METRICS = ("cosine", "ip", "l2")
BACKENDS = ("auto", "faiss-gpu", "faiss-cpu", "torch")


def _import_faiss() -> Any | None:
    """faiss, or None when it is not installed (tests monkeypatch this to simulate that)."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _faiss_gpus(faiss: Any) -> int:
    get = getattr(faiss, "get_num_gpus", None)
    if get is None:
        return 0
    try:
        return int(get())
    except Exception:
        return 0


def available_backends() -> list[str]:
    """Backends usable on this machine, best first (``torch`` is always available)."""
    faiss = _import_faiss()
    out = []
    if faiss is not None:
        if _faiss_gpus(faiss) > 0 and hasattr(faiss, "StandardGpuResources"):
            out.append("faiss-gpu")
        out.append("faiss-cpu")
    out.append("torch")
    return out


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    avail = available_backends()
    if backend == "auto":
        return avail[0]
    if backend not in avail:
        raise RuntimeError(
            f"backend {backend!r} is not available here (available: {', '.join(avail)})"
        )
    return backend


def _as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    return torch.as_tensor(np.asarray(x))


def _as_numpy32(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())


class NeighborIndex:
    """An exact index: ``add`` database vectors, then ``search`` queries.

    >>> idx = NeighborIndex(dim=64, metric="cosine")        # doctest: +SKIP
    >>> idx.add(train_embeddings)                           # doctest: +SKIP
    >>> scores, ids = idx.search(test_embeddings, k=20)     # doctest: +SKIP

    ``search`` returns ``(scores, indices)`` of shape ``(Q, k)`` as torch tensors (on the
    queries' device for the torch backend, on the CPU otherwise), nearest first. ``k`` larger
    than the database is clipped to its size.
    """

    def __init__(self, dim: int, metric: str = "cosine", backend: str = "auto") -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        self.dim = int(dim)
        self.metric = metric
        self.backend = _resolve_backend(backend)
        self._faiss = _import_faiss() if self.backend.startswith("faiss") else None
        self._parts: list[torch.Tensor] = []
        self._db: torch.Tensor | None = None
        self._index: Any = None
        self._gpu_res: Any = None
        if self._faiss is not None:
            faiss = self._faiss
            flat = faiss.IndexFlatL2(self.dim) if metric == "l2" else faiss.IndexFlatIP(self.dim)
            if self.backend == "faiss-gpu":
                self._gpu_res = faiss.StandardGpuResources()
                flat = faiss.index_cpu_to_gpu(self._gpu_res, 0, flat)
            self._index = flat

    def __len__(self) -> int:
        if self._index is not None:
            return int(self._index.ntotal)
        return sum(p.shape[0] for p in self._parts)

    def _prepare(self, x: Any) -> torch.Tensor:
        t = _as_tensor(x)
        if t.ndim != 2 or t.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {tuple(t.shape)}")
        t = t.float()
        if self.metric == "cosine":
            t = torch.nn.functional.normalize(t, dim=1)
        return t

    def add(self, vectors: Any) -> None:
        t = self._prepare(vectors)
        if self._index is not None:
            self._index.add(_as_numpy32(t))
        else:
            self._parts.append(t)
            self._db = None

    def search(
        self, queries: Any, k: int, chunk_size: int = 4096
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        n = len(self)
        if n == 0:
            raise ValueError("the index is empty: add() vectors before search()")
        k = min(k, n)
        q = self._prepare(queries)
        if self._index is not None:
            d, i = self._index.search(_as_numpy32(q), k)
            return torch.from_numpy(np.asarray(d, dtype=np.float32)), torch.from_numpy(
                np.asarray(i, dtype=np.int64)
            )
        return self._torch_search(q, k, chunk_size)

    def _torch_search(
        self, q: torch.Tensor, k: int, chunk_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self._db is None:
            self._db = torch.cat(self._parts) if len(self._parts) > 1 else self._parts[0]
            self._parts = [self._db]
        db = self._db.to(q.device)
        db_sq = (db * db).sum(dim=1) if self.metric == "l2" else None
        scores, indices = [], []
        for start in range(0, q.shape[0], chunk_size):
            qc = q[start : start + chunk_size]
            s = qc @ db.T
            if self.metric == "l2":
                # squared distance; clamp tiny negatives from cancellation
                s = ((qc * qc).sum(dim=1, keepdim=True) - 2 * s + db_sq[None, :]).clamp_min_(0)
                v, i = torch.topk(s, k, dim=1, largest=False)
            else:
                v, i = torch.topk(s, k, dim=1, largest=True)
            scores.append(v)
            indices.append(i)
        return torch.cat(scores), torch.cat(indices)


def knn_search(
    queries: Any,
    database: Any,
    k: int,
    metric: str = "cosine",
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest rows of ``database`` for every row of ``queries`` (exact search).

    ``queries`` ``(Q, d)`` and ``database`` ``(N, d)`` may be numpy arrays or torch tensors.
    Returns ``(scores, indices)``, each ``(Q, min(k, N))``, nearest first; see the module
    docstring for what the scores are for each ``metric`` and how ``backend`` is chosen.
    """
    db = _as_tensor(database)
    if db.ndim != 2:
        raise ValueError(f"database must be (N, d), got shape {tuple(db.shape)}")
    index = NeighborIndex(db.shape[1], metric=metric, backend=backend)
    index.add(db)
    return index.search(queries, k)


def knn_classify(
    queries: Any,
    database: Any,
    database_labels: Any,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    backend: str = "auto",
) -> torch.Tensor:
    """Weighted kNN classifier (the DINO protocol) over cosine similarity.

    Each of the ``k`` nearest database rows votes for its label with weight
    ``exp(cos / temperature)``. Returns ``(Q, num_classes)`` class scores that sum to 1 per
    row (on the CPU, float32).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    labels = _as_tensor(database_labels).long().cpu()
    sims, idx = knn_search(queries, database, k, metric="cosine", backend=backend)
    sims, idx = sims.float().cpu(), idx.cpu()
    # subtracting the row max leaves the normalised scores unchanged and avoids overflow
    w = torch.exp((sims - sims[:, :1]) / temperature)
    scores = torch.zeros(sims.shape[0], num_classes, dtype=torch.float32)
    scores.scatter_add_(1, labels[idx], w)
    return scores / scores.sum(dim=1, keepdim=True)
