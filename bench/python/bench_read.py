"""Records/s of reading a mock table in Python: the CLI's stdout parsed line by line, against
feishu_wasm in process (`Source.read()`, `Source.records()`, `Source.arrow()`), each the best of
$BENCH_RUNS runs (3). Prints a Markdown table, then the memory of building the Arrow table.

Usage: bench_read.py CONFIG HOST_RUNNER COMPONENT RECORDS
"""

import json
import os
import subprocess
import sys
import time

import feishu_wasm


RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def timed(label, count_records):
    """The best of RUNS runs (the machine's other work only ever adds time)."""
    best = None
    for _ in range(RUNS):
        started = time.perf_counter()
        count = count_records()
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
    return label, count, best


def cli(config_path, runner, component):
    process = subprocess.Popen(
        [runner, component, "read", "--config", config_path, "--max-rps", "0"],
        stdout=subprocess.PIPE,
    )
    count = 0
    for line in process.stdout:
        message = json.loads(line)
        if message["type"] == "RECORD":
            count += 1
    process.wait()
    return count


def main():
    config_path, runner, component, expected = sys.argv[1:5]
    config = json.load(open(config_path))
    source = feishu_wasm.Source(config, max_rps=0)  # loopback: no quota to respect
    source.spec()  # compile (or load from the cache) before timing
    plain = feishu_wasm.Source(dict(config, values="plain"), max_rps=0)
    catalog = plain.discover()  # the stream's schema, outside the timing
    rows = [
        timed("CLI stdout, parsed in Python", lambda: cli(config_path, runner, component)),
        timed("in process: Source.read()", lambda: sum(1 for m in source.read() if m["type"] == "RECORD")),
        timed("in process: Source.records()", lambda: sum(1 for _ in source.records())),
        timed("in process: Source.records(), values plain", lambda: sum(1 for _ in plain.records())),
        timed(
            "in process: Source.arrow(), values plain",
            lambda: plain.arrow("records", catalog=catalog).num_rows,
        ),
    ]
    print("| Python read of the mock table | records | wall s | records/s |")
    print("|---|---|---|---|")
    for label, count, seconds in rows:
        assert count == int(expected), (label, count)
        print(f"| {label} | {count} | {seconds:.2f} | {count / seconds:,.0f} |")
    print()
    print(arrow_memory(config_path))


def arrow_memory(config_path):
    """Peak RSS of a fresh process that builds the Arrow table, beside the table's own size and
    the process's RSS before the read (interpreter, pyarrow, runtime, compiled component)."""
    script = f"""
import json, resource, feishu_wasm, pyarrow
def rss_mib():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024
src = feishu_wasm.Source(dict(json.load(open({config_path!r})), values="plain"), max_rps=0)
catalog = src.discover()
before = rss_mib()
table = src.arrow("records", catalog=catalog)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
size = table.nbytes / 2**20
print(f"Source.arrow(): a {{size:.1f}} MiB table; the process peaked at {{peak:.1f}} MiB RSS "
      f"({{peak / size:.2f}}x the table), of which {{before:.1f}} MiB before the read (interpreter, "
      f"pyarrow, runtime and compiled component): the read itself took {{peak - before:.1f}} MiB, "
      f"{{(peak - before) / size:.2f}}x the table")
"""
    return subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout.strip()


main()
