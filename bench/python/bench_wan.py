"""A whole Base read in Python over a simulated WAN: `Source.records()` without a catalog of a
mock with latency and Feishu's quota (four tables of RECORDS each), against the quota floor
(pages / requests per second). Prints one Markdown row like the WAN table of feishu-bench.

Usage: bench_wan.py CONFIG RECORDS_PER_TABLE QPS
"""

import json
import sys
import time

import feishu_wasm


def main():
    config_path, per_table, qps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = json.load(open(config_path))
    config.pop("table_id", None)
    source = feishu_wasm.Source(config)  # the default rate limit (the spec's 20/s)
    source.spec()
    started = time.perf_counter()
    count = sum(1 for _ in source.records())
    seconds = time.perf_counter() - started
    pages = 4 * -(-per_table // 500)
    floor = pages / qps
    run = source.last_run
    print(
        f"| Python Source.records(), whole Base without a catalog | {count} | {seconds:.1f} "
        f"| {floor:.1f} | {seconds / floor:.2f} | requests {run['requests']} |"
    )


if __name__ == "__main__":
    main()
