"""A dlt source over the sandboxed Feishu connector: one table per stream, merged on
`record_id`, all streams read in one run of the component (pages as dicts, or as Arrow tables
with `arrow=True`), incremental on `last_modified_time` with the connector's state in dlt's.

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

With `"attachments": "files"` in the config and `files_dir=` given, each table with attachment
fields also loads an attachments table (one row per file: record, field, file token, name,
size, sha256 and `path`, relative to `files_dir`, where the file itself is), merged on record,
field and file; each file is downloaded once, the next runs download only new ones.

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
    tables (needs pyarrow).

    `source_options` go to `feishu_wasm.Source` (component, allow_hosts, max_memory_mib,
    timeout_secs, cache_dir, concurrency, max_rps, files_dir).
    """
    source = Source(config, **source_options)
    catalog = source.discover()
    wanted = set(streams) if streams is not None else None
    selected = [s for s in catalog["streams"] if wanted is None or s["name"] in wanted]
    resources = [_base_resource(source, selected, name, arrow)]
    schema = Schema(name, normalizers={"names": naming})
    return DltSource(schema, name, resources)


def _configured(streams: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
    """A configured catalog reading `streams` incrementally on their cursor, deduplicated on
    their key."""
    return {
        "streams": [
            {
                "stream": {"name": s["name"], "json_schema": s.get("json_schema", {})},
                "sync_mode": "incremental",
                "cursor_field": s.get("default_cursor_field") or [CURSOR],
                "destination_sync_mode": "append_dedup",
            }
            for s in streams
        ]
    }


def _primary_key(stream: Mapping[str, Any]) -> List[str]:
    """The stream's key columns (`record_id` for table streams)."""
    key = stream.get("source_defined_primary_key") or [["record_id"]]
    return [path[0] for path in key]


def _base_resource(
    source: Source, streams: List[Mapping[str, Any]], name: str, arrow: bool
) -> Any:
    """One resource reading every stream in one run, each page dispatched to its stream's table
    (merged on `record_id`, with that stream's column hints); the connector's state of each
    stream is kept in the resource's dlt state."""
    schemas = {s["name"]: s.get("json_schema", {}) for s in streams}
    keys = {s["name"]: _primary_key(s) for s in streams}

    def hinted(stream: str, page: Any) -> Any:
        hints = dlt.mark.make_hints(
            table_name=stream,
            primary_key=keys.get(stream, ["record_id"]),
            write_disposition="merge",
            columns=_columns(schemas.get(stream, {}), arrow),
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
        catalog = _configured(streams)
        if arrow:

            def keep(stream: str, stream_state: Dict[str, Any]) -> None:
                states[stream] = stream_state

            for stream, batch in source.arrow_pages(catalog, state=state or None, on_state=keep):
                yield hinted(stream, batch)
            return
        pages: Dict[str, List[Dict[str, Any]]] = {}
        for message in source.read(catalog=catalog, state=state or None):
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


