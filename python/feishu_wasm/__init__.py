"""The Feishu / Lark Bitable source, run in process in a wasmtime sandbox.

    src = feishu_wasm.Source(config)            # the bundled feishu.wasm
    src.check()                                 # None, or raises a ConnectorError subclass
    catalog = src.discover()
    for record in src.records():                # each record's data, a page at a time
        ...

The component runs on a thread of its own and hands over one page at a time through a bounded
queue: the table is never held in memory, the GIL is released while Python waits, and Ctrl-C
(or leaving a loop early) stops the component. Outgoing HTTP reaches only the hosts the config
names (`lark_host`) and `allow_hosts`; a default the component proposes is never granted.
"""

from __future__ import annotations

import json
import os
import logging
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _native

_logger = logging.getLogger("feishu_wasm")

if TYPE_CHECKING:
    import pyarrow

__all__ = [
    "Source",
    "ConnectorError",
    "InputError",
    "ConfigError",
    "AuthError",
    "PermissionError",
    "NotFoundError",
    "RateLimitError",
    "TransientError",
    "BadResponseError",
    "SandboxError",
    "LimitError",
    "StoppedError",
    "InternalError",
    "dlt_source",
]


class ConnectorError(Exception):
    """A run failed. `kind` names the failure; `code` and `log_id` are Feishu's (the
    connector's structured `upstream-code` and `request-id`), when the failure came from a
    Feishu answer; `stream` is the stream that failed, if it was one; `internal_message` is the
    detail for operators."""

    kind = "internal"

    def __init__(
        self,
        message: str,
        *,
        failure_type: Optional[str] = None,
        stream: Optional[str] = None,
        errors: Sequence["ConnectorError"] = (),
        code: Optional[int] = None,
        log_id: Optional[str] = None,
        internal_message: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.failure_type = failure_type
        self.stream = stream
        self.errors = list(errors)
        self.code = code
        self.log_id = log_id
        self.internal_message = internal_message


class InputError(ConnectorError):
    """The config, catalog or state given is not usable (not JSON, unreadable)."""

    kind = "input"


class ConfigError(ConnectorError):
    """The connector's config is wrong: a field, an id."""

    kind = "config"


class AuthError(ConnectorError):
    """Feishu rejected app_id / app_secret."""

    kind = "auth"


class PermissionError(ConnectorError):  # noqa: A001 - the connector's own permission error
    """The app lacks access to the Base or table."""

    kind = "permission"


class NotFoundError(ConnectorError):
    """The Base, table or view does not exist."""

    kind = "not_found"


class RateLimitError(ConnectorError):
    """Feishu kept rate-limiting past the retries."""

    kind = "rate_limited"


class TransientError(ConnectorError):
    """A failure that may pass if tried later (timeouts, 5xx, dropped connections)."""

    kind = "transient"


class BadResponseError(ConnectorError):
    """Feishu answered something the connector cannot understand."""

    kind = "bad_response"


class SandboxError(ConnectorError):
    """The sandbox refused a request: the host is not granted (set it in the config or pass it
    in `allow_hosts`), or it resolves to an address the sandbox never dials."""

    kind = "sandbox"


class LimitError(ConnectorError):
    """The component hit the memory cap or the time cap."""

    kind = "limit"


class StoppedError(ConnectorError):
    """The run was stopped (Ctrl-C)."""

    kind = "stopped"


class InternalError(ConnectorError):
    """A fault in the component or the runner."""

    kind = "internal"


_BY_KIND = {
    cls.kind: cls
    for cls in (
        InputError,
        ConfigError,
        AuthError,
        PermissionError,
        NotFoundError,
        RateLimitError,
        TransientError,
        BadResponseError,
        SandboxError,
        LimitError,
        StoppedError,
        InternalError,
    )
}


def _error(kind: str, message: str, **details: Any) -> ConnectorError:
    return _BY_KIND.get(kind, InternalError)(message, **details)


def _as_json(value: Union[None, str, Mapping[str, Any], Sequence[Any]]) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


class Source:
    """A Feishu / Lark Bitable source with `config` (the fields of the connector's spec:
    app_id, app_secret, app_token or base_url, table_id, lark_host, page_size...).

    `component`: the path of another `source`-world component (default: the bundled
    feishu.wasm). `allow_hosts`: more hosts the component may reach
    (`scheme://host[:port]`, `*` wildcards). `max_memory_mib`: cap on the component's memory.
    `timeout_secs`: wall-clock cap on each operation. `concurrency`: streams read at once
    (by one sandboxed instance, taking turns page by page). `max_rps`: requests per second to
    Feishu (Feishu allows 20 per app; 0 = no limit). `files_dir`: where files the connector
    hands over are written (with `"attachments": "files"` in the config, each attachments
    record's `path` is relative to it); without it a read of an attachments stream fails,
    saying so. A limit left None
    takes the runner's default (256 MiB, six hours, 4 streams, the spec's declared rate: Feishu's 20
    per second).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        component: Optional[str] = None,
        allow_hosts: Iterable[str] = (),
        max_memory_mib: Optional[int] = None,
        timeout_secs: Optional[int] = None,
        cache_dir: Optional[str] = None,
        concurrency: Optional[int] = None,
        max_rps: Optional[int] = None,
        files_dir: Optional[str] = None,
    ) -> None:
        self._config = json.dumps(dict(config))
        # What the last run cost on the network (requests, those the upstream counts against
        # its quota, answers retried, requests the rate limiter held and for how long).
        self.last_run: Optional[Dict[str, Any]] = None
        self._runner = _native.Runner(
            component=component,
            allow_hosts=list(allow_hosts),
            max_memory_mib=max_memory_mib,
            timeout_secs=timeout_secs,
            cache_dir=cache_dir,
            concurrency=concurrency,
            max_rps=max_rps,
            files_dir=None if files_dir is None else os.fspath(files_dir),
        )

    def spec(self) -> Dict[str, Any]:
        """The connector's specification."""
        return json.loads(self._single("spec", "SPEC")[0][1])

    def check(self) -> None:
        """Checks the config and the connection; raises a ConnectorError subclass if it fails."""
        _, status, detail = self._single("check", "CONNECTION_STATUS")
        if status == "check_failed" and detail is not None:
            raise _from_detail(detail)

    def discover(self) -> Dict[str, Any]:
        """The catalog: the streams the config gives access to."""
        return json.loads(self._single("discover", "CATALOG")[0][1])

    def read(
        self,
        catalog: Union[None, str, Mapping[str, Any]] = None,
        state: Union[None, str, Sequence[Any], Mapping[str, Any]] = None,
    ) -> Iterator[Dict[str, Any]]:
        """Reads the streams `catalog` selects (every stream when None), resuming from `state`;
        yields Airbyte messages as dicts (RECORD, STATE, TRACE, LOG), then raises a
        ConnectorError subclass if any stream failed."""
        return self._messages(_as_json(catalog), _as_json(state), records_only=False)

    def records(self, streams: Optional[Iterable[str]] = None) -> Iterator[Dict[str, Any]]:
        """Yields the data of every record of `streams` (every stream when None), read in full;
        raises a ConnectorError subclass at the end if a stream failed."""
        catalog = None
        if streams is not None:
            catalog = json.dumps(
                {
                    "streams": [
                        {"stream": {"name": name}, "sync_mode": "full_refresh"}
                        for name in streams
                    ]
                }
            )
        return self._messages(catalog, None, records_only=True)

    def arrow_batches(
        self,
        stream: str,
        *,
        catalog: Union[None, str, Mapping[str, Any]] = None,
        state: Union[None, str, Sequence[Any], Mapping[str, Any]] = None,
        on_state: Optional[Callable[[Dict[str, Any]], None]] = None,
    ) -> Iterator["pyarrow.RecordBatch"]:
        """Yields `stream`'s records as pyarrow RecordBatches, one per page, with one typed
        column per field (the record's `fields` flattened), built in Rust from the stream's
        JSON schema; raises a ConnectorError subclass at the end if the stream failed. The
        schema comes from `catalog` (a configured or discovered catalog) or from `discover()`.
        Use `values: "plain"` in the config for typed columns; raw values keep Feishu's shapes
        (objects become JSON text). `on_state` hears each state checkpoint of the stream (its
        `stream_state`), to resume from later. Needs the `arrow` extra (pyarrow)."""
        entry = self._catalog_entry(stream, catalog)
        configured = {
            "streams": [
                {
                    "stream": entry["stream"],
                    "sync_mode": entry["sync_mode"],
                    **({"cursor_field": entry["cursor_field"]} if "cursor_field" in entry else {}),
                }
            ]
        }
        keep = None if on_state is None else (lambda _stream, stream_state: on_state(stream_state))
        for _, batch in self.arrow_pages(configured, state=state, on_state=keep):
            yield batch

    def arrow_pages(
        self,
        catalog: Mapping[str, Any],
        *,
        state: Union[None, str, Sequence[Any], Mapping[str, Any]] = None,
        on_state: Optional[Callable[[str, Dict[str, Any]], None]] = None,
    ) -> Iterator[Tuple[str, "pyarrow.RecordBatch"]]:
        """Yields `(stream, RecordBatch)` for every page of every stream of the configured
        `catalog`, all read in one run of the component (one token, one tables list, one
        `max_api_calls` budget, `concurrency` streams at once); each entry's
        `stream.json_schema` gives its stream's columns, as in `arrow_batches`.
        `on_state(stream, stream_state)` hears each checkpoint. Raises a ConnectorError
        subclass at the end if a stream failed. Needs the `arrow` extra (pyarrow)."""
        import pyarrow

        schemas = {
            entry["stream"]["name"]: entry["stream"].get("json_schema", {})
            for entry in catalog["streams"]
        }
        run = self._runner.start(
            "read",
            self._config,
            json.dumps(catalog),
            _as_json(state),
            None,
            _FLATTEN,
            json.dumps(schemas),
        )
        errors: List[ConnectorError] = []
        try:
            for message in run:
                if message[0] == "BATCH":
                    _, stream, schema_capsule, array_capsule, _, nulled = message
                    _warn_of_nulls(stream, nulled)
                    yield stream, pyarrow.record_batch(_CArray(schema_capsule, array_capsule))
                elif message[0] == "STATE" and on_state is not None:
                    on_state(message[1], json.loads(message[2]))
                elif message[0] == "ERROR":
                    errors.append(_from_error_tuple(message))
        finally:
            run.cancel()
        status, detail = self._ended(run)
        self._raise_unless_succeeded(status, detail, errors)
        if errors:
            raise errors[0]

    def arrow(
        self,
        stream: str,
        *,
        catalog: Union[None, str, Mapping[str, Any]] = None,
        state: Union[None, str, Sequence[Any], Mapping[str, Any]] = None,
    ) -> "pyarrow.Table":
        """`stream`'s records as one pyarrow Table (see `arrow_batches`); DuckDB and Polars
        take it as it is (`duckdb.sql("select * from table")`, `polars.from_arrow(table)`)."""
        import pyarrow

        entry = self._catalog_entry(stream, catalog)
        capsule = _native.arrow_schema(json.dumps(entry["stream"]["json_schema"]), _FLATTEN)
        schema = pyarrow.schema(_CSchema(capsule))
        batches = list(self.arrow_batches(stream, catalog={"streams": [entry]}, state=state))
        return pyarrow.Table.from_batches(batches, schema=schema)

    # -- internals --

    def _catalog_entry(
        self, stream: str, catalog: Union[None, str, Mapping[str, Any]]
    ) -> Dict[str, Any]:
        """The configured catalog entry of `stream` (full refresh unless `catalog` says)."""
        if catalog is None:
            catalog = self.discover()
        elif isinstance(catalog, str):
            catalog = json.loads(catalog)
        for entry in catalog.get("streams", []):
            if "stream" in entry and entry["stream"].get("name") == stream:
                return dict(entry)
            if entry.get("name") == stream:
                return {"stream": dict(entry), "sync_mode": "full_refresh"}
        raise NotFoundError(f"no stream `{stream}` in the catalog")

    def _single(self, operation: str, kind: str) -> tuple:
        """Runs `operation`; returns its one message of `kind`, and the run's status and
        detail (a failed check is a status, not an exception); raises for any other failure."""
        run = self._runner.start(operation, self._config)
        found = None
        errors: List[ConnectorError] = []
        for message in run:
            if message[0] == kind:
                found = message
            elif message[0] == "ERROR":
                errors.append(_from_error_tuple(message))
        status, detail = self._ended(run)
        self._raise_unless_succeeded(status, detail, errors)
        if found is None:
            raise InternalError(f"{operation} gave no {kind} message")
        return found, status, detail

    def _messages(
        self, catalog: Optional[str], state: Optional[str], *, records_only: bool
    ) -> Iterator[Dict[str, Any]]:
        run = self._runner.start("read", self._config, catalog, state)
        errors: List[ConnectorError] = []
        loads = json.loads
        try:
            for message in run:
                kind = message[0]
                if kind == "RECORDS":
                    if records_only:
                        for record in message[2]:
                            yield loads(record)
                    else:
                        yield from _record_messages(message)
                    continue
                if kind == "ERROR":
                    errors.append(_from_error_tuple(message))
                if not records_only:
                    yield _as_message(message)
        finally:
            # Leaving the loop early (break, an exception, a garbage-collected generator)
            # stops the component.
            run.cancel()
        status, detail = self._ended(run)
        self._raise_unless_succeeded(status, detail, errors)

    def _ended(self, run: Any) -> tuple:
        """How `run` ended; keeps what it cost in `last_run`."""
        status, detail = run.outcome()
        figures = run.figures()
        if figures is not None:
            requests, counted, retried, held, held_secs, streams = figures
            self.last_run = {
                "requests": requests,
                "counted_requests": counted,
                "retried_answers": retried,
                "held_requests": held,
                "held_seconds": held_secs,
                "streams": {
                    name: {"records": records, "requests": stream_requests}
                    for name, records, stream_requests in streams
                },
            }
        return status, detail

    @staticmethod
    def _raise_unless_succeeded(
        status: str, detail: Optional[tuple], errors: List[ConnectorError]
    ) -> None:
        if status in ("succeeded", "check_failed"):
            return
        if errors:
            first = errors[0]
            if len(errors) > 1:
                first.errors = errors
            raise first
        if detail is not None:
            raise _from_detail(detail)
        raise InternalError(f"the run ended as {status}")


# The record's `fields` object becomes one column per field.
_FLATTEN = ["fields"]


def _warn_of_nulls(stream: str, nulled: int) -> None:
    """One warning for a page's values that did not fit their Arrow column (made null)."""
    if nulled:
        _logger.warning(
            "stream %s: %d values did not fit their Arrow column and were made null",
            stream,
            nulled,
        )


class _CArray:
    """A record batch's Arrow PyCapsules, for `pyarrow.record_batch`."""

    def __init__(self, schema: Any, array: Any) -> None:
        self._capsules = (schema, array)

    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple:
        return self._capsules


class _CSchema:
    """An Arrow schema PyCapsule, for `pyarrow.schema`."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_schema__(self) -> Any:
        return self._capsule


def _from_detail(detail: tuple) -> ConnectorError:
    kind, text, code, log_id = detail
    return _error(kind, text, code=code, log_id=log_id)


def _from_error_tuple(message: tuple) -> ConnectorError:
    _, kind, text, stream, internal, (code, log_id), line = message
    failure_type = json.loads(line)["trace"]["error"]["failure_type"]
    return _error(
        kind,
        text,
        failure_type=failure_type,
        stream=stream,
        code=code,
        log_id=log_id,
        internal_message=internal,
    )


def _record_messages(message: tuple) -> Iterator[Dict[str, Any]]:
    """The RECORD message dicts of a page ("RECORDS" tuple), as the CLI prints them."""
    _, stream, records, emitted_at = message
    loads = json.loads
    for record in records:
        yield {
            "type": "RECORD",
            "record": {"stream": stream, "data": loads(record), "emitted_at": emitted_at},
        }


def _as_message(message: tuple) -> Dict[str, Any]:
    """An Airbyte message dict from the native tuple: its protocol line (the tuple's last item,
    the JSON text host-runner prints) parsed, so it equals the CLI's line by construction."""
    if message[0] == "RECORDS":
        raise InternalError("records are handed over a page at a time, not as one message")
    return json.loads(message[-1])


def dlt_source(config: Mapping[str, Any], **kwargs: Any) -> Any:
    """A dlt source over this connector (needs the `dlt` extra); see `feishu_wasm.dlt`."""
    from .dlt import dlt_source as make

    return make(config, **kwargs)
