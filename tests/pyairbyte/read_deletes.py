"""PyAirbyte reads the connector (host-runner + feishu.wasm, as a local executable) into its
DuckDB cache twice, with `detect_deletes`: records deleted in Feishu between the reads reach
the cache as deleted (`_ab_cdc_deleted_at` set on their row, merged on `record_id`).

Run by tests/e2e/pyairbyte.rs:  python read_deletes.py WORKDIR
with FEISHU_WASM_RUNNER, FEISHU_WASM_COMPONENT, FEISHU_WASM_CACHE, FEISHU_CONFIG (JSON) and
FEISHU_MOCK_URL set. Prints one JSON object: what each read left in the cache.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import urllib.request
from pathlib import Path

import airbyte as ab
from airbyte.caches import DuckDBCache


def executable(workdir: Path) -> Path:
    """The connector as PyAirbyte runs local executables: `<exe> spec|check|discover|read ...`."""
    script = workdir / "source-feishu-wasm"
    script.write_text(
        "#!/bin/sh\n"
        f'exec "{os.environ["FEISHU_WASM_RUNNER"]}" --cache-dir "{os.environ["FEISHU_WASM_CACHE"]}" '
        f'"{os.environ["FEISHU_WASM_COMPONENT"]}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def delete(indices: list) -> None:
    request = urllib.request.Request(
        f"{os.environ['FEISHU_MOCK_URL']}/__mock/delete",
        data=json.dumps({"indices": indices}).encode(),
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request).read()


def cache_rows(cache: DuckDBCache) -> dict:
    """The cache's rows of `records`, and the ids of those marked deleted."""
    rows = [(r["record_id"], r["_ab_cdc_deleted_at"]) for r in cache["records"]]
    return {
        "rows": len(rows),
        "deleted": sorted(record_id for record_id, deleted_at in rows if deleted_at is not None),
    }


def main() -> None:
    workdir = Path(sys.argv[1])
    config = json.loads(os.environ["FEISHU_CONFIG"])
    source = ab.get_source(
        "source-feishu-wasm",
        config=config,
        local_executable=executable(workdir),
        streams=["records"],
    )
    cache = DuckDBCache(db_path=workdir / "cache.duckdb", schema_name="main")
    source.read(cache=cache, write_strategy="merge")
    after_first = cache_rows(cache)
    delete([4, 120])
    source.read(cache=cache, write_strategy="merge")
    result = {"first": after_first, "second": cache_rows(cache)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
