"""How labels in a predictions file name taxonomy nodes: by node name (the default) or by a
node attribute (``--label-attr``), e.g. the integer ``category_id`` of iNaturalist files."""

from __future__ import annotations

from typing import Any

from taxovit.errors import ArgumentError
from taxovit.predictions.cells import LabelMap

__all__ = ["attribute_labels", "label_map"]


def attribute_labels(taxonomy: Any, attr: str) -> LabelMap:
    """Attribute value (as text) -> node id: the lookup of ``--label-attr``.

    Each value is written as ``str(value)``: an integer ``5`` is looked up as ``5`` (a float
    ``5.0`` as ``5.0``). Nodes without the attribute (or with ``None``) cannot be named.

    Parameters
    ----------
    taxonomy : Taxonomy
        The taxonomy whose nodes carry the attribute.
    attr : str
        The attribute's name, e.g. ``category_id``.

    Returns
    -------
    LabelMap
        A ``dict`` subclass of value text -> node id, that also says in messages what a
        label is (``the category_id of a taxonomy node``).

    Raises
    ------
    ArgumentError
        When ``attr`` is empty, two nodes share a value, or no node has the attribute.

    Examples
    --------
    >>> from taxovit import Taxonomy
    >>> from taxovit.predictions import attribute_labels
    >>> tax = Taxonomy.from_edges(
    ...     [("Aves", "Corvus"), ("Aves", "Pica")],
    ...     attrs={"Corvus": {"category_id": 5}, "Pica": {"category_id": 6}},
    ... )
    >>> lookup = attribute_labels(tax, "category_id")
    >>> lookup, tax.names([lookup["6"]])
    ({'5': 1, '6': 2}, ['Pica'])
    """
    if not attr:
        raise ArgumentError("--label-attr: empty attribute name")
    ids = taxonomy.name_to_id
    out: dict[str, int] = {}
    owner: dict[str, str] = {}
    for name in taxonomy.nodes:
        attrs = taxonomy.attributes(name)
        if attr not in attrs or attrs[attr] is None:
            continue
        value = str(attrs[attr])
        if value in owner:
            raise ArgumentError(
                f"--label-attr {attr}: the value {value!r} belongs to two nodes, {owner[value]!r} "
                f"and {name!r}; expected a different {attr} on every node"
            )
        owner[value] = name
        out[value] = int(ids[name])
    if not out:
        raise ArgumentError(f"--label-attr {attr}: no taxonomy node has the attribute {attr!r}")
    return LabelMap(out, what=f"the {attr} of a taxonomy node", expected=f"a node's {attr}")


def label_map(taxonomy: Any, attr: str | None = None) -> Any:
    """The label lookup for readers: node names, or the values of ``attr``.

    Parameters
    ----------
    taxonomy : Taxonomy
        The taxonomy the labels name.
    attr : str or None, default None
        ``None``: labels are node names (``taxonomy.name_to_id``); else the node attribute
        they are values of (:func:`attribute_labels`).

    Returns
    -------
    Mapping of str to int
        Label text -> node id, the ``name_to_id`` of :func:`~taxovit.predictions.read_any`.

    Raises
    ------
    ArgumentError
        As :func:`attribute_labels`, when ``attr`` is given.

    Examples
    --------
    >>> from taxovit import Taxonomy
    >>> from taxovit.predictions import label_map
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus")], attrs={"Corvus": {"code": "CORV"}})
    >>> dict(label_map(tax)), dict(label_map(tax, "code"))
    ({'Aves': 0, 'Corvus': 1}, {'CORV': 1})
    """
    return taxonomy.name_to_id if attr is None else attribute_labels(taxonomy, attr)
