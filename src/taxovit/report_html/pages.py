"""The leaderboard's and the comparison's pages (data from their public ``to_dict``)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from taxovit.evaluation.metric_info import metric_info
from taxovit.report_html.page import render_page

__all__ = ["comparison_page", "leaderboard_page", "recall_difference"]


def _meta(meta: dict[str, Any]) -> dict[str, str]:
    import taxovit

    return {
        **{k: str(v) for k, v in meta.items()},
        "taxovit": taxovit.__version__,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _table(frame) -> dict[str, Any]:
    from taxovit.evaluation.render import _clean

    frame = frame.astype(object).where(frame.notna(), None)
    return {"columns": [str(c) for c in frame.columns], "rows": _clean(frame.values.tolist())}


def leaderboard_page(board, meta: dict[str, Any]) -> str:
    """The self-contained HTML page of a leaderboard (``taxovit leaderboard --html``).

    The ranking table with its explanation and notes, and each metric with its interval,
    from the board's ``to_dict``; self-contained like :func:`evaluation_html`'s page.

    Parameters
    ----------
    board : Leaderboard
        The ranking (:func:`taxovit.evaluation.leaderboard.leaderboard`).
    meta : dict of str to Any
        Shown in the page's header as text (the command gives the taxonomy and each
        model's file); the taxovit version and the date are added.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    ModuleNotFoundError
        When plotly or jinja2 is missing: check first with :func:`require_report_extra`.

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> from taxovit.evaluation.leaderboard import leaderboard
    >>> from taxovit.predictions import Predictions
    >>> from taxovit.report_html import leaderboard_page
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus"), ("Aves", "Pica")])
    >>> def run(pred):
    ...     return Predictions(np.array(["a", "b", "c"], dtype=object),
    ...                        tax.ids(["Corvus", "Pica", "Pica"]), tax.ids(pred),
    ...                        np.empty(0, np.int64), None, None)
    >>> board = leaderboard([("A", run(["Corvus", "Corvus", "Pica"])),
    ...                      ("B", run(["Corvus", "Pica", "Pica"]))], tax, bootstrap=0)
    >>> page = leaderboard_page(board, {"taxonomy": "birds.json"})
    >>> "<title>taxovit leaderboard: 2 models</title>" in page
    True
    """
    from taxovit.evaluation.leaderboard_render import explanation, leaderboard_frame
    from taxovit.evaluation.render import _clean

    title = f"taxovit leaderboard: {len(board.rows)} models"
    data = {
        "title": title,
        "meta": _meta(meta),
        "board": _clean(board.to_dict()),
        "explanation": explanation(board),
        "table": _table(leaderboard_frame(board)),
    }
    return render_page("leaderboard.html.j2", "leaderboard.js", data, title)


HEADLINE = ("accuracy", "top1_accuracy", "hierarchical_f1_micro", "mistake_severity", "ece")


def recall_difference(a, b, taxonomy) -> dict[str, Any] | None:
    """Per taxon with samples (trees): support, recall of A and of B (predictions ``a``,
    ``b`` on the same samples, ``b`` aligned to ``a``), for the page's difference sunburst."""
    if not taxonomy.is_tree:
        return None
    import numpy as np

    from taxovit.evaluation import evaluate
    from taxovit.evaluation.compare import align
    from taxovit.report_html.data import node_stats

    b = align(a, b)
    sa, sb = (
        node_stats(evaluate(p.y_true, p.y_pred, taxonomy, top_k=(1,)), taxonomy) for p in (a, b)
    )
    keep = np.flatnonzero(sa["support"] > 0)
    r = lambda x: [round(float(v), 6) for v in x[keep]]  # noqa: E731
    return {
        "id": keep.tolist(),
        "name": taxonomy.names(keep),
        "parent": taxonomy.index.parent[keep].tolist(),
        "rank": [x or "" for x in taxonomy.ranks_of(keep)],
        "support": sa["support"][keep].astype(int).tolist(),
        "recall_a": r(sa["recall"]),
        "recall_b": r(sb["recall"]),
    }


def comparison_page(
    cmp, names: tuple[str, str], meta: dict[str, Any], tree: dict[str, Any] | None = None
) -> str:
    """The self-contained HTML page of a comparison of A and B (``taxovit compare --html``).

    Headline cards, every metric's A, B, B − A with its interval and which model is
    significantly better, McNemar's tests (overall and per rank), and with ``tree`` a
    sunburst of the B − A recall per taxon; self-contained like :func:`evaluation_html`'s
    page.

    Parameters
    ----------
    cmp : Comparison
        The comparison (:func:`taxovit.evaluation.compare.compare`).
    names : (str, str)
        The names of A and B (the command gives the file names).
    meta : dict of str to Any
        Shown in the page's header as text; the taxovit version and the date are added.
    tree : dict, optional
        :func:`recall_difference` of the same predictions, for the sunburst; ``None``: no
        sunburst (it is ``None`` for a taxonomy that is not a tree).

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    ModuleNotFoundError
        When plotly or jinja2 is missing: check first with :func:`require_report_extra`.

    References
    ----------
    .. [1] McNemar, "Note on the sampling error of the difference between correlated
       proportions or percentages", Psychometrika 12, 1947.

    Examples
    --------
    >>> import numpy as np
    >>> from taxovit import Taxonomy
    >>> from taxovit.evaluation.compare import compare
    >>> from taxovit.predictions import Predictions
    >>> from taxovit.report_html import comparison_page
    >>> from taxovit.report_html.pages import recall_difference
    >>> tax = Taxonomy.from_edges([("Aves", "Corvus"), ("Aves", "Pica")])
    >>> def run(pred):
    ...     return Predictions(np.array(["a", "b", "c"], dtype=object),
    ...                        tax.ids(["Corvus", "Pica", "Pica"]), tax.ids(pred),
    ...                        np.empty(0, np.int64), None, None)
    >>> a, b = run(["Corvus", "Corvus", "Pica"]), run(["Corvus", "Pica", "Pica"])
    >>> cmp = compare(a, b, tax, bootstrap=0)
    >>> page = comparison_page(cmp, ("a.csv", "b.csv"), {}, recall_difference(a, b, tax))
    >>> "<title>taxovit comparison: a.csv (A) vs b.csv (B)</title>" in page
    True
    """
    from taxovit.evaluation.compare_render import comparison_frame
    from taxovit.evaluation.render import _clean

    d = _clean(cmp.to_dict())
    cards = []
    for key in HEADLINE:
        e = d["metrics"].get(key)
        if e and e["a"] is not None:
            info = metric_info(key)
            cards.append(
                {"key": key, "label": info.label, "higher_is_better": info.higher_is_better, **e}
            )
    frame = comparison_frame(cmp)
    frame.insert(1, "label", [metric_info(k).label for k in frame["metric"]])
    better = []
    for key, sig, diff in zip(frame["metric"], frame["significant"], frame["diff"], strict=True):
        up = metric_info(key).higher_is_better
        better.append("" if sig != "yes" else ("B" if (diff > 0) == up else "A"))
    frame["better"] = better
    title = f"taxovit comparison: {names[0]} (A) vs {names[1]} (B)"
    data = {
        "title": title,
        "names": list(names),
        "meta": _meta(meta),
        "cards": cards,
        "table": _table(frame),
        "mcnemar": d["mcnemar"],
        "per_rank_mcnemar": {r: v.get("mcnemar") for r, v in d["per_rank"].items()},
        "bootstrap": d["bootstrap"],
        "tree": tree,
    }
    return render_page("compare.html.j2", "compare.js", data, title)
