"""The `Taxonomy`: one rooted DAG (edges parent -> child) that everything else is organised around."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from taxovit.errors import TaxonomyError
from taxovit.taxonomy.graph_arrays import CycleError, factorize_sorted, preview
from taxovit.taxonomy.index import TaxonomyIndex

if TYPE_CHECKING:  # networkx is imported on first use of a graph (evaluation needs none)
    import networkx as nx

VIRTUAL_ROOT = "__root__"


class Taxonomy:
    """A validated taxonomy: a single-rooted DAG of named nodes, viewed as a networkx DiGraph.

    Nodes are identified by their name (a non-empty ``str``); node ``i`` of the compiled
    integer index is ``taxonomy.nodes[i]``. Each node may carry a ``rank`` (e.g. ``"genus"``)
    and any other attributes (e.g. ``scientific_name``). Several parents per node are allowed
    (a DAG, as in WordNet); ``is_tree`` says whether every node has at most one parent.

    Construct with :meth:`from_edges` or wrap an existing graph; loaders live in
    :mod:`taxovit.taxonomy.io`. Internally a taxonomy is held as arrays (names, edge ids,
    attributes) from which the integer index is compiled; ``graph`` is the networkx view,
    built on first use when a loader created the taxonomy (a million-node networkx graph costs
    seconds that evaluation does not need). Treat both as read-only: the index and the
    summaries are cached, so build a new ``Taxonomy`` after a change.

    Parameters
    ----------
    graph : networkx.DiGraph
        Edges parent -> child; node attributes (``rank``, ...) are kept.
    add_virtual_root : bool or str, default False
        Join several roots under a virtual root (``"__root__"`` or the name given).
    copy : bool, default True
        Copy ``graph`` (``False``: the taxonomy takes it over; do not change it after).

    Attributes
    ----------
    nodes : list of str
        The node names; node id ``i`` is ``nodes[i]``.
    root : str
        The root's name.
    is_tree : bool
        Whether every node has at most one parent.
    rank_names : list of str
        The ranks, shallowest first.
    index : TaxonomyIndex
        The compiled integer index (node ids ``0 .. len - 1``).

    Raises
    ------
    TaxonomyError
        A cycle (named), several roots without ``add_virtual_root``, an empty or non-string
        name.

    Examples
    --------
    >>> tax = Taxonomy.from_edges(
    ...     [("Aves", "Corvidae"), ("Corvidae", "Corvus"), ("Corvidae", "Pica")],
    ...     ranks={"Corvidae": "family", "Corvus": "genus", "Pica": "genus"})
    >>> len(tax), tax.root, tax.is_tree, tax.rank_names, tax.leaves
    (4, 'Aves', True, ['family', 'genus'], ['Corvus', 'Pica'])
    >>> tax.ids(["Pica", "Aves"]), tax.names([1])
    (array([3, 0]), ['Corvidae'])
    """

    def __init__(
        self, graph: nx.DiGraph, *, add_virtual_root: bool | str = False, copy: bool = True
    ) -> None:
        if copy:
            graph = graph.copy()
        if len(graph) == 0:
            raise TaxonomyError("the taxonomy has no nodes")
        self._validate_names(list(graph.nodes))
        roots = [n for n, d in graph.in_degree() if d == 0]
        if len(roots) > 1 and add_virtual_root:
            name = self._virtual_root_name(add_virtual_root, graph)
            graph.add_edges_from((name, r) for r in roots)
        nodes = list(graph.nodes)
        id_of = {n: i for i, n in enumerate(nodes)}
        edges = np.array([(id_of[u], id_of[v]) for u, v in graph.edges], dtype=np.int64)
        edges = edges.reshape(-1, 2)
        attrs = {n: d for n, d in graph.nodes(data=True) if d}
        self._columns: dict[str, np.ndarray] = {}
        self.__dict__["graph"] = graph  # the given graph is the view (no rebuild)
        self._setup(nodes, id_of, edges[:, 0], edges[:, 1], attrs)

    @classmethod
    def _from_parts(
        cls,
        nodes: list[str],
        parents: np.ndarray,
        children: np.ndarray,
        attrs: dict[str, dict[str, Any]] | None,
        *,
        id_of: dict[str, int] | None = None,
        add_virtual_root: bool | str = False,
        columns: dict[str, np.ndarray] | None = None,
        trusted: bool = False,
    ) -> Taxonomy:
        """Build from arrays (loaders' fast path): ``parents[k] -> children[k]`` are node ids.

        Attributes come as ``attrs`` (name -> dict) or as ``columns`` (attribute -> object
        array aligned with ``nodes``, ``None`` where absent; the per-node dicts are then made
        only when asked for). ``trusted``: the names are already checked non-empty strings.
        The networkx graph and (without ``id_of``) the name -> id dict are built on first use.
        """
        self = cls.__new__(cls)
        if not nodes:
            raise TaxonomyError("the taxonomy has no nodes")
        if not trusted:
            cls._validate_names(nodes)
        parents = np.asarray(parents, dtype=np.int64)
        children = np.asarray(children, dtype=np.int64)
        roots = np.flatnonzero(np.bincount(children, minlength=len(nodes)) == 0)
        columns = dict(columns or {})
        if roots.size > 1 and add_virtual_root:
            name = cls._virtual_root_name(add_virtual_root, set(nodes) if id_of is None else id_of)
            new = len(nodes)
            nodes = [*nodes, name]
            id_of = None if id_of is None else {**id_of, name: new}
            parents = np.concatenate([parents, np.full(roots.size, new, dtype=np.int64)])
            children = np.concatenate([children, roots])
            columns = {k: np.append(v, None) for k, v in columns.items()}
        self._columns = columns
        self._setup(nodes, id_of, parents, children, attrs)
        return self

    def _setup(
        self,
        nodes: list[str],
        id_of: dict[str, int] | None,
        parents: np.ndarray,
        children: np.ndarray,
        attrs: dict[str, dict[str, Any]] | None,
    ) -> None:
        self.nodes: list[str] = nodes
        if id_of is not None:
            self.__dict__["_id_of"] = id_of
        if attrs is not None:
            self.__dict__["_attrs"] = attrs
        self._parents = parents
        self._children = children
        roots = np.flatnonzero(np.bincount(children, minlength=len(nodes)) == 0)
        if roots.size == 0:
            self._raise_cycle()
        if roots.size > 1:
            names = sorted(nodes[i] for i in roots)
            raise TaxonomyError(
                f"the taxonomy has {roots.size} roots (nodes without a parent): "
                f"{preview(names)}; a taxonomy needs exactly one "
                "(pass add_virtual_root=True, or --add-root on the command line, to join them)"
            )
        self._root_id = int(roots[0])
        self.root: str = nodes[self._root_id]
        # Compiling the index checks acyclicity in numpy (Kahn layering leaves the nodes of a
        # cycle unplaced), much faster than networkx's check on large taxonomies.
        try:
            self.index  # noqa: B018
        except CycleError:
            self._raise_cycle()

    @cached_property
    def _id_of(self) -> dict[str, int]:
        return dict(zip(self.nodes, range(len(self.nodes)), strict=True))

    @cached_property
    def _attrs(self) -> dict[str, dict[str, Any]]:
        """Node name -> attributes (made from the attribute columns on first use)."""
        out: dict[str, dict[str, Any]] = {}
        names = self._names_array
        for key, col in self._columns.items():
            has = np.flatnonzero(col != None)  # noqa: E711 (element-wise)
            for name, value in zip(names[has].tolist(), col[has].tolist(), strict=True):
                out.setdefault(name, {})[key] = value
        return out

    def _node_attrs(self, i: int) -> dict[str, Any]:
        """Attributes of node id ``i`` (from the columns while the dicts are not made)."""
        if "_attrs" in self.__dict__ or not self._columns:
            return self._attrs.get(self.nodes[i], {})
        return {k: v for k, c in self._columns.items() if (v := c[i]) is not None}

    @staticmethod
    def _virtual_root_name(add_virtual_root: bool | str, existing: Any) -> str:
        name = VIRTUAL_ROOT if add_virtual_root is True else str(add_virtual_root)
        if name in existing:
            raise TaxonomyError(f"cannot add virtual root {name!r}: a node has that name")
        return name

    def _raise_cycle(self) -> None:
        import networkx as nx

        nodes = [u for u, _ in nx.find_cycle(self.graph)]
        raise TaxonomyError(
            "the taxonomy has a cycle: " + " -> ".join(map(repr, nodes + nodes[:1]))
        )

    @staticmethod
    def _validate_names(nodes: list[Any]) -> None:
        bad = [n for n in nodes if not isinstance(n, str) or not n.strip()]
        if bad:
            raise TaxonomyError(f"node names must be non-empty strings; found {preview(bad)}")

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The networkx view (edges parent -> child, node attributes), built on first use."""
        import networkx as nx

        g = nx.DiGraph()
        attrs = self._attrs
        g.add_nodes_from((n, attrs.get(n, {})) for n in self.nodes)
        names = self._names_array
        g.add_edges_from(
            zip(names[self._parents].tolist(), names[self._children].tolist(), strict=True)
        )
        return g

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_edges(
        cls,
        edges: Iterable[tuple[str, str]],
        *,
        ranks: Mapping[str, str | None] | None = None,
        attrs: Mapping[str, Mapping[str, Any]] | None = None,
        nodes: Iterable[str] = (),
        add_virtual_root: bool | str = False,
        source: str | None = None,
    ) -> Taxonomy:
        """Build from ``(parent, child)`` pairs; a repeated pair is an error (it names the pair).

        Parameters
        ----------
        edges : iterable of (str, str)
        ranks, attrs, nodes : optional
            ``{name: rank}``, ``{name: {attribute: value}}``, nodes without an edge;
            ``source`` is named in the error messages (e.g. the file).
        add_virtual_root : bool or str, default False
            Join several roots under a virtual root (``"__root__"`` or the name given).

        Raises
        ------
        TaxonomyError
            A repeated edge, a cycle, several roots, an empty or non-string name.

        Examples
        --------
        >>> tax = Taxonomy.from_edges([("Aves", "Corvidae"), ("Corvidae", "Corvus")], ranks={"Corvus": "genus"})
        >>> sorted(tax.ancestors("Corvus")), tax.rank_names, tax.parents("Corvus")
        (['Aves', 'Corvidae'], ['genus'], ['Corvidae'])
        """
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        for parent, child in edges:
            if graph.has_edge(parent, child):
                where = f"{source}: " if source else ""
                raise TaxonomyError(f"{where}duplicate edge {parent!r} -> {child!r}")
            graph.add_edge(parent, child)
        for name, rank in (ranks or {}).items():
            if rank is not None and rank != "":
                graph.add_node(name, rank=rank)
        for name, extra in (attrs or {}).items():
            graph.add_node(name, **extra)
        return cls(graph, add_virtual_root=add_virtual_root, copy=False)

    # ----------------------------------------------------------------- node ids
    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._id_of

    @property
    def name_to_id(self) -> Mapping[str, int]:
        """Node name -> integer id, for readers that look labels up by name (do not modify)."""
        return self._id_of

    def id_of(self, name: str) -> int:
        """Integer id of one node name (``KeyError`` naming it if unknown)."""
        try:
            return self._id_of[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a node of this taxonomy") from None

    def ids(self, labels: Iterable[str] | np.ndarray) -> np.ndarray:
        """Map names (or pass through integer ids) to an ``int64`` array of node ids."""
        arr = np.asarray(labels)
        if arr.dtype.kind in "iu":
            ids = arr.astype(np.int64, copy=False)
            if ids.size and (ids.min() < 0 or ids.max() >= len(self.nodes)):
                raise KeyError(f"node ids must lie in [0, {len(self.nodes)})")
            return ids
        lookup = self._id_of
        try:
            return np.fromiter((lookup[x] for x in arr.ravel()), np.int64, arr.size).reshape(
                arr.shape
            )
        except KeyError as exc:
            raise KeyError(f"{exc.args[0]!r} is not a node of this taxonomy") from None

    @cached_property
    def _names_array(self) -> np.ndarray:
        return np.array(self.nodes, dtype=object)

    def names(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """Node names of integer ids (vectorised gather)."""
        return self._names_array[np.asarray(ids, dtype=np.int64).ravel()].tolist()

    def ranks_of(self, ids: Iterable[int] | np.ndarray) -> list[str | None]:
        """Rank of each node id (``None`` where a node has no rank), vectorised."""
        ix = self.index
        table = np.array([*ix.rank_names, None], dtype=object)
        return table[ix.rank_of[np.asarray(ids, dtype=np.int64).ravel()]].tolist()

    # ----------------------------------------------------------------- structure
    # Structural summaries come from the compiled index: walking a million networkx nodes
    # in Python would cost seconds.
    @cached_property
    def is_tree(self) -> bool:
        return self.index.is_tree

    @cached_property
    def leaves(self) -> list[str]:
        return self._names_array[np.diff(self.index.child_ptr) == 0].tolist()

    def rank(self, name: str) -> str | None:
        return self._node_attrs(self.id_of(name)).get("rank")  # KeyError naming an unknown node

    def attributes(self, name: str) -> dict[str, Any]:
        return dict(self._node_attrs(self.id_of(name)))

    def parents(self, name: str) -> list[str]:
        ix, i = self.index, self.id_of(name)
        return self.names(ix.parent_idx[ix.parent_ptr[i] : ix.parent_ptr[i + 1]])

    def children(self, name: str) -> list[str]:
        ix, i = self.index, self.id_of(name)
        return self.names(ix.child_idx[ix.child_ptr[i] : ix.child_ptr[i + 1]])

    def ancestors(self, name: str) -> set[str]:
        """All ancestors over every path (root included, the node itself excluded)."""
        i = self.id_of(name)
        return set(self.names(self.index.ancestors_of(i))) - {name}

    @cached_property
    def rank_names(self) -> list[str]:
        """Ranks present, ordered coarse -> fine by the smallest depth at which each occurs.

        Ties are broken by first appearance, so ``order, family, genus, species`` come out
        in that order for a taxonomy that uses them consistently.
        """
        ix = self.index
        has = np.flatnonzero(ix.rank_of >= 0)
        k = len(ix.rank_names)
        big = np.iinfo(np.int64).max
        min_depth = np.full(k, big)
        first = np.full(k, big)
        np.minimum.at(min_depth, ix.rank_of[has], ix.depth[has])
        np.minimum.at(first, ix.rank_of[has], has)
        return [ix.rank_names[j] for j in np.lexsort((first, min_depth)) if min_depth[j] < big]

    @cached_property
    def index(self) -> TaxonomyIndex:
        """The compiled integer index (depth, height, ancestors, LCA), built once."""
        root = self._root_id  # _setup sets the root before compiling
        return TaxonomyIndex(
            len(self.nodes), self._parents, self._children, root, self._rank_codes()
        )

    def _rank_codes(self) -> tuple[list[str], np.ndarray]:
        """(sorted rank names, rank id per node or -1), vectorised for a rank column."""
        col = self._columns.get("rank") if "_attrs" not in self.__dict__ else None
        if col is None:
            attrs = self._attrs
            col = np.array(
                [attrs[n].get("rank") if n in attrs else None for n in self.nodes] or [None],
                dtype=object,
            )[: len(self.nodes)]
        return factorize_sorted(col)

    def summary(self) -> dict[str, Any]:
        """Counts for ``taxovit taxonomy info`` (from the index: fast on huge taxonomies)."""
        from taxovit.taxonomy.describe import index_summary, name_summary

        return {**index_summary(self), **name_summary(self)}

    def __repr__(self) -> str:
        kind = "tree" if self.is_tree else "DAG"
        return f"Taxonomy({len(self.nodes)} nodes, {len(self.leaves)} leaves, {kind}, root={self.root!r})"
