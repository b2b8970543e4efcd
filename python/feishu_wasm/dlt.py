"""A dlt source over the sandboxed Feishu connector: one table per stream, merged on
`record_id`, all streams read in one run of the component (with `arrow=True`, one resource and
run per stream), incremental on `last_modified_time` with the connector's state in dlt's.

    import dlt, feishu_wasm
    pipeline = dlt.pipeline(destination="duckdb", dataset_name="feishu")
    pipeline.run(feishu_wasm.dlt_source(config))   # the whole Base; run again for the changes

Feishu users name tables and fields in Chinese (and any script). dlt's default naming keeps
only ASCII, which merges differently named fields into one column; this source's schema uses
dlt's `duck_case` naming, which keeps every Unicode character (DuckDB and most warehouses
accept quoted Unicode identifiers), so each field gets its own readable column or child table.
Pass `naming="snake_case"` (or another dlt convention) to choose otherwise.

With `"detect_deletes": true` in the config, records deleted in Feishu are deleted from the
destination too: they arrive as rows with `_ab_cdc_deleted_at`, which this source marks as
dlt's `hard_delete` column. The connector's own state (its cursor, the record ids it
remembers, the table's revision) is kept in the resource's dlt state.

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
# The column of deleted-record messages (config `detect_deletes`): dlt's merge deletes the row.
DELETED_AT = "_ab_cdc_deleted_at"


def dlt_source(
    config: Mapping[str, Any],
    *,
    streams: Optional[Iterable[str]] = None,
    naming: str = "duck_case",
    name: str = "feishu",
    arrow: bool = False,
    **source_options: Any,
) -> DltSource:
    """A dlt source reading the streams `config` offers (or only `streams`): one table per
    stream, all read in **one run** of the component (one token, one tables list, one
    `max_api_calls` budget, `concurrency` streams at once); with `arrow`, pages are Arrow
    tables (needs pyarrow) and each table is read in a run of its own.

    `source_options` go to `feishu_wasm.Source` (component, allow_hosts, max_memory_mib,
    timeout_secs, cache_dir, concurrency, max_rps).
    """
    source = Source(config, **source_options)
    catalog = source.discover()
    wanted = set(streams) if streams is not None else None
    selected = [s for s in catalog["streams"] if wanted is None or s["name"] in wanted]
    if arrow:
        resources = [_resource(source, stream, arrow) for stream in selected]
    else:
        resources = [_base_resource(source, selected, name)]
    schema = Schema(name, normalizers={"names": naming})
    return DltSource(schema, name, resources)


def _configured(streams: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
    """A configured catalog reading `streams` incrementally, deduplicated on `record_id`."""
    return {
        "streams": [
            {
                "stream": {"name": s["name"], "json_schema": s.get("json_schema", {})},
                "sync_mode": "incremental",
                "cursor_field": [CURSOR],
                "destination_sync_mode": "append_dedup",
            }
            for s in streams
        ]
    }


def _base_resource(source: Source, streams: List[Mapping[str, Any]], name: str) -> Any:
    """One resource reading every stream in one run, each page dispatched to its stream's table
    (merged on `record_id`, with that stream's column hints); the connector's state of each
    stream is kept in the resource's dlt state."""
    schemas = {s["name"]: s.get("json_schema", {}) for s in streams}

    def hinted(stream: str, page: List[Dict[str, Any]]) -> Any:
        hints = dlt.mark.make_hints(
            table_name=stream,
            primary_key="record_id",
            write_disposition="merge",
            columns=_columns(schemas.get(stream, {}), False),
        )
        return dlt.mark.with_hints(page, hints, create_table_variant=True)

    def records() -> Iterator[Any]:
        saved = dlt.current.resource_state()
        states: Dict[str, Any] = saved.setdefault("connector_states", {})
        state = [
            {
                "type": "STREAM",
                "stream": {"stream_descriptor": {"name": stream}, "stream_state": stream_state},
            }
            for stream, stream_state in states.items()
            if stream in schemas
        ]
        pages: Dict[str, List[Dict[str, Any]]] = {}
        for message in source.read(catalog=_configured(streams), state=state or None):
            if message["type"] == "RECORD":
                stream = message["record"]["stream"]
                page = pages.setdefault(stream, [])
                page.append(message["record"]["data"])
                if len(page) >= 500:
                    yield hinted(stream, pages.pop(stream))
            elif message["type"] == "STATE":
                stream_state = message["state"]["stream"]
                states[stream_state["stream_descriptor"]["name"]] = stream_state["stream_state"]
        for stream, page in pages.items():
            yield hinted(stream, page)

    return dlt.resource(records, name=name)


def _columns(json_schema: Mapping[str, Any], arrow: bool) -> Dict[str, Dict[str, Any]]:
    """Column hints where the stream's JSON schema helps: the key, the record's times (Arrow
    tables carry their own types), and the deleted-at column that makes dlt's merge delete."""
    properties = json_schema.get("properties", {})
    columns: Dict[str, Dict[str, Any]] = {}
    if not arrow:
        columns["record_id"] = {"data_type": "text", "nullable": False, "primary_key": True}
        for field in ("created_time", CURSOR):
            if field in properties:
                columns[field] = {"data_type": "bigint"}
    if DELETED_AT in properties:
        columns[DELETED_AT] = {"data_type": "timestamp", "nullable": True, "hard_delete": True}
    return columns


def _resume_from(name: str, saved: Dict[str, Any], cursor: Any) -> Optional[List[Dict[str, Any]]]:
    """The state to hand the connector: its own last state of the stream (cursor, remembered
    record ids, table revision), else a state made of dlt's cursor (pipelines from before)."""
    stream_state = saved.get("connector_state")
    if stream_state is None and cursor.last_value is not None:
        stream_state = {CURSOR: cursor.last_value}
    if stream_state is None:
        return None
    return [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state},
        }
    ]


def _resource(source: Source, stream: Mapping[str, Any], arrow: bool) -> Any:
    name = stream["name"]

    def records(
        # Deleted-record messages carry no cursor: they pass dlt's incremental as they are.
        cursor: Any = dlt.sources.incremental(
            CURSOR, initial_value=None, on_cursor_value_missing="include"
        ),
    ) -> Iterator[Any]:
        saved = dlt.current.resource_state()
        state = _resume_from(name, saved, cursor)

        def keep(stream_state: Dict[str, Any]) -> None:
            saved["connector_state"] = stream_state

        catalog = _configured([stream])
        if arrow:
            yield from source.arrow_batches(name, catalog=catalog, state=state, on_state=keep)
            return
        page: List[Dict[str, Any]] = []
        for message in source.read(catalog=catalog, state=state):
            if message["type"] == "RECORD":
                page.append(message["record"]["data"])
                if len(page) >= 500:
                    yield page
                    page = []
            elif message["type"] == "STATE":
                keep(message["state"]["stream"]["stream_state"])
        if page:
            yield page

    return dlt.resource(
        records,
        name=name,
        primary_key="record_id",
        write_disposition="merge",
        columns=_columns(stream.get("json_schema", {}), arrow),
    )
