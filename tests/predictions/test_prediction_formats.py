"""Every prediction file format (wide CSV/Parquet, top-k submissions, long CSV/Parquet, .npz)
read by `read_any`: one set of predictions written in each format gives the same report for
every key the format supports (the others null, with a note); bad input in each format is one
InputError naming the file, the line/row/index and the column; `--label-attr`; the CLI."""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import taxovit
from taxovit.cli import app
from taxovit.errors import ArgumentError, InputError
from taxovit.evaluation.report import flatten_metrics
from taxovit.evaluation.score_metrics import CALIBRATION_KEYS
from taxovit.metrics.ranking import top_k_columns
from taxovit.predictions import MAP_KEYS, attribute_labels, read_any, read_predictions

ROOT = Path(__file__).resolve().parents[2]
BIRDS = ROOT / "taxonomies" / "birds.json"
EXAMPLE = ROOT / "examples" / "birds_preds.csv"
TOP_K = (1, 3, 5, 10)
K = 5  # candidates per sample in the top-k and ranked long files
RANKED_NULL = {
    *MAP_KEYS,
    *CALIBRATION_KEYS,
    "top10_accuracy",
    "avg_hierarchical_distance_at_10",
    "avg_hierarchical_distance_at_10_depth",
}
#: per-rank metrics of marginal probabilities: only with a score for every class
RANK_SCORE_KEYS = ("top", *CALIBRATION_KEYS)
runner = CliRunner()


@pytest.fixture(scope="module")
def tax() -> taxovit.Taxonomy:
    return taxovit.load_taxonomy(BIRDS)


# ----------------------------------------------------------------------------- one set of predictions


@dataclass
class Shared:
    ids: list[str]
    y_true: list[str]
    classes: list[str]  # species and a few genera/families: internal-node predictions
    scores: np.ndarray  # quarters 0..1: many ties, at the top too
    top: np.ndarray  # (n, C) columns best first (scikit-learn's tie rule, as evaluate ranks)

    @property
    def y_pred(self) -> list[str]:
        return [self.classes[j] for j in self.top[:, 0]]


def shared_predictions(tax: taxovit.Taxonomy, n: int = 200, seed: int = 0) -> Shared:
    rng = np.random.default_rng(seed)
    species = [str(s) for s in rng.choice(sorted(tax.leaves), 28, replace=False)]
    internal = list(dict.fromkeys(tax.parents(s)[0] for s in species[:6]))
    classes = species[:24] + internal  # species[24:] are true labels without a score column
    c = len(classes)
    scores = rng.integers(0, 5, size=(n, c)) / 4.0
    boost = rng.random(n) < 0.3
    scores[boost, rng.integers(24, c, size=int(boost.sum()))] = 1.25  # abstain to a genus
    scores[0] = np.arange(c) / c  # the first id has one best class (see write_long)
    y_true = [str(x) for x in rng.choice(species, n)]
    return Shared(
        [f"img{i:03d}" for i in range(n)], y_true, classes, scores, top_k_columns(scores, c)
    )


def write_wide_csv(path: Path, sh: Shared) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "y_true", "y_pred", *(f"score_{c}" for c in sh.classes)])
        for i, row in enumerate(sh.scores):
            w.writerow([sh.ids[i], sh.y_true[i], sh.y_pred[i], *map(repr, row.tolist())])
    return path


def wide_frame(sh: Shared) -> pd.DataFrame:
    df = pd.DataFrame({"id": sh.ids, "y_true": sh.y_true, "y_pred": sh.y_pred})
    scores = pd.DataFrame(sh.scores, columns=[f"score_{c}" for c in sh.classes])
    return pd.concat([df, scores], axis=1)


def write_npz(path: Path, sh: Shared, **extra) -> Path:
    arrays = dict(
        scores=sh.scores,
        classes=np.array(sh.classes),
        ids=np.array(sh.ids),
        y_true=np.array(sh.y_true),
        y_pred=np.array(sh.y_pred),
    )
    np.savez(path, **(arrays | extra))
    return path


def long_frame(sh: Shared, dense: bool, with_truth: bool = True) -> pd.DataFrame:
    """Dense: every id scores every class, its best class on its first row (the reader's
    tie rule: the earlier row), the first id in column order (which fixes the columns).
    Ranked: the K best classes of each id, best first."""
    n, c = sh.scores.shape
    if dense:
        rest = np.tile(np.arange(c), (n, 1))
        rest = rest[rest != sh.top[:, :1]].reshape(n, c - 1)
        order = np.column_stack([sh.top[:, 0], rest])
        order[0] = np.arange(c)
    else:
        order = sh.top[:, :K]
    rows = np.repeat(np.arange(n), order.shape[1])
    df = pd.DataFrame(
        {
            "id": np.array(sh.ids)[rows],
            "label": np.array(sh.classes)[order.ravel()],
            "score": sh.scores[rows, order.ravel()],
        }
    )
    if with_truth:
        df["y_true"] = np.array(sh.y_true)[rows]
    return df


def write_topk(path: Path, sh: Shared) -> Path:
    cells = [" ".join(sh.classes[j] for j in row) for row in sh.top[:, :K]]
    pd.DataFrame({"Id": sh.ids, "Predicted": cells}).to_csv(path, index=False)
    return path


def write_truth(path: Path, sh: Shared) -> Path:
    df = pd.DataFrame({"id": sh.ids, "expected": sh.y_true, "usage": "Public"})
    df.sample(frac=1, random_state=1).to_csv(path, index=False)  # any order
    return path


@pytest.fixture(scope="module")
def files(tax, tmp_path_factory) -> dict[str, tuple[Path, Path | None]]:
    """Format name -> (predictions file, truth file or None)."""
    d = tmp_path_factory.mktemp("formats")
    sh = shared_predictions(tax)
    truth = write_truth(d / "solution.csv", sh)
    wide_frame(sh).to_parquet(d / "wide.parquet")
    long_frame(sh, dense=True).to_csv(d / "long_dense.csv", index=False)
    long_frame(sh, dense=True).to_parquet(d / "long_dense.parquet")
    long_frame(sh, dense=False, with_truth=False).to_csv(d / "long_ranked.csv", index=False)
    long_frame(sh, dense=False).to_parquet(d / "long_ranked.parquet")
    return {
        "csv": (write_wide_csv(d / "wide.csv", sh), None),
        "parquet": (d / "wide.parquet", None),
        "npz": (write_npz(d / "arrays.npz", sh), None),
        "long-csv": (d / "long_dense.csv", None),
        "long-parquet": (d / "long_dense.parquet", None),
        "long-csv-ranked": (d / "long_ranked.csv", truth),
        "long-parquet-ranked": (d / "long_ranked.parquet", None),
        "topk": (write_topk(d / "submission.csv", sh), truth),
    }


def report_of(tax, path, truth=None, bootstrap=0, names=None):
    data = read_any(path, names or tax.name_to_id, truth=truth)
    labels = data.score_labels if data.scores is not None else None
    report = taxovit.evaluate(
        data.y_true,
        data.y_pred,
        tax,
        data.scores,
        score_labels=labels,
        ranked=data.ranked,
        notes=data.notes,
        top_k=TOP_K,
        bootstrap=bootstrap,
        ranked_scores=data.ranked_scores,
    )
    return data, report


def flat(report) -> dict[str, float | None]:
    return flatten_metrics({**report.metrics, "per_rank": report.per_rank})


FULL = ["csv", "parquet", "npz", "long-csv", "long-parquet"]
RANKED = ["topk", "long-csv-ranked", "long-parquet-ranked"]


@pytest.mark.parametrize("fmt", FULL + RANKED)
def test_every_format_gives_the_same_report(tax, files, fmt) -> None:
    _, ref = report_of(tax, files["csv"][0])
    assert all(v is not None for k, v in flat(ref).items() if k != "mistake_severity")
    data, rep = report_of(tax, *files[fmt])
    assert data.format == fmt.removesuffix("-ranked")
    assert list(data.ids) == [f"img{i:03d}" for i in range(200)]
    a, b = flat(ref), flat(rep)
    if fmt in RANKED:  # per-rank marginals need every class's score
        a = {
            k: v
            for k, v in a.items()
            if not (k.startswith("per_rank/") and k.split("/")[-1].startswith(RANK_SCORE_KEYS))
        }
    assert a.keys() == b.keys()
    for key in a:
        if fmt in RANKED and key in RANKED_NULL:
            assert b[key] is None and key in rep.notes, key
        else:
            assert b[key] == a[key], (key, a[key], b[key])
    if fmt in FULL:
        assert rep.notes == {} and data.ranked is None
    else:
        assert set(rep.notes) == RANKED_NULL and data.scores is None
        assert data.ranked.shape == (200, K)
    pc_ref, pc = ref.per_class.drop(columns="ap"), rep.per_class.drop(columns="ap", errors="ignore")
    pd.testing.assert_frame_equal(pc_ref, pc)
    assert (np.array(tax.ranks_of(data.y_pred)) != "species").any()  # internal-node predictions


def test_bootstrap_covers_ranked_hits(tax, files) -> None:
    _, ref = report_of(tax, files["csv"][0], bootstrap=30)
    _, rep = report_of(tax, *files["topk"], bootstrap=30)
    for key in ("top1_accuracy", "top5_accuracy", "avg_hierarchical_distance_at_3", "accuracy"):
        # equal to rounding: with probabilities every sample is its own bootstrap unit
        assert rep.intervals[key] == pytest.approx(ref.intervals[key], rel=1e-12), key
    assert not set(rep.intervals) & RANKED_NULL


def test_notes_explain_the_long_format_and_render(tax, files) -> None:
    _, rep = report_of(tax, *files["long-csv-ranked"])
    assert "id 'img000' lists 5 of the 30 labels" in rep.notes["map_macro"]
    assert "only 5 candidates" in rep.notes["top10_accuracy"]
    assert rep.to_dict()["notes"] == rep.notes
    from taxovit.evaluation.render import render_table

    text = render_table(rep, width=200)
    assert "Not computed" in text and "map_macro, map_weighted" in text


def test_long_format_with_uneven_candidates(tmp_path, tax) -> None:
    p = tmp_path / "l.csv"
    p.write_text(
        "id,label,score,y_true\na,Mallard,0.5,Gadwall\na,Gadwall,0.5,Gadwall\n"
        "b,Gadwall,0.9,Gadwall\n"
    )
    data = read_any(p, tax.name_to_id)
    assert data.ranked.tolist() == [
        tax.ids(["Mallard", "Gadwall"]).tolist(),
        [tax.id_of("Gadwall"), -1],
    ]
    assert "id 'b' lists 1 of the 2 labels" in data.notes["map_macro"]
    m = taxovit.evaluate(data.y_true, data.y_pred, tax, ranked=data.ranked, top_k=[1, 2]).metrics
    assert m["accuracy"] == 0.5 and m["top2_accuracy"] == 1.0  # tie: the earlier row wins


# ----------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("fmt", FULL + RANKED)
def test_cli_end_to_end(tax, files, fmt) -> None:
    path, truth = files[fmt]
    args = [
        "evaluate",
        str(path),
        "-t",
        str(BIRDS),
        "-f",
        "json",
        *sum((["-k", str(k)] for k in TOP_K), []),
    ]
    res = runner.invoke(app, args + (["--truth", str(truth)] if truth else []))
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    _, rep = report_of(tax, path, truth)
    assert obj["metrics"] == json.loads(json.dumps(rep.to_dict()["metrics"]))
    assert obj["input"]["format"] == fmt.removesuffix("-ranked") and obj["notes"] == rep.notes
    res = runner.invoke(
        app, ["evaluate", str(path), "-t", str(BIRDS)] + (["--truth", str(truth)] if truth else [])
    )
    assert res.exit_code == 0 and ("Not computed" in res.stdout) == (fmt in RANKED)


def test_cli_stdin_binary_and_truth_is_an_input(tax, files, tmp_path) -> None:
    data = files["long-parquet"][0].read_bytes()
    res = runner.invoke(app, ["evaluate", "-", "-t", str(BIRDS), "-f", "json"], input=data)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["input"]["format"] == "long-parquet"
    sub, truth = files["topk"]
    before = truth.read_bytes()
    res = runner.invoke(
        app, ["evaluate", str(sub), "-t", str(BIRDS), "--truth", str(truth), "-o", str(truth)]
    )
    assert res.exit_code == 2 and "same file" in res.output and truth.read_bytes() == before
    for args in (["--truth", str(truth)], []):  # wide file with --truth; top-k without
        f = files["csv"][0] if args else sub
        res = runner.invoke(app, ["evaluate", str(f), "-t", str(BIRDS), *args])
        assert res.exit_code == 2 and "--truth" in res.output and "Traceback" not in res.output


def test_read_any_on_the_wide_csv_is_read_predictions(tax) -> None:
    a, b = read_any(EXAMPLE, tax.name_to_id), read_predictions(EXAMPLE, tax.name_to_id)
    for field in ("ids", "y_true", "y_pred", "score_labels", "scores"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


# ----------------------------------------------------------------------------- bad input


def expect(path, where, column, *fragments, truth=None, names=None, file=None) -> InputError:
    """One InputError naming the file, ``where`` (``line 3``, ``row 2``, ``index 1``)
    and the column."""
    with pytest.raises(InputError) as info:
        read_any(path, names if names is not None else NAMES, truth=truth)
    msg = str(info.value)
    assert info.value.file == str(file or path), msg
    if where is not None:
        assert f"{where}," in msg or f"{where}:" in msg, msg
    if column is not None:
        assert info.value.column == column and repr(column) in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    return info.value


NAMES = {"root": 0, "cat": 1, "dog": 2, "cow": 3, "ant": 4}


def put(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def truth(tmp_path) -> Path:
    return put(
        tmp_path, "truth.csv", "ID,Expected,Usage\na,cat,Public\nb,dog,Private\nc,cow,Public\n"
    )


@pytest.mark.parametrize(
    ("body", "where", "column", "fragments"),
    [
        ("Predicted\ncat dog\n", "line 1", "id", ["missing"]),
        (
            "id,predicted\na,cat dog\nb,dog cow\nc,cow\n",
            "line 4",
            "predicted",
            ["1 label;", "expected 2"],
        ),
        (
            "id,predicted\na,cat dog\nb,dog Cow\nc,cow ant\n",
            "line 3",
            "predicted",
            ["'Cow'", "not a taxonomy node"],
        ),
        (
            "id,predicted\na,cat dog\nb,dog dog\nc,cow ant\n",
            "line 3",
            "predicted",
            ["listed twice"],
        ),
        ("id,predicted\na,cat dog\nb,\nc,cow ant\n", "line 3", "predicted", ["empty"]),
        ("id,predicted\na,cat\nb,dog\nx,cow\n", "line 4", "id", ["'x'", "not in the truth file"]),
        (
            "id,predicted\na,cat\nb,dog\na,cow\n",
            "line 4",
            "id",
            ["duplicate id", "first seen on line 2"],
        ),
    ],
)
def test_bad_topk(tmp_path, truth, body, where, column, fragments) -> None:
    expect(put(tmp_path, "sub.csv", body), where, column, *fragments, truth=truth)


def test_bad_truth(tmp_path, truth) -> None:
    sub = put(tmp_path, "sub.csv", "id,predicted\na,cat\nb,dog\n")
    expect(sub, "line 4", "ID", "'c'", "not in the predictions file", truth=truth, file=truth)
    for body, where, column, frag in [
        ("id,label\na,cat\n", "line 1", "expected", "neither"),
        ("id,expected,y_true\na,cat,cat\n", "line 1", "expected", "both"),
        ("id,expected\na,cat\nb,emu\n", "line 3", "expected", "'emu'"),
        ("id,expected\na,cat\na,dog\n", "line 3", "id", "duplicate id"),
    ]:
        t = put(tmp_path, "t.csv", body)
        expect(sub, where, column, frag, truth=t, file=t)
    with pytest.raises(ArgumentError, match="--truth"):
        read_any(sub, NAMES)


@pytest.mark.parametrize(
    ("body", "where", "column", "fragments"),
    [
        ("id,label,y_true\na,cat,cat\n", "line 1", "score", ["missing"]),
        (
            "id,label,score,y_true\na,cat,1,cat\na,dog,2,cat\nb,cat,1,dog\nb,dog,1,cow\n",
            "line 5",
            "y_true",
            ["'cow' differs from 'dog'", "first seen on line 4"],
        ),
        (
            "id,label,score,y_true\na,cat,1,cat\na,dog,2,cat\na,cat,3,cat\n",
            "line 4",
            "label",
            ["listed twice for id 'a'", "first seen on line 2"],
        ),
        ("id,label,score,y_true\na,cat,1,cat\na,emu,2,cat\n", "line 3", "label", ["'emu'"]),
        (
            "id,label,score,y_true\na,cat,1,cat\na,dog,inf,cat\n",
            "line 3",
            "score",
            ["'inf'", "finite"],
        ),
        ("id,label,score,y_true\na,cat,1,cat\na,dog,abc,cat\n", "line 3", "score", ["'abc'"]),
        ("id,label,score,y_true\na,cat,1,cat\n,dog,1,cat\n", "line 3", "id", ["empty id"]),
        ("id,label,score\na,cat,1\n", "line 1", "y_true", ["--truth"]),
    ],
)
def test_bad_long_csv(tmp_path, body, where, column, fragments) -> None:
    expect(put(tmp_path, "long.csv", body), where, column, *fragments)


def test_bad_long_parquet_and_truth_twice(tmp_path, truth) -> None:
    base = dict(
        id=["a", "a", "b"],
        label=["cat", "dog", "cat"],
        score=[1.0, 2.0, np.nan],
        y_true=["cat", "cat", "dog"],
    )
    p = tmp_path / "long.parquet"
    pd.DataFrame(base).to_parquet(p)
    expect(p, "row 3", "score", "empty (null) score")
    pd.DataFrame(base | {"score": [1.0, -np.inf, 1.0]}).to_parquet(p)
    expect(p, "row 2", "score", "-inf", "finite")
    pd.DataFrame(base | {"label": ["cat", None, "dog"], "score": [1.0] * 3}).to_parquet(p)
    expect(p, "row 2", "label", "empty cell")
    pd.DataFrame(base | {"score": ["1", "2", "3"]}).to_parquet(p)
    expect(p, None, "score", "has type", "string; expected a number type")
    with pytest.raises(ArgumentError, match="own y_true"):
        read_any(put(tmp_path, "l.csv", "id,label,score,y_true\na,cat,1,cat\n"), NAMES, truth=truth)


def npz(tmp_path, **arrays) -> Path:
    good = dict(
        scores=np.array([[0.1, 0.9], [0.5, 0.5], [1.0, 0.0]]),
        classes=np.array(["cat", "dog"]),
        ids=np.array(["a", "b", "c"]),
        y_true=np.array(["cat", "dog", "cow"]),
    )
    path = tmp_path / "p.npz"
    np.savez(path, **{k: v for k, v in (good | arrays).items() if v is not None})
    return path


@pytest.mark.parametrize(
    ("arrays", "where", "column", "fragments"),
    [
        ({"scores": np.array([0.1, 0.2, 0.3])}, None, "scores", ["shape (3,)"]),
        ({"classes": np.array(["cat"])}, None, "classes", ["expected shape (2)"]),
        ({"y_true": np.array(["cat", "dog"])}, None, "y_true", ["expected shape (3)"]),
        ({"scores": np.array([["a", "b"]] * 3)}, None, "scores", ["dtype <U1"]),
        ({"ids": np.array([1.0, 2.0, 3.0])}, None, "ids", ["dtype float64"]),
        ({"ids": np.array(["a", 2, None], dtype=object)}, None, "ids", ["pickle"]),
        ({"y_true": np.array(["cat", "dog", "emu"])}, "index 2", "y_true", ["'emu'"]),
        ({"y_pred": np.array(["cat", "", "dog"])}, "index 1", "y_pred", ["empty"]),
        (
            {"scores": np.array([[0.1, 0.9], [0.5, np.nan], [1.0, 0.0]])},
            "index 1",
            "scores",
            ["nan", "'dog'"],
        ),
        (
            {"ids": np.array(["a", "b", "a"])},
            "index 2",
            "ids",
            ["duplicate id", "first seen at index 0"],
        ),
        ({"classes": np.array(["cat", "cat"])}, "index 1", "classes", ["listed twice"]),
        ({"classes": None}, None, "classes", ["missing array"]),
        ({"extra": np.zeros(3)}, None, "extra", ["unexpected array"]),
    ],
)
def test_bad_npz(tmp_path, arrays, where, column, fragments) -> None:
    expect(npz(tmp_path, **arrays), where, column, *fragments)


def test_npz_default_y_pred_and_not_an_archive(tmp_path) -> None:
    data = read_any(npz(tmp_path), NAMES)
    assert data.y_pred.tolist() == [2, 1, 1]  # arg-max, the earlier column on a tie
    expect(put(tmp_path, "x.npz", "id,y_true,y_pred\n"), None, None, "not an .npz archive")


def test_bad_wide_parquet(tmp_path, monkeypatch) -> None:
    p = tmp_path / "w.parquet"
    good = dict(id=["a", "b"], y_true=["cat", "dog"], y_pred=["cat", "cat"], score_cat=[0.5, 1.0])
    pd.DataFrame({k: v for k, v in good.items() if k != "y_pred"}).to_parquet(p)
    expect(p, None, "y_pred", "missing required column", "Parquet schema")
    pd.DataFrame(good | {"y_true": ["cat", "emu"]}).to_parquet(p)
    expect(p, "row 2", "y_true", "'emu'", "not a taxonomy node")
    pd.DataFrame(good | {"score_cat": [np.inf, 1.0]}).to_parquet(p)
    expect(p, "row 1", "score_cat", "inf")
    pd.DataFrame(good | {"score_emu": [1, 2]}).to_parquet(p)
    expect(p, None, "score_emu", "'emu'")
    expect(put(tmp_path, "csv.parquet", "id,y_true,y_pred\n"), None, None, "not a Parquet file")
    pd.DataFrame(good).to_parquet(p)
    for mod in ("pyarrow", "pyarrow.parquet", "pyarrow.compute"):
        monkeypatch.setitem(sys.modules, mod, None)
    expect(p, None, None, 'pip install "taxovit[parquet]"')


# ----------------------------------------------------------------------------- --label-attr

INAT = {
    "name": "Life",
    "children": [
        {
            "name": "Anas",
            "rank": "genus",
            "category_id": 1,
            "children": [
                {"name": "Anas platyrhynchos", "rank": "species", "category_id": 11},
                {"name": "Anas strepera", "rank": "species", "category_id": 12},
            ],
        },
        {
            "name": "Aythya",
            "rank": "genus",
            "category_id": 2,
            "children": [{"name": "Aythya ferina", "rank": "species", "category_id": 21}],
        },
    ],
}


def test_label_attr_with_integer_ids(tmp_path) -> None:
    tj = tmp_path / "inat.json"
    tj.write_text(json.dumps(INAT))
    t = taxovit.load_taxonomy(tj)
    names = attribute_labels(t, "category_id")
    sub = put(tmp_path, "sub.csv", "Id,Predicted\n7,11 12 1\n8,21 11 12\n9,1 2 21\n")
    sol = put(tmp_path, "sol.csv", "Id,Expected,Usage\n9,12,Private\n8,21,Public\n7,12,Public\n")
    data = read_any(sub, names, truth=sol)
    assert t.names(data.y_pred) == ["Anas platyrhynchos", "Aythya ferina", "Anas"]
    assert t.names(data.y_true) == ["Anas strepera", "Aythya ferina", "Anas strepera"]
    p = tmp_path / "p.parquet"
    pd.DataFrame(
        {"id": [7, 8], "label": [11, 21], "score": [0.5, 0.7], "y_true": [11, 12]}
    ).to_parquet(p)
    assert t.names(read_any(p, names).y_true) == ["Anas platyrhynchos", "Anas strepera"]
    arr = npz(tmp_path, classes=np.array([11, 21]), y_true=np.array([11, 21, 1]))
    assert t.names(read_any(arr, names).y_pred) == [
        "Aythya ferina",
        "Anas platyrhynchos",
        "Anas platyrhynchos",
    ]
    bad = put(tmp_path, "bad.csv", "Id,Predicted\n7,11 99 1\n8,21 11 12\n9,1 2 21\n")
    expect(bad, "line 2", "Predicted", "'99'", "category_id", truth=sol, names=names)
    with pytest.raises(ArgumentError, match="no taxonomy node has"):
        attribute_labels(t, "colour")
    with pytest.raises(ArgumentError, match="two nodes"):
        attribute_labels(t, "rank")


def test_cli_label_attr(tmp_path) -> None:
    tj = tmp_path / "inat.json"
    tj.write_text(json.dumps(INAT))
    sub = put(tmp_path, "sub.csv", "Id,Predicted\n7,11 12 1\n8,21 11 12\n9,1 2 21\n")
    sol = put(tmp_path, "sol.csv", "Id,Expected,Usage\n9,12,Private\n8,21,Public\n7,12,Public\n")
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(sub),
            "-t",
            str(tj),
            "--truth",
            str(sol),
            "--label-attr",
            "category_id",
            "-k",
            "1",
            "-k",
            "3",
            "-f",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["metrics"]
    assert m["accuracy"] == pytest.approx(1 / 3) and m["top3_accuracy"] == pytest.approx(2 / 3)
    res = runner.invoke(
        app, ["evaluate", str(sub), "-t", str(tj), "--truth", str(sol), "--label-attr", "rank"]
    )
    assert res.exit_code == 2 and "two nodes" in res.output


# ----------------------------------------------------------------------------- evaluate(ranked=...)


def test_evaluate_ranked_argument(tax) -> None:
    g, m, a = tax.ids(["Gadwall", "Mallard", "Anas"])
    ranked = np.array([[m, g, -1], [g, -1, -1]])
    rep = taxovit.evaluate([g, g], [m, g], tax, ranked=ranked, top_k=[1, 2, 3])
    assert rep.metrics["top1_accuracy"] == 0.5 and rep.metrics["top2_accuracy"] == 1.0
    d = tax.index.pair_stats(np.array([g]), np.array([m])).lca_height[0]
    assert rep.metrics["avg_hierarchical_distance_at_2"] == pytest.approx(d / 2 / 2)
    for bad in (
        ranked[:, :0],
        ranked[:1],
        ranked.astype(float),
        np.array([[-1, g], [g, m]]),
        np.array([[g, -1, m], [g, m, a]]),
        np.array([[g, g], [g, m]]),
    ):
        with pytest.raises(ArgumentError, match="ranked"):
            taxovit.evaluate([g, g], [m, g], tax, ranked=bad)
    with pytest.raises(ArgumentError, match="not both"):
        taxovit.evaluate(
            [g, g], [m, g], tax, np.ones((2, 1)), score_labels=["Gadwall"], ranked=ranked
        )


def test_ranked_equals_scores_for_k_up_to_K_bootstrap_included(tax) -> None:
    rng = np.random.default_rng(1)
    classes = tax.ids(sorted(tax.leaves)[:40])
    scores = rng.random((80, 40))
    y_true = rng.choice(classes, 80)
    ranked = classes[top_k_columns(scores, 3)]
    kw = dict(top_k=[1, 3, 5], bootstrap=40)
    full = taxovit.evaluate(y_true, ranked[:, 0], tax, scores, score_labels=classes, **kw)
    rep = taxovit.evaluate(y_true, ranked[:, 0], tax, ranked=ranked, **kw)
    for key in ("top1_accuracy", "top3_accuracy", "avg_hierarchical_distance_at_3"):
        assert rep.metrics[key] == full.metrics[key]  # intervals: to rounding (bootstrap units)
        assert rep.intervals[key] == pytest.approx(full.intervals[key], rel=1e-12)
    null = {
        "top5_accuracy",
        "avg_hierarchical_distance_at_5",
        "avg_hierarchical_distance_at_5_depth",
        *MAP_KEYS,
        *CALIBRATION_KEYS,
    }
    assert {k for k, v in rep.metrics.items() if v is None} == null == set(rep.notes)
    assert "only 3 candidates" in rep.notes["map_micro"] and rep.to_dict()["notes"] == rep.notes
    from taxovit.evaluation.render import render_table

    assert "Not computed" in render_table(rep) and "Not computed" not in render_table(full)
    plain = taxovit.evaluate(y_true, ranked[:, 0], tax, notes={"map_micro": "why not"})
    assert plain.notes["map_micro"] == "why not" and "no scores" in plain.notes["top1_accuracy"]


# ----------------------------------------------------------------------------- speed


def test_long_format_reads_200k_rows_fast(tmp_path, tax) -> None:
    rng = np.random.default_rng(0)
    leaves = np.array(sorted(tax.leaves), dtype=object)
    n_ids, k = 20_000, 10
    labels = np.array([rng.choice(len(leaves), k, replace=False) for _ in range(64)])
    df = pd.DataFrame(
        {
            "id": np.repeat([f"obs{i}" for i in range(n_ids)], k),
            "label": leaves[labels[np.arange(n_ids) % 64].ravel()],
            "score": rng.random(n_ids * k).round(4),
            "y_true": np.repeat(leaves[rng.integers(0, len(leaves), n_ids)], k),
        }
    )
    for path in (tmp_path / "big.csv", tmp_path / "big.parquet"):
        df.to_csv(path, index=False) if path.suffix == ".csv" else df.to_parquet(path)
        start = time.perf_counter()
        data = read_any(path, tax.name_to_id)
        elapsed = time.perf_counter() - start
        assert len(data) == n_ids and data.ranked.shape == (n_ids, k)
        assert elapsed < 5, f"{path.name}: {len(df):,} rows in {elapsed:.2f} s"


@pytest.mark.parametrize(
    "order", ["runs", "runs across row groups", "id comes back", "integer ids"]
)
def test_long_parquet_in_many_row_groups_reads_as_the_csv(tmp_path, tax, order) -> None:
    """The id column is read dictionary-encoded, one dictionary per row group: its runs are
    found from the codes of each chunk (an id may span two row groups), and an id that comes
    back after its run falls back to the general path; integer ids are compared as their
    text (runs of plain strings); every case reads as the CSV does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    birds = sorted(tax.leaves)[:6]
    rows = [
        (f"img{i}", birds[(i + j) % 6], 1.0 - j / 4, birds[i % 6])
        for i in range(7)
        for j in range(3)
    ]
    if order == "id comes back":
        rows = rows[:3] + rows[6:9] + rows[3:6] + rows[9:]  # img1's rows after img2's
        rows[3], rows[6] = rows[6], rows[3]  # img2 | img1 | img2 ...: img2 comes back
    df = pd.DataFrame(rows, columns=["id", "label", "score", "y_true"])
    if order == "integer ids":
        df["id"] = df["id"].str.removeprefix("img").astype(int) + 100
    df.to_csv(tmp_path / "l.csv", index=False)
    size = 4 if order != "runs" else len(df)  # 3 rows per id: ids span row groups
    pq.write_table(
        pa.Table.from_pandas(df, preserve_index=False), tmp_path / "l.parquet", row_group_size=size
    )
    assert pq.ParquetFile(tmp_path / "l.parquet").metadata.num_row_groups == -(-len(df) // size)
    a = read_any(tmp_path / "l.csv", tax.name_to_id)
    b = read_any(tmp_path / "l.parquet", tax.name_to_id)
    assert list(b.ids) == list(a.ids) and len(b.ids) == 7
    for key in ("y_true", "y_pred", "ranked"):
        np.testing.assert_array_equal(getattr(b, key), getattr(a, key), err_msg=key)
    if order == "integer ids":
        return
    df.loc[4, "id"] = None
    pq.write_table(
        pa.Table.from_pandas(df, preserve_index=False), tmp_path / "l.parquet", row_group_size=size
    )
    with pytest.raises(InputError, match="row 5.*empty id"):
        read_any(tmp_path / "l.parquet", tax.name_to_id)
