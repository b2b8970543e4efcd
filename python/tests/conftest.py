"""Fixtures: a mock Feishu (the repository's mock-feishu binary) per test, and a Source factory.

Environment (set by tests/e2e/python_package.rs): FEISHU_MOCK_BIN (mock-feishu),
FEISHU_HOST_RUNNER and FEISHU_WASM_COMPONENT (the CLI and component, for comparisons),
FEISHU_WASM_CACHE (the compiled-component cache), FEISHU_PROBE_COMPONENT (the probe component
of the hosts' contract tests, probe/).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import feishu_wasm


class Mock:
    """A running mock Feishu; `config` points the connector at it."""

    def __init__(self, records: int, tmp: Path) -> None:
        config_path = tmp / "mock-config.json"
        self.process = subprocess.Popen(
            [
                os.environ["FEISHU_MOCK_BIN"],
                "--records",
                str(records),
                "--page-size",
                "100",
                "--write-config",
                str(config_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not (config_path.exists() and config_path.stat().st_size > 0):
            assert time.monotonic() < deadline, "the mock did not start"
            time.sleep(0.05)
        time.sleep(0.05)
        self.config: Dict[str, Any] = json.loads(config_path.read_text())
        self.url: str = self.config["lark_host"]

    def base_config(self) -> Dict[str, Any]:
        """The whole Base: every table is a stream."""
        config = dict(self.config)
        del config["table_id"]
        return config

    def searches(self) -> int:
        return self.stats()["searches"]

    def tokens_issued(self) -> int:
        return self.stats()["tokens_issued"]

    def requests(self) -> list:
        """Every request the mock saw: method, path, query, authorization, body."""
        with urllib.request.urlopen(f"{self.url}/__mock/requests") as answer:
            return json.load(answer)

    def downloads(self) -> int:
        return self.stats()["downloads"]

    def tables_list_pages(self) -> int:
        return self.stats()["table_list_pages"]

    def stats(self) -> Dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/__mock/stats") as answer:
            return json.load(answer)

    def modify(self, indices: list, at_ms: int) -> None:
        body = json.dumps({"indices": indices, "at_ms": at_ms}).encode()
        request = urllib.request.Request(
            f"{self.url}/__mock/modify", data=body, headers={"content-type": "application/json"}
        )
        urllib.request.urlopen(request).read()

    def delete(self, indices: list) -> None:
        body = json.dumps({"indices": indices}).encode()
        request = urllib.request.Request(
            f"{self.url}/__mock/delete", data=body, headers={"content-type": "application/json"}
        )
        urllib.request.urlopen(request).read()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[Mock]:
    running = Mock(records=250, tmp=tmp_path)
    yield running
    running.stop()


@pytest.fixture
def small_mock(tmp_path: Path) -> Iterator[Mock]:
    running = Mock(records=6, tmp=tmp_path)
    yield running
    running.stop()


@pytest.fixture
def big_mock(tmp_path: Path) -> Iterator[Mock]:
    running = Mock(records=100_000, tmp=tmp_path)
    yield running
    running.stop()


def source(config: Dict[str, Any], **kwargs: Any) -> feishu_wasm.Source:
    """A Source over the bundled component, caching compiled code where the tests do; the
    loopback mock is read without the rate limit."""
    kwargs.setdefault("max_rps", 0)
    return feishu_wasm.Source(config, cache_dir=os.environ.get("FEISHU_WASM_CACHE"), **kwargs)


def comparable(message: dict) -> dict:
    """A message as two hosts of one run must both give it: protocol's own masking (clock
    values zeroed, the summary's times and host figures masked), and a state's `read_at`."""
    message = json.loads(feishu_wasm._native.comparable(json.dumps(message)))
    stream_state = message.get("state", {}).get("stream", {}).get("stream_state", {})
    if isinstance(stream_state, dict) and "read_at" in stream_state:
        stream_state["read_at"] = 0
    return message
