"""Weighted sums of float statistics that do not depend on the order they are added in.

A float sum depends on its order in the last bits, so the Poisson bootstrap's intervals
(:mod:`taxovit.evaluation.poisson`) would depend on how the rows are split into files and
batches. Here each value is cut into :data:`N_LIMBS` integer *limbs* of :data:`LIMB_BITS`
bits, ``x = sum_j limb_j * 2**(LOW + LIMB_BITS * j)`` (the lowest limb rounded to the grid
``2**LOW``: a fixed, per-value quantisation below 1e-21), exactly, by floor divisions by
powers of two. A batch's limbs times integer weights summed in float64 (BLAS) are exact when
every partial sum stays below 2**53 (limbs below 2**26, weights of a batch below 2**27 in
all), and the sums are kept as int64 limbs, carried so that every limb but the top one lies
in ``[0, 2**LIMB_BITS)``: one canonical form of the exact sum, whatever the order of the
additions and merges. :func:`value` turns it into a float64 (the same for the same exact sum).
Values must satisfy ``|x| < 2**(LOW + LIMB_BITS * N_LIMBS - 1)`` (2**31: far above every
statistic, which are fractions and distances in the taxonomy).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from taxovit.errors import ArgumentError

__all__ = ["LIMB_BITS", "LOW", "MAX_WEIGHT_SUM", "N_LIMBS", "carry", "limbs", "value"]

LIMB_BITS = 26
N_LIMBS = 4
LOW = -73  # the grid of the lowest limb: 2**-73
MAX_ABS = 2.0 ** (LOW + LIMB_BITS * N_LIMBS - 1)  # 2**30
#: the largest sum of weights of one product: limb * weight sums stay below 2**53
MAX_WEIGHT_SUM = 1 << 26


def limbs(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(..., N_LIMBS)`` limbs of ``x`` (integers held in float64, lowest first; those of
    a negative value are the negated limbs of its magnitude)."""
    x = np.asarray(x, dtype=np.float64)
    r = np.abs(x)  # the remainders below stay exact: r mod a power of two, r >= 0
    if r.size and not (r < MAX_ABS).all():
        raise ArgumentError(f"a statistic is not finite or |x| >= 2**30: {x.max()}")
    out = np.empty((*x.shape, N_LIMBS))
    for j in range(N_LIMBS - 1, 0, -1):
        scale = 2.0 ** (LOW + LIMB_BITS * j)
        out[..., j] = np.floor(r / scale)
        r -= out[..., j] * scale  # exact: r mod a power of two
    out[..., 0] = np.rint(r * 2.0**-LOW)  # the quantisation to 2**LOW
    negative = x < 0
    if negative.any():
        out[negative] *= -1
    return out


def carry(acc: NDArray[np.int64]) -> NDArray[np.int64]:
    """``acc`` (..., N_LIMBS) in canonical form, in place: every limb but the top one in
    ``[0, 2**LIMB_BITS)``."""
    for j in range(N_LIMBS - 1):
        c = acc[..., j] >> LIMB_BITS  # floor division: negative limbs borrow
        acc[..., j] -= c << LIMB_BITS
        acc[..., j + 1] += c
    return acc


def value(acc: NDArray[np.int64]) -> NDArray[np.float64]:
    """The float64 of canonical limbs (a fixed function of the exact sum)."""
    out = np.zeros(acc.shape[:-1])
    for j in range(N_LIMBS - 1, -1, -1):
        out += acc[..., j].astype(np.float64) * 2.0 ** (LOW + LIMB_BITS * j)
    return out
