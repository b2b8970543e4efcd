"""Arrow for in-process consumers: `Source.arrow()` gives a pyarrow Table built in Rust with one
typed column per field, which DuckDB takes as it is, and dlt loads with `arrow=True`."""

from __future__ import annotations

import datetime

import duckdb
import pytest

import feishu_wasm
from conftest import source

ALL_TYPES = "tblAllTypes00001"


def plain(mock, table_id=ALL_TYPES):
    return dict(mock.config, table_id=table_id, values="plain")


def test_a_duckdb_table_from_arrow_has_one_typed_column_per_field(mock):
    feishu = source(plain(mock)).arrow("records")
    assert feishu.num_rows == 4
    types = dict(
        duckdb.sql("select column_name, column_type from (describe select * from feishu)").fetchall()
    )
    assert types["record_id"] == "VARCHAR"
    assert types["created_time"] == "BIGINT"
    assert types["文本"] == "VARCHAR"
    assert types["数字"] == "DOUBLE"
    assert types["复选框"] == "BOOLEAN"
    assert types["日期"] == "TIMESTAMP WITH TIME ZONE"
    assert types["多选"] == "VARCHAR[]"
    assert types["单向关联"] == "VARCHAR[]"
    assert types["公式"] == "DOUBLE"
    assert types["人员"] == "STRUCT(email VARCHAR, id VARCHAR, \"name\" VARCHAR)[]"
    assert types["地理位置"] == "STRUCT(address VARCHAR, lat DOUBLE, lng DOUBLE)"
    # Types of unknown or undocumented shape are their JSON text.
    assert types["未来字段"] == "VARCHAR"
    rows = duckdb.sql(
        'select record_id, "文本", "数字", "复选框", "日期", "多选", "公式", "未来字段", '
        '"地理位置".lng from feishu order by record_id'
    ).fetchall()
    utc = datetime.timezone.utc
    assert rows[0] == (
        "recAllTyp0000",
        "你好 @张三链接",
        0.66,
        True,
        datetime.datetime(2025, 1, 1, tzinfo=utc),
        ["前端", "🚀 launch"],
        7.0,
        '{"anything":[1,"two"]}',
        116.397755,
    )
    assert rows[1][3] is False and rows[1][6] == 42.5
    assert rows[2][6] is None  # the formula's error value
    assert rows[3][1:4] == ("只有文本", None, False)


def test_batches_come_a_page_at_a_time_and_match_the_records(mock):
    src = source(dict(mock.config, values="plain", page_size=100))
    batches = list(src.arrow_batches("records"))
    assert [b.num_rows for b in batches] == [100, 100, 50]
    ids = [i for b in batches for i in b.column("record_id").to_pylist()]
    assert ids == [r["record_id"] for r in src.records()]


def test_an_empty_table_gives_an_empty_typed_table(mock):
    table = source(plain(mock, "tblEmptyTable001")).arrow("records")
    assert table.num_rows == 0
    assert "record_id" in table.schema.names


def test_a_failure_raises_its_exception(mock):
    with pytest.raises(feishu_wasm.AuthError):
        source(dict(mock.config, app_secret="wrong", values="plain")).arrow(
            "records", catalog={"streams": [{"name": "records", "json_schema": {"properties": {}}}]}
        )


def test_dlt_with_arrow_loads_typed_columns(mock, tmp_path):
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name="arrow_test",
        destination=dlt.destinations.duckdb(str(tmp_path / "arrow.duckdb")),
        dataset_name="feishu",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    pipeline.run(feishu_wasm.dlt_source(plain(mock), arrow=True, max_rps=0))
    with duckdb.connect(str(tmp_path / "arrow.duckdb")) as db:
        types = dict(
            db.sql(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'feishu' and table_name = 'records'"
            ).fetchall()
        )
        count = db.sql("select count(*) from feishu.records").fetchall()[0][0]
    assert count == 4
    assert types["数字"] == "DOUBLE"
    assert types["复选框"] == "BOOLEAN"
    assert types["日期"] == "TIMESTAMP WITH TIME ZONE"


def test_a_cell_that_does_not_fit_its_column_is_null_with_a_warning(mock, caplog):
    src = source(plain(mock))
    catalog = src.discover()
    fields = catalog["streams"][0]["json_schema"]["properties"]["fields"]["properties"]
    fields["数字"] = {"type": "boolean"}
    with caplog.at_level("WARNING", logger="feishu_wasm"):
        table = src.arrow("records", catalog=catalog)
    assert table.num_rows == 4
    assert table.column("数字").null_count == 4
    assert table.column("复选框").null_count < 4
    assert any("did not fit their Arrow column" in r.getMessage() for r in caplog.records)
