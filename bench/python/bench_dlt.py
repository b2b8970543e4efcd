"""Wall time of loading a mock table into DuckDB with dlt: today's dict records against
`values: plain` with `arrow=True`. Prints a Markdown table.

Usage: bench_dlt.py CONFIG
"""

import json
import sys
import tempfile
import time

import dlt

import feishu_wasm


def load(label, config, arrow):
    with tempfile.TemporaryDirectory() as work:
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{int(arrow)}",
            destination=dlt.destinations.duckdb(f"{work}/bench.duckdb"),
            dataset_name="feishu",
            pipelines_dir=f"{work}/pipelines",
        )
        started = time.perf_counter()
        pipeline.run(feishu_wasm.dlt_source(config, arrow=arrow, max_rps=0))
        print(f"| {label} | {time.perf_counter() - started:.1f} |", flush=True)


def main():
    config = json.load(open(sys.argv[1]))
    print("| dlt load of the mock table into DuckDB | wall s |")
    print("|---|---|")
    load("dict records, raw values (dlt normalizes each)", config, arrow=False)
    load("`values: plain`, `arrow=True`", dict(config, values="plain"), arrow=True)


main()
