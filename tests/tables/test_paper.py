"""The packaged paper numbers: the same rows as ../shared/paper/paper_tables.csv, values typed from the paper."""

from __future__ import annotations

import csv

from gwapbench.tables.paper import PAPER_COLUMNS, PAPER_KEY, paper_values


def test_columns_types_and_unique_keys():
    table = paper_values()
    assert tuple(table.columns) == PAPER_COLUMNS
    assert table["value"].dtype == float and table["higher_is_better"].dtype == bool
    assert not table.duplicated(list(PAPER_KEY)).any()
    assert set(table["unit"]) == {"percent", "fraction"}
    assert sorted(set(table["table"])) == ["table1", "table2", "table3", "table4", "table5"]


def value(frame, **key: str) -> float:
    rows = frame
    for column, wanted in key.items():
        rows = rows[rows[column] == wanted]
    assert len(rows) == 1, key
    return float(rows["value"].iloc[0])


def test_values_typed_from_the_paper():
    table = paper_values()
    assert value(table, table="table1", net="caffenet", method="gwap", setting="") == 70.4
    assert value(table, table="table1", net="googlenet", method="gwap_gt", setting="") == 86.5
    assert value(table, table="table2", net="googlenet", method="gwap_no_sigmoid") == 0.1905
    assert value(table, table="table3", net="googlenet", method="gwap", metric="ilsvrc_top5_cls_error") == 11.3
    assert value(table, table="table4", method="gwap", setting="multi-scale 224+448+672") == 54.09
    assert value(table, table="table5", method="rfcn_gwap_gap", setting="proportion=0.01") == 40.24
    assert not table.loc[table["table"] == "table4", "higher_is_better"].any()
    assert table.loc[table["table"] == "table1", "higher_is_better"].all()


def test_packaged_copy_equals_the_shared_file(shared_paper):
    with (shared_paper / "paper_tables.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    table = paper_values()
    assert len(table) == len(rows)
    for record, row in zip(table.to_dict("records"), rows):
        assert [record[c] for c in PAPER_KEY + ("unit",)] == [row[c] for c in PAPER_KEY + ("unit",)]
        assert record["value"] == float(row["value"])
        assert record["higher_is_better"] == (row["higher_is_better"] == "true")
