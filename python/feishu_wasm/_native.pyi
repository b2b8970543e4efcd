"""Typed surface of the native module (the Rust host runner)."""

from typing import Any, Iterator, List, Optional, Tuple

class Run(Iterator[tuple]):
    """A run under way; iterate for message tuples, then call outcome(). A tuple starts with
    its kind: ("RECORDS", stream, [record bytes], emitted_at), ("BATCH", stream, schema,
    array, rows, nulled), and for every other message its protocol line (the JSON text the CLI
    prints) last: ("SPEC", spec, line), ("CONNECTION_STATUS", ok, message, line),
    ("CATALOG", catalog, line), ("STATE", stream, state, line), ("STREAM_STATUS", line),
    ("LOG", line), ("ERROR", kind, message, stream, internal, (code, log_id), line)."""

    def __iter__(self) -> "Run": ...
    def __next__(self) -> tuple: ...
    def cancel(self) -> None: ...
    def outcome(
        self,
    ) -> Tuple[str, Optional[Tuple[str, str, Optional[int], Optional[str]]]]: ...
    def figures(
        self,
    ) -> Optional[Tuple[int, int, int, int, float, List[Tuple[str, int, Optional[int]]]]]:
        """(requests, counted by the upstream's quota, answers retried, requests held by the
        rate limiter, seconds held, each stream's (name, records, requests)) once the run
        ended."""

def conformance_case(case: str) -> Tuple[List[tuple], int]:
    """One case of the host contract's conformance suite run into this package's channel:
    (the message tuples, the exit code). For the package's tests."""

def comparable(message: str) -> str:
    """A message (JSON text) as hosts compare it: clock values zeroed, the summary's times and
    host figures masked. For the package's tests."""

def contract() -> str:
    """The host contract's failure table as JSON (categories, kinds, exit codes)."""

def arrow_schema(json_schema: str, flatten: List[str] = ...) -> Any:
    """The Arrow schema (an `arrow_schema` PyCapsule) of batches of a stream's records."""

class Runner:
    """A compiled component with its sandbox settings."""

    def __init__(
        self,
        component: Optional[str] = None,
        allow_hosts: List[str] = ...,
        max_memory_mib: Optional[int] = None,
        timeout_secs: Optional[int] = None,
        request_timeout_secs: Optional[int] = None,
        cache_dir: Optional[str] = None,
        concurrency: Optional[int] = None,
        max_rps: Optional[int] = None,
        files_dir: Optional[str] = None,
    ) -> None: ...
    def start(
        self,
        operation: str,
        config: Optional[str] = None,
        catalog: Optional[str] = None,
        state: Optional[str] = None,
        arrow_schema: Optional[str] = None,
        flatten: List[str] = ...,
        arrow_schemas: Optional[str] = None,
    ) -> Run: ...
