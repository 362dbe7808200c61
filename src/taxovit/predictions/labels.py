"""How labels in a predictions file name taxonomy nodes: by node name (the default) or by a
node attribute (``--label-attr``), e.g. the integer ``category_id`` of iNaturalist files."""

from __future__ import annotations

from typing import Any

from taxovit.errors import ArgumentError
from taxovit.predictions.cells import LabelMap

__all__ = ["attribute_labels", "label_map"]


def attribute_labels(taxonomy: Any, attr: str) -> LabelMap:
    """Attribute value (as text: ``5``, not ``5.0`` for an integer) -> node id.

    Nodes without the attribute cannot be named; a value shared by two nodes, or an
    attribute no node has, is an :class:`~taxovit.errors.ArgumentError`.
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
    """The label lookup for readers: node names, or the values of ``attr``."""
    return taxonomy.name_to_id if attr is None else attribute_labels(taxonomy, attr)
