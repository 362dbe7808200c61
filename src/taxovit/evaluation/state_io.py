"""Serialise a :class:`~taxovit.evaluation.streaming.StreamingEvaluator`'s state to bytes.

The state is a few dozen sums and some float64 count arrays (:mod:`taxovit.evaluation.streaming`),
so the format is plain data, never a pickle::

    b"TXVSTATE" | version: uint16 LE | header length: uint32 LE | header (UTF-8 JSON) | payload

The header names the layout (which keys exist), the taxonomy's node count and ranks, the
options (top-k, score kind), the names of the sums, and the name and length of every count
array; the payload is the sums then each count array (float64 little-endian), then the score
columns' node ids (int64 little-endian). Reading trusts nothing: the magic, the version, the
header's length and types, every declared length against the bytes present (before any
array is made), the per-class arrays' lengths against the taxonomy, and finiteness.
The kept scores of ``keep_scores=True`` (O(samples)) are not serialised: such a state is
refused, so mAP and ``ece_adaptive`` are never silently dropped.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from taxovit.errors import ArgumentError
from taxovit.evaluation.statistics import Layout

if TYPE_CHECKING:
    from taxovit.evaluation.streaming import StreamingEvaluator

__all__ = [
    "MAGIC",
    "POISSON_MAGIC",
    "any_state_from_bytes",
    "VERSION",
    "poisson_from_bytes",
    "poisson_to_bytes",
    "state_from_bytes",
    "state_to_bytes",
]

MAGIC = b"TXVSTATE"
VERSION = 1
_PREFIX = struct.Struct("<8sHI")
_MAX_HEADER = 1 << 24  # a header is a few kB; more is not a state


def state_to_bytes(ev: StreamingEvaluator) -> bytes:
    """The state of ``ev`` as bytes (see the module docstring)."""
    if ev._kept:
        raise ArgumentError(
            "a state with keep_scores=True holds every score and is not "
            "serialised; make the evaluator with keep_scores=False"
        )
    sums = sorted(ev.sums)
    counts = sorted(ev.counts)
    ids = np.zeros(0, np.int64) if ev.score_ids is None else np.asarray(ev.score_ids, np.int64)
    header = {
        "layout": None if ev.layout is None else asdict(ev.layout),
        "n_nodes": int(ev.taxonomy.index.n),
        "ranks": list(ev.ranks),
        "top_k": list(ev.top_k),
        "score_kind": ev.score_kind,
        "score_ids": None if ev.score_ids is None else int(ids.size),
        "sums": sums,
        "counts": [[k, int(ev.counts[k].size)] for k in counts],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [np.array([ev.sums[k] for k in sums], dtype="<f8").tobytes()]
    parts += [np.asarray(ev.counts[k], dtype="<f8").tobytes() for k in counts]
    parts.append(ids.astype("<i8").tobytes())
    return _PREFIX.pack(MAGIC, VERSION, len(head)) + head + b"".join(parts)


def _bad(what: str) -> ArgumentError:
    return ArgumentError(f"not a taxovit evaluation state: {what}")


_SPEC = {
    "layout": (dict, type(None)),
    "n_nodes": int,
    "ranks": list,
    "top_k": list,
    "score_kind": str,
    "score_ids": (int, type(None)),
    "sums": list,
    "counts": list,
}


def _header(
    data: bytes, magic: bytes = MAGIC, spec: dict[str, Any] = _SPEC
) -> tuple[dict[str, Any], int]:
    """The checked JSON header (its keys and their types: ``spec``) and the payload's
    offset."""
    if len(data) < _PREFIX.size:
        raise _bad(f"{len(data)} bytes, shorter than the {_PREFIX.size}-byte prefix")
    got, version, size = _PREFIX.unpack_from(data)
    if got != magic:
        raise _bad(f"starts with {got!r}, expected {magic!r}")
    if version != VERSION:
        raise _bad(f"format version {version}, this taxovit reads version {VERSION}")
    if size > min(_MAX_HEADER, len(data) - _PREFIX.size):
        raise _bad(f"declares a {size}-byte header, {len(data) - _PREFIX.size} bytes follow")
    try:
        header = json.loads(data[_PREFIX.size : _PREFIX.size + size].decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict) or set(header) != set(spec):
        raise _bad(f"header keys {sorted(header) if isinstance(header, dict) else header!r}")
    for key, kind in spec.items():
        if not isinstance(header[key], kind) or isinstance(header[key], bool):
            raise _bad(f"header {key!r} is {header[key]!r}")
    return header, _PREFIX.size + size


def _layout(raw: dict[str, Any] | None) -> Layout | None:
    if raw is None:
        return None
    names = {f.name for f in fields(Layout)}
    if set(raw) != names:
        raise _bad(f"layout fields {sorted(raw)}, expected {sorted(names)}")
    try:
        return Layout(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    except TypeError as exc:
        raise _bad(f"layout {raw!r} ({exc})") from None


def _expected_size(ev: StreamingEvaluator, name: str) -> int | None:
    """The length a per-class count array must have on ``ev``'s taxonomy (None: binned sums,
    whose length the format itself fixes)."""
    base, _, rank = name.partition("/")
    if base not in ("tp", "pred", "sup"):
        return None
    if not rank:
        return int(ev.taxonomy.index.n)
    if rank not in ev._rank_size:
        raise _bad(f"counts for rank {rank!r}, which the taxonomy does not have")
    return ev._rank_size[rank] + 1  # its nodes and the code of a prediction too coarse


def _check_lengths(ev: StreamingEvaluator, header: dict[str, Any], payload: int) -> None:
    counts, sums = header["counts"], header["sums"]
    if not all(isinstance(s, str) for s in sums) or len(set(sums)) != len(sums):
        raise _bad("sum names are not distinct strings")
    for entry in counts:
        ok = (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], int)
            and not isinstance(entry[1], bool)
            and entry[1] >= 0
        )
        if not ok:
            raise _bad(f"count entry {entry!r}")
        want = _expected_size(ev, entry[0])
        if want is not None and entry[1] != want:
            raise _bad(f"{entry[0]!r} has {entry[1]} values, the taxonomy needs {want}")
    n_ids = header["score_ids"] or 0
    if n_ids < 0:
        raise _bad(f"{n_ids} score ids")
    declared = 8 * (len(sums) + sum(e[1] for e in counts) + n_ids)
    if declared != payload:
        raise _bad(f"header declares {declared} payload bytes, {payload} are present")


def state_from_bytes(data: bytes, taxonomy: Any) -> StreamingEvaluator:
    """An evaluator on ``taxonomy`` holding the state in ``data`` (from :func:`state_to_bytes`
    of an evaluator on the same taxonomy)."""
    from taxovit.evaluation.streaming import StreamingEvaluator

    data = bytes(data)
    header, start = _header(data)
    ev = StreamingEvaluator(taxonomy, top_k=header["top_k"], score_kind=header["score_kind"])
    if header["n_nodes"] != ev.taxonomy.index.n or header["ranks"] != list(ev.ranks):
        raise _bad(
            f"made on a taxonomy of {header['n_nodes']} nodes, ranks {header['ranks']}; "
            f"this one has {ev.taxonomy.index.n} nodes, ranks {list(ev.ranks)}"
        )
    _check_lengths(ev, header, len(data) - start)
    values = np.frombuffer(
        data,
        dtype="<f8",
        offset=start,
        count=len(header["sums"]) + sum(e[1] for e in header["counts"]),
    )
    if not np.isfinite(values).all():
        raise _bad("a sum or count is not finite")
    sums = dict(zip(header["sums"], (float(v) for v in values), strict=False))
    at, counts = len(header["sums"]), {}
    for name, size in header["counts"]:
        counts[name] = values[at : at + size].astype(np.float64)
        at += size
    if header["score_ids"] is not None:
        ids = np.frombuffer(data, dtype="<i8", offset=start + 8 * at).astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= ev.taxonomy.index.n):
            raise _bad("a score column's node id is outside the taxonomy")
        ev.score_ids = ids
    ev.load_state(_layout(header["layout"]), sums, counts)
    return ev


# -- the Poisson bootstrap's state (taxovit.evaluation.poisson) ------------------------------
#
#     b"TXVPOISS" | version: uint16 LE | header length: uint32 LE | header (UTF-8 JSON) |
#     point state (the bytes above) | sums: B float64 LE each | exact sums: [k x] B x N_LIMBS
#     int64 LE each | counts: k x B float64 LE each
#
# The header gives B, the seed, the point state's length and the names of the sums, the
# exact sums (with k: 0 for a sum, the bins of a binned confidence) and the counts (with k):
# the sums' and k = 0 exact sums' names together must be the point state's sums, the others'
# its counts, with their lengths.

POISSON_MAGIC = b"TXVPOISS"
_POISSON_KEYS = {
    "resamples": int,
    "seed": int,
    "point": int,
    "sums": list,
    "exact": list,
    "counts": list,
}


def poisson_to_bytes(state: Any) -> bytes:
    """The state of a :class:`~taxovit.evaluation.poisson.PoissonState` as bytes."""
    point = state_to_bytes(state.point)
    sums, exact, counts = sorted(state.sums), sorted(state.exact), sorted(state.counts)
    header = {
        "resamples": state.b,
        "seed": state.seed,
        "point": len(point),
        "sums": sums,
        "exact": [[k, state.exact[k].shape[0] if state.exact[k].ndim == 3 else 0] for k in exact],
        "counts": [[k, int(state.counts[k].shape[0])] for k in counts],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [np.asarray(state.sums[k], dtype="<f8").tobytes() for k in sums]
    parts += [np.ascontiguousarray(state.exact[k], dtype="<i8").tobytes() for k in exact]
    parts += [np.ascontiguousarray(state.counts[k], dtype="<f8").tobytes() for k in counts]
    return _PREFIX.pack(POISSON_MAGIC, VERSION, len(head)) + head + point + b"".join(parts)


def _poisson_header(data: bytes) -> tuple[dict[str, Any], int]:
    header, start = _header(data, POISSON_MAGIC, _POISSON_KEYS)
    if header["resamples"] < 1 or header["point"] < 0 or not 0 <= header["seed"] < 1 << 64:
        raise _bad(f"header {header['resamples']} resamples, seed {header['seed']}")
    if header["point"] > len(data) - start:
        raise _bad(f"declares a {header['point']}-byte point state, {len(data) - start} follow")
    return header, start


def _named(entries: Any, sizes: dict[str, int], what: str) -> None:
    ok = isinstance(entries, list) and all(
        isinstance(e, list) and len(e) == 2 and e[0] in sizes and e[1] == sizes[e[0]]
        for e in entries
    )
    if not ok:
        raise _bad(f"a resampled {what} the point state does not have, or of another length")


def _poisson_names(header: dict[str, Any], point: StreamingEvaluator) -> None:
    """Check the names (and lengths) against the point state."""
    sizes = {k: int(v.size) for k, v in point.counts.items()}
    _named(header["counts"], sizes, "count")
    _named(header["exact"], {**dict.fromkeys(point.sums, 0), **sizes}, "exact sum")
    exact = [e[0] for e in header["exact"]]
    names = sorted(header["sums"] + exact + [e[0] for e in header["counts"]])
    if names != sorted([*point.sums, *sizes]):
        raise _bad("the resamples' sums and counts are not those of the point state")


def poisson_from_bytes(data: bytes, taxonomy: Any) -> Any:
    """A :class:`~taxovit.evaluation.poisson.PoissonState` on ``taxonomy`` holding the state
    in ``data`` (from :func:`poisson_to_bytes`), every length checked before it is read."""
    from taxovit.evaluation.exact_sums import LIMB_BITS, N_LIMBS
    from taxovit.evaluation.poisson import PoissonState

    data = bytes(data)
    header, start = _poisson_header(data)
    b, at = header["resamples"], start + header["point"]
    point = state_from_bytes(data[start:at], taxonomy)
    _poisson_names(header, point)
    n_sums = b * len(header["sums"])
    n_i8 = b * N_LIMBS * sum(max(k, 1) for _, k in header["exact"])
    n_counts = b * sum(k for _, k in header["counts"])
    if 8 * (n_sums + n_i8 + n_counts) != len(data) - at:
        declared = 8 * (n_sums + n_i8 + n_counts)
        raise _bad(f"header declares {declared} bytes of resamples, {len(data) - at} follow")
    floats = np.frombuffer(data, "<f8", n_sums, at)
    limbs = np.frombuffer(data, "<i8", n_i8, at + 8 * n_sums).reshape(-1, b, N_LIMBS)
    counts = np.frombuffer(data, "<f8", n_counts, at + 8 * (n_sums + n_i8))
    if not (np.isfinite(floats).all() and np.isfinite(counts).all()):
        raise _bad("a resampled sum or count is not finite")
    if ((limbs[..., :-1] < 0) | (limbs[..., :-1] >= 1 << LIMB_BITS)).any():
        raise _bad("an exact sum's limbs are not in canonical form")
    state = PoissonState(taxonomy, b, header["seed"], point.top_k)
    state.point, state.weight_bound = point, 1 << 24  # float64 counts from here on
    state.sums = {k: floats[i * b : (i + 1) * b].copy() for i, k in enumerate(header["sums"])}
    row = 0
    for name, k in header["exact"]:
        got = limbs[row : row + max(k, 1)].copy()
        state.exact[name], row = (got if k else got[0]), row + max(k, 1)
    row = 0
    for name, k in header["counts"]:
        state.counts[name], row = counts[row : row + k * b].reshape(k, b).copy(), row + k * b
    return state


def any_state_from_bytes(data: bytes, taxonomy: Any) -> Any:
    """The state of :func:`state_to_bytes` or :func:`poisson_to_bytes` (by its magic)."""
    if bytes(data[: len(POISSON_MAGIC)]) == POISSON_MAGIC:
        return poisson_from_bytes(data, taxonomy)
    return state_from_bytes(data, taxonomy)
