"""feishu_wasm.dlt_source into DuckDB: every record, every field in its own column or child
table (Chinese names kept), then a second run that loads exactly the changed records, and
records deleted in Feishu deleted from DuckDB (`detect_deletes`), with dicts and with Arrow."""

from __future__ import annotations

import os
import time

import dlt
import duckdb
import pytest

import feishu_wasm

MAIN = "项目任务_Tasks_tblMockTable0001"
# The mock's main table fields that are lists (loaded as child tables) and scalars or objects
# (loaded as columns, objects flattened with `__`).
LIST_FIELDS = ["任务名称", "标签", "负责人", "附件"]
COLUMN_FIELDS = ["数量", "进度", "状态", "截止日期", "电话", "网址__link", "网址__text", "编号", "修改时间"]


def pipeline(tmp_path):
    return dlt.pipeline(
        pipeline_name="feishu_test",
        destination=dlt.destinations.duckdb(str(tmp_path / "load.duckdb")),
        dataset_name="feishu",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def dlt_source(mock):
    return feishu_wasm.dlt_source(
        mock.base_config(), cache_dir=os.environ.get("FEISHU_WASM_CACHE"), max_rps=0
    )


def test_a_base_loads_with_every_field_in_its_own_column(mock, tmp_path):
    p = pipeline(tmp_path)
    p.run(dlt_source(mock))
    db = duckdb.connect(str(tmp_path / "load.duckdb"))
    tables = {row[0] for row in db.execute(
        "select table_name from information_schema.tables where table_schema = 'feishu'"
    ).fetchall()}
    assert MAIN in tables, tables
    assert db.execute(f'select count(*) from feishu."{MAIN}"').fetchone()[0] == 250
    columns = {row[0] for row in db.execute(
        "select column_name from information_schema.columns "
        f"where table_schema = 'feishu' and table_name = '{MAIN}'"
    ).fetchall()}
    for field in COLUMN_FIELDS:
        assert f"fields__{field}" in columns, (field, sorted(columns))
    for field in LIST_FIELDS:
        assert f"{MAIN}__fields__{field}" in tables, (field, sorted(tables))
    people = db.execute(f'select count(*) from feishu."{MAIN}__fields__负责人"').fetchone()[0]
    files = db.execute(f'select count(*) from feishu."{MAIN}__fields__附件"').fetchone()[0]
    assert people == 250 and files == 250, "people and attachments stay apart"
    assert not any(c.startswith("fields__x") for c in columns), sorted(columns)


@pytest.mark.parametrize("arrow", [False, True])
def test_one_run_reads_every_table_on_one_token_and_one_budget(mock, tmp_path, arrow):
    p = pipeline(tmp_path)
    before = mock.tokens_issued()
    p.run(
        feishu_wasm.dlt_source(
            mock.base_config(), arrow=arrow, cache_dir=os.environ.get("FEISHU_WASM_CACHE"), max_rps=0
        )
    )
    assert mock.tokens_issued() - before == 2, "one for discover, one for the whole read"
    counts = p.last_trace.last_normalize_info.row_counts
    assert counts.get(MAIN) == 250, counts
    # The budget holds for the read of every table together (discover's run, 7 requests,
    # has its own): 10 requests stop it, where a run per table would have fitted each.
    budgeted = feishu_wasm.dlt_source(
        dict(mock.base_config(), max_api_calls=10),
        arrow=arrow,
        cache_dir=os.environ.get("FEISHU_WASM_CACHE"),
        max_rps=0,
    )
    with pytest.raises(Exception, match="`max_api_calls` allows 10 requests"):
        pipeline(tmp_path / "budget").run(budgeted)


def test_a_second_run_loads_exactly_the_changes(mock, tmp_path):
    p = pipeline(tmp_path)
    p.run(dlt_source(mock))
    changed_at = int(time.time() * 1000) - 60_000
    mock.modify([3, 7, 11], changed_at)
    info = p.run(dlt_source(mock))
    counts = p.last_trace.last_normalize_info.row_counts
    assert counts.get(MAIN) == 3, counts
    others = {t: n for t, n in counts.items() if not t.startswith(MAIN) and not t.startswith("_dlt")}
    assert not others, f"unchanged tables were loaded again: {others}"
    db = duckdb.connect(str(tmp_path / "load.duckdb"))
    assert db.execute(f'select count(*) from feishu."{MAIN}"').fetchone()[0] == 250
    modified = db.execute(
        f'select count(*) from feishu."{MAIN}" where last_modified_time = {changed_at}'
    ).fetchone()[0]
    assert modified == 3
    assert info is not None


@pytest.mark.parametrize("arrow", [False, True])
def test_records_deleted_in_feishu_are_deleted_from_duckdb(mock, tmp_path, arrow):
    config = dict(mock.config, detect_deletes=True, values="plain")
    p = pipeline(tmp_path)

    def run():
        source = feishu_wasm.dlt_source(
            config, arrow=arrow, cache_dir=os.environ.get("FEISHU_WASM_CACHE"), max_rps=0
        )
        p.run(source)

    run()
    db = duckdb.connect(str(tmp_path / "load.duckdb"))
    ids = lambda: {row[0] for row in db.execute("select record_id from feishu.records").fetchall()}
    everything = ids()
    assert len(everything) == 250
    db.close()

    gone = [feishu_wasm_record(mock, i) for i in (4, 120)]
    mock.delete([4, 120])
    run()
    db = duckdb.connect(str(tmp_path / "load.duckdb"))
    assert ids() == everything - set(gone)
    db.close()

    run()  # nothing new: the deletes are not reported again, nothing comes back
    db = duckdb.connect(str(tmp_path / "load.duckdb"))
    assert ids() == everything - set(gone)


def feishu_wasm_record(mock, index):
    """The record id of the mock's record `index`, as a full read gives it."""
    source = feishu_wasm.Source(mock.config, cache_dir=os.environ.get("FEISHU_WASM_CACHE"), max_rps=0)
    return [r["record_id"] for r in source.records()][index]
