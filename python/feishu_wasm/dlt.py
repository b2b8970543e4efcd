"""A dlt source over the sandboxed Feishu connector: one resource per stream (table), merged on
`record_id`, incremental on `last_modified_time` with the cursor in dlt's own state.

    import dlt, feishu_wasm
    pipeline = dlt.pipeline(destination="duckdb", dataset_name="feishu")
    pipeline.run(feishu_wasm.dlt_source(config))   # the whole Base; run again for the changes

Feishu users name tables and fields in Chinese (and any script). dlt's default naming keeps
only ASCII, which merges differently named fields into one column; this source's schema uses
dlt's `duck_case` naming, which keeps every Unicode character (DuckDB and most warehouses
accept quoted Unicode identifiers), so each field gets its own readable column or child table.
Pass `naming="snake_case"` (or another dlt convention) to choose otherwise.

With `arrow=True` each page arrives as an Arrow table built in Rust, one typed column per field
(set `"values": "plain"` in the config for typed values), so dlt loads it without its
normalizer.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

import dlt
from dlt.common.schema import Schema
from dlt.extract.source import DltSource

from . import Source

CURSOR = "last_modified_time"


def dlt_source(
    config: Mapping[str, Any],
    *,
    streams: Optional[Iterable[str]] = None,
    naming: str = "duck_case",
    name: str = "feishu",
    arrow: bool = False,
    **source_options: Any,
) -> DltSource:
    """A dlt source reading the streams `config` offers (or only `streams`); with `arrow`,
    pages are Arrow tables (needs pyarrow).

    `source_options` go to `feishu_wasm.Source` (component, allow_hosts, max_memory_mib,
    timeout_secs, cache_dir).
    """
    source = Source(config, **source_options)
    catalog = source.discover()
    wanted = set(streams) if streams is not None else None
    resources = [
        _resource(source, stream, arrow)
        for stream in catalog["streams"]
        if wanted is None or stream["name"] in wanted
    ]
    schema = Schema(name, normalizers={"names": naming})
    return DltSource(schema, name, resources)


def _columns(json_schema: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Column hints where the stream's JSON schema helps: the key and the record's times."""
    properties = json_schema.get("properties", {})
    columns: Dict[str, Dict[str, Any]] = {
        "record_id": {"data_type": "text", "nullable": False, "primary_key": True}
    }
    for field in ("created_time", CURSOR):
        if field in properties:
            columns[field] = {"data_type": "bigint"}
    return columns


def _resource(source: Source, stream: Mapping[str, Any], arrow: bool) -> Any:
    name = stream["name"]

    def records(
        cursor: Any = dlt.sources.incremental(CURSOR, initial_value=None),
    ) -> Iterator[Any]:
        state = None
        if cursor.last_value is not None:
            state = [
                {
                    "type": "STREAM",
                    "stream": {
                        "stream_descriptor": {"name": name},
                        "stream_state": {CURSOR: cursor.last_value},
                    },
                }
            ]
        catalog = {
            "streams": [
                {
                    "stream": {"name": name, "json_schema": stream.get("json_schema", {})},
                    "sync_mode": "incremental",
                    "cursor_field": [CURSOR],
                    "destination_sync_mode": "append_dedup",
                }
            ]
        }
        if arrow:
            yield from source.arrow_batches(name, catalog=catalog, state=state)
            return
        page: List[Dict[str, Any]] = []
        for message in source.read(catalog=catalog, state=state):
            if message["type"] == "RECORD":
                page.append(message["record"]["data"])
                if len(page) >= 500:
                    yield page
                    page = []
        if page:
            yield page

    return dlt.resource(
        records,
        name=name,
        primary_key="record_id",
        write_disposition="merge",
        columns=None if arrow else _columns(stream.get("json_schema", {})),
    )
