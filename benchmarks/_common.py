"""Shared pieces of the benchmarks: synthetic taxonomies, prediction generators, timers."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np

from taxovit import Taxonomy

LEVEL_SIZES = (1, 4, 15, 55, 200, 700, 2600, 10_000)  # root + 7 levels, 10k leaves
RANKS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")


def synthetic_tree(level_sizes=LEVEL_SIZES, seed: int = 0) -> Taxonomy:
    """A random tree whose leaves all sit at the last level (every parent has a child)."""
    rng = np.random.default_rng(seed)
    g = nx.DiGraph()
    g.add_node("L0_0")
    for lvl in range(1, len(level_sizes)):
        n_par, n_ch = level_sizes[lvl - 1], level_sizes[lvl]
        parents = np.concatenate([np.arange(n_par), rng.integers(0, n_par, n_ch - n_par)])
        rng.shuffle(parents)
        rank = RANKS[lvl - 1] if lvl - 1 < len(RANKS) else None
        for i, p in enumerate(parents):
            g.add_node(f"L{lvl}_{i}", rank=rank)
            g.add_edge(f"L{lvl - 1}_{p}", f"L{lvl}_{i}")
    return Taxonomy(g, copy=False)


def synthetic_predictions(tax: Taxonomy, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Leaf truths; predictions: 60 % right, 25 % a sibling leaf, 10 % any leaf, 5 % coarse."""
    rng = np.random.default_rng(seed)
    ix = tax.index
    leaves = np.flatnonzero(np.diff(ix.child_ptr) == 0)
    t = rng.choice(leaves, n)
    p = t.copy()
    u = rng.random(n)
    sib = (u >= 0.60) & (u < 0.85)
    par = ix.parent[t[sib]] if ix.is_tree else ix.parent_idx[ix.parent_ptr[t[sib]]]
    starts, counts = ix.child_ptr[par], np.diff(ix.child_ptr)[par]
    p[sib] = ix.child_idx[starts + (rng.random(sib.sum()) * counts).astype(np.int64)]
    other = (u >= 0.85) & (u < 0.95)
    p[other] = rng.choice(leaves, other.sum())
    coarse = u >= 0.95
    p[coarse] = ix.parent[t[coarse]] if ix.is_tree else ix.parent_idx[ix.parent_ptr[t[coarse]]]
    return t, p


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """Best wall time and its CPU time over ``repeat`` runs, and the last result."""
    best = (float("inf"), 0.0)
    out = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        if w < best[0]:
            best = (w, c)
    return best[0], best[1], out


def machine() -> str:
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load {load:.1f}"


def row(name: str, ours: float, peer: float | None, peer_name: str, note: str = "") -> str:
    ratio = f"{peer / ours:8.1f}x" if peer else "       —"
    peer_s = f"{peer:9.3f} s" if peer else "          —"
    return f"{name:<44} {ours:9.3f} s  {peer_s}  {ratio}  ({peer_name}) {note}"
