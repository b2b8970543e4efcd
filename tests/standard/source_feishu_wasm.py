"""An airbyte-cdk `Source` that runs host-runner + feishu.wasm as a subprocess, so that the
CDK's standard connector tests (`SourceTestSuiteBase`) exercise the real runner.

Every line host-runner prints is split the way the CDK's container route splits it
(`str.splitlines()`) and parsed with the CDK's own `AirbyteMessageSerializer`, with no
fix-ups: a line that is not a valid Airbyte message fails the test.

Environment: FEISHU_WASM_RUNNER (host-runner binary), FEISHU_WASM_COMPONENT (feishu.wasm),
FEISHU_WASM_RUNNER_ARGS (a JSON list of extra flags, such as --cache-dir).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator, List, Mapping

import orjson
from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConnectorSpecification,
    FailureType,
    Type,
)
from airbyte_cdk.sources.source import Source
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


def _run(args: list[str], files: Mapping[str, Any] | None = None) -> tuple[list[AirbyteMessage], int]:
    """Runs host-runner with `args` (plus `--<name> FILE` for each of `files`) and parses stdout."""
    command = [os.environ["FEISHU_WASM_RUNNER"], os.environ["FEISHU_WASM_COMPONENT"], *args]
    command += json.loads(os.environ.get("FEISHU_WASM_RUNNER_ARGS", "[]"))
    with tempfile.TemporaryDirectory() as tmp:
        for name, value in (files or {}).items():
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps(value))
            command += [f"--{name}", str(path)]
        done = subprocess.run(command, capture_output=True, timeout=600)
    stdout = done.stdout.decode("utf-8")
    messages = [AirbyteMessageSerializer.load(orjson.loads(line)) for line in stdout.splitlines()]
    return messages, done.returncode


def _of_type(messages: list[AirbyteMessage], kind: Type) -> list[AirbyteMessage]:
    return [m for m in messages if m.type == kind]


def _single(messages: list[AirbyteMessage], code: int, kind: Type, what: str) -> AirbyteMessage:
    """The one message of `kind` of a successful run; otherwise the run's error, raised."""
    found = _of_type(messages, kind)
    if code != 0 or len(found) != 1:
        _raise_trace(messages, code, what)
    return found[0]


def _raise_trace(messages: list[AirbyteMessage], code: int, what: str) -> None:
    """Raises the run's TRACE ERROR as the CDK's traced exception."""
    errors = [m.trace.error for m in _of_type(messages, Type.TRACE) if m.trace and m.trace.error]
    if errors:
        raise AirbyteTracedException(
            message=errors[0].message,
            internal_message=errors[0].internal_message,
            failure_type=errors[0].failure_type or FailureType.system_error,
        )
    raise AirbyteTracedException(message=f"host-runner {what} exited {code} without a TRACE ERROR")


class SourceFeishuWasm(Source):
    """host-runner feishu.wasm, seen from the CDK."""

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        messages, code = _run(["spec"])
        return _single(messages, code, Type.SPEC, "spec").spec

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        messages, code = _run(["check"], {"config": config})
        return _single(messages, code, Type.CONNECTION_STATUS, "check").connectionStatus

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        messages, code = _run(["discover"], {"config": config})
        return _single(messages, code, Type.CATALOG, "discover").catalog

    def read_catalog(self, catalog_path: str) -> ConfiguredAirbyteCatalog:
        return ConfiguredAirbyteCatalogSerializer.load(orjson.loads(Path(catalog_path).read_bytes()))

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: List[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        files: dict[str, Any] = {
            "config": config,
            "catalog": ConfiguredAirbyteCatalogSerializer.dump(catalog),
        }
        messages, _code = _run(["read"], files)
        # A failed read carries its TRACE ERROR and INCOMPLETE statuses among the messages,
        # which the CDK's entrypoint reports as the run's errors.
        yield from messages
