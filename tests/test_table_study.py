"""Study kind `table`: standardise a per-layer results table (CSV or Parquet)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictivity.aggregate.fits import fits_table
from predictivity.aggregate.table_study import TABLE_COLUMNS, infer_trained, standardise_table
from predictivity.errors import InputError

COLUMNS = {"model": "net", "layer": "layer_name", "pr": "ED", "score": "encoding_score"}
REFERENCE = Path("/work/shared/reference/elmoznino_bonner_2024_layers.csv")


def raw_table():
    # two regions in one file, as supplementary tables often have; rows in file order
    nets = (
        ["ResNet18|none|Untrained|PyTorch"] * 3
        + ["ResNet18|Object Classification|Supervised|PyTorch"] * 4
        + ["AlexNet|SimCLR|Self-Supervised|VVS"] * 2
        + ["mystery-net"] * 2
    )
    layers = ["c", "a", "b", "l1", "l2", "l3", "l4", "f1", "f2", "x", "y"]
    n = len(nets)
    rng = np.random.default_rng(0)
    ed = np.exp(rng.uniform(0.5, 3.5, n))
    df = pd.DataFrame(
        {
            "net": nets,
            "layer_name": layers,
            "ED": ed,
            "encoding_score": 0.2 + 0.05 * np.log(ed) + rng.normal(0, 0.01, n),
            "region": "IT",
        }
    )
    v4 = df.assign(region="V4", encoding_score=df.encoding_score - 0.1)
    return pd.concat([df, v4], ignore_index=True)


@pytest.fixture(params=["csv", "parquet"])
def table_file(request, tmp_path):
    path = tmp_path / f"table.{request.param}"
    df = raw_table()
    if request.param == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def read(path):
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def test_standardise_from_csv_and_parquet(table_file):
    raw = read(table_file)
    out = standardise_table(raw, "eb", COLUMNS, {"region": "IT"}, source=str(table_file))
    assert list(out.columns) == TABLE_COLUMNS
    assert len(out) == 11 and (out.study == "eb").all()
    # layer_index: order within each model as in the file
    r18u = out[out.model == "ResNet18|none|Untrained|PyTorch"]
    assert list(r18u.layer) == ["c", "a", "b"] and list(r18u.layer_index) == [0, 1, 2]
    assert list(out[out.model == "mystery-net"].layer_index) == [0, 1]
    np.testing.assert_allclose(out.log_pr, np.log(out.pr))
    it = raw[raw.region == "IT"]
    np.testing.assert_allclose(out.score, it.encoding_score)
    assert out.r2.isna().all() and out.pearson_r.isna().all()
    t = out.groupby("model", sort=False).trained.first()
    assert t["ResNet18|none|Untrained|PyTorch"] == False  # noqa: E712
    assert t["ResNet18|Object Classification|Supervised|PyTorch"] == True  # noqa: E712
    assert t["AlexNet|SimCLR|Self-Supervised|VVS"] == True  # noqa: E712
    assert pd.isna(t["mystery-net"])
    # the standardised rows feed the fits table as a `score` study
    fits = fits_table(out, n_boot=50)
    assert set(fits.metric) == {"score"} and set(fits.pr_convention) == {"pr"}
    main = fits[fits.subset == "all"]
    assert len(main) == 1 and np.isfinite(main.slope.iloc[0])


def test_infer_trained():
    assert infer_trained("UNTRAINED resnet") is False
    assert infer_trained("resnet_trained") is True
    assert infer_trained("x|Self-Supervised") is True
    assert infer_trained("resnet") is pd.NA


def test_filter_values_compared_as_text():
    raw = raw_table().assign(seed=[1] * 11 + [2] * 11)
    out = standardise_table(raw, "eb", COLUMNS, {"seed": "2"}, source="t.csv")
    assert len(out) == 11
    out = standardise_table(raw, "eb", COLUMNS, {"region": ["IT"]}, source="t.csv")
    assert len(out) == 11


def test_missing_columns_error_lists_them():
    raw = raw_table()
    cols = dict(COLUMNS, pr="effective_dim", score="ceiled")
    with pytest.raises(InputError) as e:
        standardise_table(raw, "eb", cols, {"region": "IT"}, source="data/eb.csv")
    msg = str(e.value)
    assert msg.startswith("data/eb.csv:") and "studies.eb.columns" in msg
    assert "'effective_dim'" in msg and "'ceiled'" in msg and "encoding_score" in msg
    with pytest.raises(InputError, match="does not map score"):
        standardise_table(
            raw, "eb", {k: v for k, v in COLUMNS.items() if k != "score"}, source="data/eb.csv"
        )


def test_filter_column_missing():
    with pytest.raises(InputError, match=r"studies\.eb\.filter.*'area'"):
        standardise_table(raw_table(), "eb", COLUMNS, {"area": "IT"}, source="data/eb.csv")


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_bad_pr(bad):
    raw = raw_table()
    raw.loc[3, "ED"] = bad
    with pytest.raises(InputError) as e:
        standardise_table(raw, "eb", COLUMNS, {"region": "IT"}, source="data/eb.csv")
    msg = str(e.value)
    assert "data/eb.csv" in msg and "studies.eb.columns" in msg and "'ED'" in msg
    assert "l1" in msg and "positive" in msg


def test_bad_score():
    raw = raw_table()
    raw.loc[0, "encoding_score"] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        standardise_table(raw, "eb", COLUMNS, {"region": "IT"}, source="data/eb.csv")


def test_too_few_rows_after_filter():
    raw = raw_table()
    raw = raw[raw.net == "mystery-net"]
    with pytest.raises(InputError, match=r"2 row\(s\) after applying studies\.eb\.filter"):
        standardise_table(raw, "eb", COLUMNS, {"region": "IT"}, source="data/eb.csv")
    with pytest.raises(InputError, match=r"0 row\(s\)"):
        standardise_table(raw_table(), "eb", COLUMNS, {"region": "V1"}, source="data/eb.csv")


def test_duplicate_layers_need_a_filter():
    with pytest.raises(InputError, match=r"more than once.*studies\.eb\.filter"):
        standardise_table(raw_table(), "eb", COLUMNS, None, source="data/eb.csv")


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference table not present")
def test_reference_elmoznino_bonner():
    raw = pd.read_csv(REFERENCE)
    out = standardise_table(
        raw,
        "elmoznino_bonner_2024",
        {"model": "model", "layer": "layer", "pr": "ED", "score": "encoding_score"},
        None,
        source=str(REFERENCE),
    )
    assert len(out) == 552 and out.model.nunique() == 45
    assert out.trained.notna().all()
    assert (~out.trained).sum() == 8 + 16 + 5 + 5 + 6  # the five untrained architectures
    fits = fits_table(out, n_boot=50)
    row = fits[fits.subset == "all"].iloc[0]
    assert row.metric == "score" and row.n == 552 and row.n_models == 45
    assert row.slope > 0 and row.pearson_r > 0.3  # the paper's positive ED–score relation
    assert not row.few_networks and row.slope_ci_low > 0
