"""Tests for taxovit.predictions.read_predictions: good files, every bad-input case, round trip."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taxovit.errors import InputError
from taxovit.predictions import Predictions, read_predictions

NAMES = {"root": 0, "cat": 10, "dog": 20, "big, cat": 30, 'say "hi"': 40, "é": 50}


def write(tmp_path: Path, content: str | bytes, name: str = "preds.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return p


def expect_error(path: Path, line: int | None, column: str | None, *fragments: str) -> InputError:
    with pytest.raises(InputError) as info:
        read_predictions(path, NAMES)
    err = info.value
    msg = str(err)
    assert str(path) in msg
    assert err.file == str(path)
    if line is not None:
        assert err.row == line and f"line {line}" in msg, msg
    if column is not None:
        assert err.column == column and repr(column) in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    return err


# ----------------------------------------------------------------------------- good files


def test_good_file_quoting_bom_scores_any_order(tmp_path):
    content = (
        '\ufeffy_pred,score_dog,id,y_true,"score_big, cat",score_cat\r\n'
        "cat,0.25,a1,dog,-1e-3,0.5\r\n"
        '"big, cat",1,"multi\r\nline id",cat,2.5,0\r\n'
        '"say ""hi""",0,a3,"big, cat",3,1E2\r\n'
    )
    p = read_predictions(write(tmp_path, content), NAMES)
    assert isinstance(p, Predictions) and len(p) == 3
    assert list(p.ids) == ["a1", "multi\r\nline id", "a3"]
    assert p.y_true.dtype == np.int64 and list(p.y_true) == [20, 10, 30]
    assert list(p.y_pred) == [10, 30, 40]
    assert list(p.score_labels) == [20, 30, 10]
    assert p.scores is not None and p.scores.dtype == np.float64
    np.testing.assert_array_equal(p.scores, [[0.25, -1e-3, 0.5], [1, 2.5, 0], [0, 3, 100]])


def test_good_file_without_scores(tmp_path):
    p = read_predictions(write(tmp_path, "id,y_true,y_pred\n1,cat,root\n2,é,dog"), NAMES)
    assert p.scores is None and p.score_labels.shape == (0,)
    assert p.score_labels.dtype == np.int64
    assert list(p.y_pred) == [0, 20] and list(p.y_true) == [10, 50]
    assert p.ids.dtype == object and list(p.ids) == ["1", "2"]


def test_custom_column_names(tmp_path):
    path = write(tmp_path, "key,truth,guess,s:cat\nk,cat,dog,0.5\n")
    p = read_predictions(
        path, NAMES, id_col="key", true_col="truth", pred_col="guess", score_prefix="s:"
    )
    assert list(p.score_labels) == [10] and p.scores.tolist() == [[0.5]]


# ----------------------------------------------------------------------------- bad files


def test_empty_file(tmp_path):
    expect_error(write(tmp_path, b""), 1, None, "empty file")
    expect_error(write(tmp_path, b"\xef\xbb\xbf", "bom.csv"), 1, None, "empty file")


def test_blank_header(tmp_path):
    expect_error(write(tmp_path, "\nid,y_true,y_pred\n"), 1, None, "blank header")


def test_undecodable_bytes(tmp_path):
    data = b"id,y_true,y_pred\n1,cat,dog\n2,cat,d\xffg\n"
    expect_error(write(tmp_path, data), 3, "y_pred", "0xff", "UTF-8")
    expect_error(write(tmp_path, b"id,y_\xc3(true,y_pred\n", "h.csv"), 1, None, "UTF-8")


def test_nul_byte(tmp_path):
    expect_error(write(tmp_path, b"id,y_true,y_pred\n1,cat,d\x00g\n"), 2, None, "NUL")


@pytest.mark.parametrize("missing", ["id", "y_true", "y_pred"])
def test_missing_required_column(tmp_path, missing):
    cols = [c for c in ("id", "y_true", "y_pred") if c != missing]
    expect_error(write(tmp_path, ",".join(cols) + "\n1,cat\n"), 1, missing, "missing")


def test_duplicate_column(tmp_path):
    expect_error(
        write(tmp_path, "id,y_true,y_pred,y_true\n1,cat,dog,cat\n"), 1, "y_true", "duplicate"
    )
    expect_error(
        write(tmp_path, "id,y_true,y_pred,score_cat,score_cat\n1,cat,dog,1,2\n", "s.csv"),
        1,
        "score_cat",
        "duplicate",
    )


def test_unexpected_column(tmp_path):
    expect_error(write(tmp_path, "id,y_true,y_pred,extra\n1,cat,dog,x\n"), 1, "extra", "unexpected")


def test_score_column_unknown_class(tmp_path):
    expect_error(
        write(tmp_path, "id,y_true,y_pred,score_cow\n1,cat,dog,1\n"),
        1,
        "score_cow",
        "'cow'",
        "not a taxonomy node",
    )


def test_score_column_same_class_twice(tmp_path):
    path = write(tmp_path, "id,y_true,y_pred,score_cat,score_kitty\n1,cat,dog,1,2\n")
    with pytest.raises(InputError) as info:
        read_predictions(path, {**NAMES, "kitty": 10})
    assert info.value.row == 1 and info.value.column == "score_kitty"
    assert "same class" in str(info.value) and str(path) in str(info.value)


def test_duplicate_id(tmp_path):
    content = "id,y_true,y_pred\nx,cat,dog\ny,cat,dog\nx,dog,dog\n"
    expect_error(write(tmp_path, content), 4, "id", "duplicate id 'x'", "first seen on line 2")


@pytest.mark.parametrize(
    ("row", "column"),
    [("1,,dog", "y_true"), ("1,cat,", "y_pred"), (",cat,dog", "id"), ('1,"",dog', "y_true")],
)
def test_empty_cells(tmp_path, row, column):
    expect_error(write(tmp_path, f"id,y_true,y_pred\n0,cat,cat\n{row}\n"), 3, column, "empty")


@pytest.mark.parametrize("column", ["y_true", "y_pred"])
def test_label_not_in_taxonomy(tmp_path, column):
    row = "1,cow,dog" if column == "y_true" else "1,dog,Cat"
    found = "'cow'" if column == "y_true" else "'Cat'"
    expect_error(
        write(tmp_path, f"id,y_true,y_pred\n0,cat,cat\n{row}\n"),
        3,
        column,
        found,
        "not a taxonomy node",
    )


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("abc", "'abc'"),
        ("inf", "'inf'"),
        ("nan", "'nan'"),
        ("-Infinity", "'-Infinity'"),
        ("1e400", "'1e400'"),
        ("", "empty score"),
        ("1_0", "'1_0'"),
        ("0x1", "'0x1'"),
    ],
)
def test_bad_scores(tmp_path, value, found):
    content = f"id,y_true,y_pred,score_cat,score_dog\n0,cat,cat,1,2\n1,cat,dog,0.5,{value}\n"
    expect_error(write(tmp_path, content), 3, "score_dog", found, "finite")


def test_wrong_number_of_fields(tmp_path):
    head = "id,y_true,y_pred\n"
    expect_error(write(tmp_path, head + "1,cat,dog,cat\n", "a.csv"), 2, None, "4 fields")
    expect_error(write(tmp_path, head + "1,cat,dog\n2,cat,dog,x\n", "b.csv"), 3, None, "4 fields")
    expect_error(write(tmp_path, head + "1,cat,dog\n2,cat\n", "c.csv"), 3, None, "2 fields")
    expect_error(write(tmp_path, head + "1,cat,dog\n\n2,cat,dog\n", "d.csv"), 3, None, "blank")
    expect_error(write(tmp_path, head + "1,cat,dog\n\n", "e.csv"), 3, None, "blank")


def test_an_earlier_bad_cell_wins_over_a_later_short_row(tmp_path):
    content = "id,y_true,y_pred\n1,cow,dog\n2,cat\n"
    expect_error(write(tmp_path, content), 2, "y_true", "'cow'")


def test_no_data_rows(tmp_path):
    expect_error(write(tmp_path, "id,y_true,y_pred\n"), 2, None, "no data rows")
    expect_error(write(tmp_path, "id,y_true,y_pred", "b.csv"), 2, None, "no data rows")


def test_line_numbers_after_multiline_quoted_fields(tmp_path):
    content = 'id,y_true,y_pred\n"a\nb\nc",cat,dog\nz,cat,cow\n'
    expect_error(write(tmp_path, content), 5, "y_pred", "'cow'")
    # the bad record itself starts on line 2 and spans three lines
    content = 'id,y_true,y_pred\n"a\nb\nc",cow,dog\n'
    expect_error(write(tmp_path, content, "b.csv"), 2, "y_true", "'cow'")


def test_unterminated_quote(tmp_path):
    expect_error(write(tmp_path, 'id,y_true,y_pred\n1,cat,"dog\n'), 2, None)


def test_long_value_is_truncated_in_message(tmp_path):
    err = expect_error(write(tmp_path, f"id,y_true,y_pred\n1,cat,{'x' * 500}\n"), 2, "y_pred")
    assert len(str(err)) < 300 and "..." in str(err)


# ----------------------------------------------------------------------------- round trip

label_names = st.sampled_from(sorted(NAMES))
# no bare "\r": Python 3.11's csv.writer leaves it unquoted with lineterminator="\n", and
# csv.reader then reads it as a line end (the file itself is ambiguous)
id_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
    min_size=1,
    max_size=8,
)
finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def prediction_files(draw):
    n = draw(st.integers(1, 15))
    ids = draw(st.lists(id_text, min_size=n, max_size=n, unique=True))
    y_true = draw(st.lists(label_names, min_size=n, max_size=n))
    y_pred = draw(st.lists(label_names, min_size=n, max_size=n))
    classes = draw(st.lists(label_names, unique=True, max_size=len(NAMES)))
    scores = [draw(st.lists(finite, min_size=len(classes), max_size=len(classes))) for _ in ids]
    order = draw(st.permutations(["id", "y_true", "y_pred"] + [f"score_{c}" for c in classes]))
    lineterminator = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.booleans())
    return ids, y_true, y_pred, classes, scores, order, lineterminator, bom


@settings(max_examples=100, deadline=None)
@given(prediction_files())
def test_round_trip(spec):
    ids, y_true, y_pred, classes, scores, order, lineterminator, bom = spec
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=lineterminator)
    w.writerow(order)
    for i in range(len(ids)):
        cells = {"id": ids[i], "y_true": y_true[i], "y_pred": y_pred[i]}
        cells.update({f"score_{c}": repr(v) for c, v in zip(classes, scores[i], strict=True)})
        w.writerow([cells[name] for name in order])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "p.csv"
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
        p = read_predictions(path, NAMES)
    assert list(p.ids) == ids
    assert p.y_true.tolist() == [NAMES[x] for x in y_true]
    assert p.y_pred.tolist() == [NAMES[x] for x in y_pred]
    file_classes = [name[len("score_") :] for name in order if name.startswith("score_")]
    assert p.score_labels.tolist() == [NAMES[c] for c in file_classes]
    if classes:
        col = {c: j for j, c in enumerate(classes)}
        expected = [[scores[i][col[c]] for c in file_classes] for i in range(len(ids))]
        assert p.scores.tolist() == expected
        assert all(math.isfinite(v) for row in p.scores.tolist() for v in row)
    else:
        assert p.scores is None
