"""Checks on the taxonomies shipped in ``taxonomies/`` (plain ``json`` only).

The files are produced by ``scripts/make_taxonomies.py``; see
``taxonomies/SOURCES.md``. Format: nested nodes ``{"name", "rank"?,
"children"?, ...}``; a repeated name is one node whose children are the union
over its occurrences (DAG).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

TAXONOMIES = Path(__file__).resolve().parents[2] / "taxonomies"
FILES = [
    "birds.json",
    "cifar100.json",
    "imagenet1k.json",
    "imagenet1k_tree.json",
    "fashion_mnist.json",
]

# CUB-200-2011 class list (classes.txt without the "001." prefix), in class order.
CUB_CLASSES = (
    "Black_footed_Albatross",
    "Laysan_Albatross",
    "Sooty_Albatross",
    "Groove_billed_Ani",
    "Crested_Auklet",
    "Least_Auklet",
    "Parakeet_Auklet",
    "Rhinoceros_Auklet",
    "Brewer_Blackbird",
    "Red_winged_Blackbird",
    "Rusty_Blackbird",
    "Yellow_headed_Blackbird",
    "Bobolink",
    "Indigo_Bunting",
    "Lazuli_Bunting",
    "Painted_Bunting",
    "Cardinal",
    "Spotted_Catbird",
    "Gray_Catbird",
    "Yellow_breasted_Chat",
    "Eastern_Towhee",
    "Chuck_will_Widow",
    "Brandt_Cormorant",
    "Red_faced_Cormorant",
    "Pelagic_Cormorant",
    "Bronzed_Cowbird",
    "Shiny_Cowbird",
    "Brown_Creeper",
    "American_Crow",
    "Fish_Crow",
    "Black_billed_Cuckoo",
    "Mangrove_Cuckoo",
    "Yellow_billed_Cuckoo",
    "Gray_crowned_Rosy_Finch",
    "Purple_Finch",
    "Northern_Flicker",
    "Acadian_Flycatcher",
    "Great_Crested_Flycatcher",
    "Least_Flycatcher",
    "Olive_sided_Flycatcher",
    "Scissor_tailed_Flycatcher",
    "Vermilion_Flycatcher",
    "Yellow_bellied_Flycatcher",
    "Frigatebird",
    "Northern_Fulmar",
    "Gadwall",
    "American_Goldfinch",
    "European_Goldfinch",
    "Boat_tailed_Grackle",
    "Eared_Grebe",
    "Horned_Grebe",
    "Pied_billed_Grebe",
    "Western_Grebe",
    "Blue_Grosbeak",
    "Evening_Grosbeak",
    "Pine_Grosbeak",
    "Rose_breasted_Grosbeak",
    "Pigeon_Guillemot",
    "California_Gull",
    "Glaucous_winged_Gull",
    "Heermann_Gull",
    "Herring_Gull",
    "Ivory_Gull",
    "Ring_billed_Gull",
    "Slaty_backed_Gull",
    "Western_Gull",
    "Anna_Hummingbird",
    "Ruby_throated_Hummingbird",
    "Rufous_Hummingbird",
    "Green_Violetear",
    "Long_tailed_Jaeger",
    "Pomarine_Jaeger",
    "Blue_Jay",
    "Florida_Jay",
    "Green_Jay",
    "Dark_eyed_Junco",
    "Tropical_Kingbird",
    "Gray_Kingbird",
    "Belted_Kingfisher",
    "Green_Kingfisher",
    "Pied_Kingfisher",
    "Ringed_Kingfisher",
    "White_breasted_Kingfisher",
    "Red_legged_Kittiwake",
    "Horned_Lark",
    "Pacific_Loon",
    "Mallard",
    "Western_Meadowlark",
    "Hooded_Merganser",
    "Red_breasted_Merganser",
    "Mockingbird",
    "Nighthawk",
    "Clark_Nutcracker",
    "White_breasted_Nuthatch",
    "Baltimore_Oriole",
    "Hooded_Oriole",
    "Orchard_Oriole",
    "Scott_Oriole",
    "Ovenbird",
    "Brown_Pelican",
    "White_Pelican",
    "Western_Wood_Pewee",
    "Sayornis",
    "American_Pipit",
    "Whip_poor_Will",
    "Horned_Puffin",
    "Common_Raven",
    "White_necked_Raven",
    "American_Redstart",
    "Geococcyx",
    "Loggerhead_Shrike",
    "Great_Grey_Shrike",
    "Baird_Sparrow",
    "Black_throated_Sparrow",
    "Brewer_Sparrow",
    "Chipping_Sparrow",
    "Clay_colored_Sparrow",
    "House_Sparrow",
    "Field_Sparrow",
    "Fox_Sparrow",
    "Grasshopper_Sparrow",
    "Harris_Sparrow",
    "Henslow_Sparrow",
    "Le_Conte_Sparrow",
    "Lincoln_Sparrow",
    "Nelson_Sharp_tailed_Sparrow",
    "Savannah_Sparrow",
    "Seaside_Sparrow",
    "Song_Sparrow",
    "Tree_Sparrow",
    "Vesper_Sparrow",
    "White_crowned_Sparrow",
    "White_throated_Sparrow",
    "Cape_Glossy_Starling",
    "Bank_Swallow",
    "Barn_Swallow",
    "Cliff_Swallow",
    "Tree_Swallow",
    "Scarlet_Tanager",
    "Summer_Tanager",
    "Artic_Tern",
    "Black_Tern",
    "Caspian_Tern",
    "Common_Tern",
    "Elegant_Tern",
    "Forsters_Tern",
    "Least_Tern",
    "Green_tailed_Towhee",
    "Brown_Thrasher",
    "Sage_Thrasher",
    "Black_capped_Vireo",
    "Blue_headed_Vireo",
    "Philadelphia_Vireo",
    "Red_eyed_Vireo",
    "Warbling_Vireo",
    "White_eyed_Vireo",
    "Yellow_throated_Vireo",
    "Bay_breasted_Warbler",
    "Black_and_white_Warbler",
    "Black_throated_Blue_Warbler",
    "Blue_winged_Warbler",
    "Canada_Warbler",
    "Cape_May_Warbler",
    "Cerulean_Warbler",
    "Chestnut_sided_Warbler",
    "Golden_winged_Warbler",
    "Hooded_Warbler",
    "Kentucky_Warbler",
    "Magnolia_Warbler",
    "Mourning_Warbler",
    "Myrtle_Warbler",
    "Nashville_Warbler",
    "Orange_crowned_Warbler",
    "Palm_Warbler",
    "Pine_Warbler",
    "Prairie_Warbler",
    "Prothonotary_Warbler",
    "Swainson_Warbler",
    "Tennessee_Warbler",
    "Wilson_Warbler",
    "Worm_eating_Warbler",
    "Yellow_Warbler",
    "Northern_Waterthrush",
    "Louisiana_Waterthrush",
    "Bohemian_Waxwing",
    "Cedar_Waxwing",
    "American_Three_toed_Woodpecker",
    "Pileated_Woodpecker",
    "Red_bellied_Woodpecker",
    "Red_cockaded_Woodpecker",
    "Red_headed_Woodpecker",
    "Downy_Woodpecker",
    "Bewick_Wren",
    "Cactus_Wren",
    "Carolina_Wren",
    "House_Wren",
    "Marsh_Wren",
    "Rock_Wren",
    "Winter_Wren",
    "Common_Yellowthroat",
)


class Graph:
    """Union of all occurrences of each name in a nested-JSON taxonomy."""

    def __init__(self, tree: dict):
        self.root = tree["name"]
        self.children: dict[str, list[str]] = {}
        self.attrs: dict[str, dict] = {}
        self.occurrences: Counter = Counter()
        self.full_occurrences: Counter = Counter()  # occurrences carrying more than a name
        self.all_names: list = []
        stack = [tree]
        while stack:
            n = stack.pop()
            name = n.get("name")
            self.all_names.append(name)
            self.occurrences[name] += 1
            if set(n) - {"name"}:
                self.full_occurrences[name] += 1
            kids = self.children.setdefault(name, [])
            for c in n.get("children", []):
                if c.get("name") not in kids:
                    kids.append(c.get("name"))
                stack.append(c)
            a = self.attrs.setdefault(name, {})
            a.update({k: v for k, v in n.items() if k not in ("name", "children")})
        self.parents: dict[str, list[str]] = {n: [] for n in self.children}
        for p, kids in self.children.items():
            for c in kids:
                self.parents[c].append(p)

    @property
    def leaves(self) -> list[str]:
        return [n for n, k in self.children.items() if not k]

    def depths(self, name: str) -> set[int]:
        """Lengths of all root paths of ``name`` (assumes acyclic)."""
        memo: dict[str, set[int]] = {self.root: {0}}

        def rec(n: str) -> set[int]:
            if n not in memo:
                memo[n] = {d + 1 for p in self.parents[n] for d in rec(p)}
            return memo[n]

        return rec(name)

    def is_acyclic(self) -> bool:
        indeg = {n: len(p) for n, p in self.parents.items()}
        queue = [n for n, d in indeg.items() if d == 0]
        seen = 0
        while queue:
            n = queue.pop()
            seen += 1
            for c in self.children[n]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    queue.append(c)
        return seen == len(indeg)


def load(fname: str) -> Graph:
    with (TAXONOMIES / fname).open(encoding="utf-8") as fh:
        tree = json.load(fh)
    assert isinstance(tree, dict), f"{fname}: top level must be one node (single root)"
    return Graph(tree)


@pytest.fixture(scope="module", params=FILES)
def graph(request) -> Graph:
    return load(request.param)


def test_names_nonempty_strings(graph):
    assert all(isinstance(n, str) and n.strip() for n in graph.all_names)


def test_single_root_and_acyclic(graph):
    roots = [n for n, p in graph.parents.items() if not p]
    assert roots == [graph.root]
    assert graph.is_acyclic()


def test_repeated_names_written_once_in_full(graph):
    # DAG convention: full subtree at the first occurrence, bare name later.
    assert all(v <= 1 for v in graph.full_occurrences.values())


def test_root_has_no_rank(graph):
    assert "rank" not in graph.attrs[graph.root]


# ------------------------------------------------------------------ birds
def test_birds():
    g = load("birds.json")
    assert g.root == "Aves"
    assert sorted(g.leaves) == sorted(CUB_CLASSES)
    assert len(g.leaves) == 200
    assert all(len(p) == 1 for n, p in g.parents.items() if n != g.root)
    for leaf in CUB_CLASSES:
        path = [leaf]
        while g.parents[path[-1]]:
            path.append(g.parents[path[-1]][0])
        assert len(path) == 5, leaf  # depth 4
        ranks = [g.attrs[n].get("rank") for n in reversed(path[:-1])]
        assert ranks == ["order", "family", "genus", "species"], (leaf, ranks)
        attrs = g.attrs[leaf]
        assert attrs["scientific_name"] and attrs["common_name"]
        assert attrs["label_index"] == CUB_CLASSES.index(leaf)
    families = [n for n, a in g.attrs.items() if a.get("rank") == "family"]
    assert families and all(f.endswith("idae") for f in families)
    assert {d for leaf in CUB_CLASSES for d in g.depths(leaf)} == {4}
    albatross = ["Black_footed_Albatross"]
    while g.parents[albatross[-1]]:
        albatross.append(g.parents[albatross[-1]][0])
    assert albatross == [
        "Black_footed_Albatross",
        "Phoebastria",
        "Diomedeidae",
        "Procellariiformes",
        "Aves",
    ]


# --------------------------------------------------------------- cifar100
def test_cifar100():
    g = load("cifar100.json")
    assert g.root == "cifar100"
    groups = g.children[g.root]
    assert len(groups) == 20
    assert all(g.attrs[s]["rank"] == "superclass" and len(g.children[s]) == 5 for s in groups)
    assert len(g.leaves) == 100
    assert all(g.attrs[c]["rank"] == "class" for c in g.leaves)
    assert sorted(g.attrs[c]["label_index"] for c in g.leaves) == list(range(100))
    assert "aquarium_fish" in g.children["fish"]
    assert "apple" in g.children["fruit_and_vegetables"]


# --------------------------------------------------------------- imagenet
def _wnids() -> list[str]:
    return (TAXONOMIES / "imagenet1k_wnids.txt").read_text(encoding="utf-8").split()


def test_imagenet_wnid_list():
    wnids = _wnids()
    assert len(wnids) == 1000 and len(set(wnids)) == 1000
    assert all(re.fullmatch(r"n\d{8}", w) for w in wnids)
    assert wnids[0] == "n01440764"  # tench


@pytest.mark.parametrize("fname", ["imagenet1k.json", "imagenet1k_tree.json"])
def test_imagenet_contains_exactly_the_classes(fname):
    g = load(fname)
    wnids = _wnids()
    assert g.root == "n00001740"
    assert g.is_acyclic()
    assert all(re.fullmatch(r"n\d{8}", n) for n in g.children)
    indexed = {n: a["class_index"] for n, a in g.attrs.items() if "class_index" in a}
    assert indexed == {w: i for i, w in enumerate(wnids)}
    assert set(wnids) <= set(g.children)
    assert set(g.leaves) <= set(wnids)  # only ancestors of the classes are kept
    assert all(g.attrs[n].get("label") for n in g.children)


def test_imagenet_tree_is_tree_and_dag_is_dag():
    tree = load("imagenet1k_tree.json")
    assert all(len(p) == 1 for n, p in tree.parents.items() if n != tree.root)
    dag = load("imagenet1k.json")
    assert any(len(p) > 1 for p in dag.parents.values())
    assert set(tree.children) <= set(dag.children)


# ---------------------------------------------------------- fashion-mnist
def test_fashion_mnist():
    g = load("fashion_mnist.json")
    assert g.root == "fashion"
    classes = [
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
    assert sorted(g.leaves) == sorted(classes)
    assert {c: g.attrs[c]["label_index"] for c in classes} == {c: i for i, c in enumerate(classes)}
    groups = g.children[g.root]
    assert sorted(groups) == ["bags", "bottoms", "dresses", "footwear", "tops"]
    assert all(g.attrs[s]["rank"] == "group" for s in groups)
    assert all(g.attrs[c]["rank"] == "class" for c in classes)
    assert sorted(g.children["tops"]) == sorted(["T-shirt/top", "Pullover", "Coat", "Shirt"])
    assert sorted(g.children["footwear"]) == sorted(["Sandal", "Sneaker", "Ankle boot"])
