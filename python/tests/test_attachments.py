"""Attachments as files (`"attachments": "files"`): the attachments stream through `records()`
writes each file under `files_dir` at the record's `path`, with its size and SHA-256; without
`files_dir` the stream fails saying so; the dlt source loads the attachments table into DuckDB
and a second run downloads nothing."""

from __future__ import annotations

import hashlib
import os

import dlt
import duckdb
import pytest

import feishu_wasm
from conftest import source

STREAM = "records_attachments"


def files_config(mock):
    return dict(mock.config, attachments="files")


def assert_files(rows, files_dir):
    for row in rows:
        data = (files_dir / row["path"]).read_bytes()
        assert len(data) == row["size"], row
        assert hashlib.sha256(data).hexdigest() == row["sha256"], row
        assert row["field_name"] == "附件" and row["mime_type"] == "application/pdf"


def test_records_of_the_attachments_stream_point_at_their_files(small_mock, tmp_path):
    files_dir = tmp_path / "files"
    rows = list(source(files_config(small_mock), files_dir=files_dir).records([STREAM]))
    assert sorted(row["size"] for row in rows) == [1024 + 7 * i for i in range(6)]
    assert_files(rows, files_dir)
    assert small_mock.downloads() == 6


def test_without_files_dir_the_attachments_stream_fails_saying_so(small_mock):
    with pytest.raises(feishu_wasm.ConnectorError) as failure:
        list(source(files_config(small_mock)).records([STREAM]))
    assert "set files_dir to receive them" in str(failure.value)


def test_dlt_loads_the_attachments_table_and_then_only_new_files(small_mock, tmp_path):
    files_dir = tmp_path / "files"
    pipeline = dlt.pipeline(
        pipeline_name="feishu_files",
        destination=dlt.destinations.duckdb(str(tmp_path / "load.duckdb")),
        dataset_name="feishu",
        pipelines_dir=str(tmp_path / "pipelines"),
    )

    def run():
        pipeline.run(
            feishu_wasm.dlt_source(
                files_config(small_mock),
                streams=[STREAM],
                files_dir=str(files_dir),
                cache_dir=os.environ.get("FEISHU_WASM_CACHE"),
                max_rps=0,
            )
        )

    run()
    db = duckdb.connect(str(tmp_path / "load.duckdb"))
    rows = db.execute(
        f'select record_id, path, size, sha256 from feishu."{STREAM}" order by record_id'
    ).fetchall()
    db.close()
    assert len(rows) == 6
    for _, path, size, sha256 in rows:
        data = (files_dir / path).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha256
    assert small_mock.downloads() == 6
    run()
    assert small_mock.downloads() == 6, "the second run downloads nothing"
    db = duckdb.connect(str(tmp_path / "load.duckdb"))
    assert db.execute(f'select count(*) from feishu."{STREAM}"').fetchone()[0] == 6
