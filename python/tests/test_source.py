"""feishu_wasm.Source against the mock: the same records as the CLI, errors by kind, the
sandbox, early exits, and flat memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time

import pytest

import feishu_wasm
from conftest import comparable, source


def cli_messages(config: dict, tmp_path) -> list:
    """Every message host-runner prints for a read of `config`."""
    path = tmp_path / "cli-config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [
            os.environ["FEISHU_HOST_RUNNER"],
            os.environ["FEISHU_WASM_COMPONENT"],
            "read",
            "--config",
            str(path),
            "--cache-dir",
            os.environ["FEISHU_WASM_CACHE"],
            "--max-rps",
            "0",
            "--concurrency",
            "1",
        ],
        capture_output=True,
    )
    return [json.loads(line) for line in done.stdout.decode().split("\n") if line]


def cli_records(config: dict, tmp_path) -> list:
    """(stream, data) of every RECORD host-runner prints for `config`."""
    return [
        (m["record"]["stream"], m["record"]["data"])
        for m in cli_messages(config, tmp_path)
        if m["type"] == "RECORD"
    ]


def test_spec_names_the_config_fields(mock):
    spec = source(mock.config).spec()
    properties = spec["connectionSpecification"]["properties"]
    assert {"app_id", "app_secret", "app_token", "lark_host", "page_size"} <= set(properties)


def test_check_and_discover(mock):
    src = source(mock.base_config())
    assert src.check() is None
    names = [stream["name"] for stream in src.discover()["streams"]]
    assert "项目任务_Tasks_tblMockTable0001" in names


def test_read_gives_every_message_the_cli_does(mock, tmp_path):
    config = mock.base_config()
    messages = list(source(config, concurrency=1).read())
    records = [(m["record"]["stream"], m["record"]["data"]) for m in messages if m["type"] == "RECORD"]
    assert len(records) > 250
    statuses = [m["trace"]["stream_status"]["status"] for m in messages if m["type"] == "TRACE"]
    assert statuses.count("STARTED") == statuses.count("COMPLETE") > 1
    assert [comparable(m) for m in messages] == [comparable(m) for m in cli_messages(config, tmp_path)]


def test_a_failed_read_gives_every_message_the_cli_does(mock, tmp_path):
    config = dict(mock.base_config(), app_secret="wrong-secret-1234")
    messages = []
    with pytest.raises(feishu_wasm.AuthError):
        for message in source(config, concurrency=1).read():
            messages.append(message)
    assert any(m["type"] == "TRACE" and m["trace"]["type"] == "ERROR" for m in messages)
    assert [comparable(m) for m in messages] == [comparable(m) for m in cli_messages(config, tmp_path)]


def test_records_of_chosen_streams(mock):
    data = list(source(mock.base_config()).records(["项目任务_Tasks_tblMockTable0001"]))
    assert len(data) == 250
    assert data[0]["record_id"] and "fields" in data[0]


def test_a_bad_secret_raises_auth_error_with_the_code(mock):
    config = dict(mock.config, app_secret="wrong")
    with pytest.raises(feishu_wasm.AuthError) as raised:
        source(config).check()
    assert raised.value.code == 10014
    assert raised.value.log_id == "mocklog10014"
    with pytest.raises(feishu_wasm.AuthError):
        list(source(config).records())


def test_a_host_the_operator_did_not_grant_raises_sandbox_error(mock):
    config = dict(mock.config)
    del config["lark_host"]
    with pytest.raises(feishu_wasm.SandboxError) as raised:
        source(config).check()
    assert "https://open.feishu.cn" in str(raised.value)
    # The message names the setting in Python's words, not the CLI's flag.
    assert "or with allow_hosts https://open.feishu.cn" in str(raised.value)
    assert "--allow-host" not in str(raised.value)


def test_a_config_error_names_the_field(mock):
    with pytest.raises(feishu_wasm.ConfigError) as raised:
        source(dict(mock.config, page_size=9000)).check()
    assert "page_size" in str(raised.value)


def test_leaving_a_loop_early_stops_the_component(big_mock):
    src = source(big_mock.config)
    taken = 0
    for _ in src.records():
        taken += 1
        if taken == 10:
            break
    time.sleep(1.0)
    searched = big_mock.searches()
    time.sleep(1.0)
    assert big_mock.searches() == searched, "the component went on reading"
    assert searched < 20, f"{searched} pages were asked for after the loop ended"


def test_memory_stays_flat_over_100k_records(big_mock):
    src = source(big_mock.config)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    count = sum(1 for _ in src.records())
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert count == 100_000
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB"


def test_ctrl_c_stops_the_read(big_mock):
    import _thread
    import threading

    src = source(big_mock.config)
    taken = 0
    with pytest.raises(KeyboardInterrupt):
        for _ in src.records():
            taken += 1
            if taken == 1:
                # Ctrl-C as soon as the first record arrived, from another thread (as a
                # terminal's signal comes): no wall-clock wait, so a loaded machine cannot make
                # it land before the read or after its end. It lands mid-read, in the loop or
                # while the iterator waits on the component.
                threading.Thread(target=_thread.interrupt_main).start()
    assert 0 < taken < 100_000
    time.sleep(1.0)
    searched = big_mock.searches()
    time.sleep(1.0)
    assert big_mock.searches() == searched, "the component went on reading"


def test_every_kind_of_the_contract_has_its_exception():
    table = json.loads(feishu_wasm._native.contract())
    kinds = {row["kind"] for row in table["kinds"]}
    assert kinds == set(feishu_wasm._BY_KIND)
    for row in table["categories"]:
        assert feishu_wasm._BY_KIND[row["kind"]].kind == row["kind"]


def test_read_traces_carry_emitted_at_and_the_upstream_code(mock):
    config = dict(mock.config, app_secret="wrong")
    messages = []
    with pytest.raises(feishu_wasm.AuthError) as raised:
        for message in source(config).read():
            messages.append(message)
    traces = [m["trace"] for m in messages if m["type"] == "TRACE"]
    assert traces and all(isinstance(t["emitted_at"], float) for t in traces)
    error = next(t["error"] for t in traces if t["type"] == "ERROR")
    assert error["internal_message"] == (
        "connector error category: ErrorCategory::Auth; upstream code 10014; "
        "request id mocklog10014"
    )
    assert raised.value.code == 10014 and raised.value.internal_message == error["internal_message"]


def test_the_last_run_says_what_it_cost(mock):
    src = source(mock.base_config())
    assert src.last_run is None
    records = list(src.records())
    assert len(records) > 250
    figures = src.last_run
    assert figures is not None
    # One token (not counted by Feishu's quota, as the spec declares), the rest counted.
    assert figures["counted_requests"] == figures["requests"] - 1
    assert figures["retried_answers"] == 0
    assert figures["requests"] >= 3
    streams = figures["streams"]
    assert sum(s["records"] for s in streams.values()) == len(records)
    # Every request but the run's token and its tables list is one stream's.
    assert sum(s["requests"] for s in streams.values()) == figures["requests"] - 1 - mock.tables_list_pages()
