"""Secrets the host keeps, as in every host (tests/e2e/kept_secrets.rs holds the CLI and Node to
the same): the probe component shows the config it was handed and sends the secret it sees in a
header, a body and a URL query to a granted host and to one no grant covers. The real secret
arrives only in the header and body of the request to the granted host, and is nowhere in what
Python gets back."""

import json
import os
from pathlib import Path

from conftest import Mock, source

REAL = "probe-real-secret-7Qm2Xv9Lp4Kd"


def test_the_python_host_puts_the_secret_only_into_the_granted_request(tmp_path: Path):
    for name in ("granted", "other"):
        (tmp_path / name).mkdir()
    granted = Mock(records=1, tmp=tmp_path / "granted")
    other = Mock(records=1, tmp=tmp_path / "other")
    try:
        config = {"secret": REAL, "granted_url": granted.url, "other_url": other.url}
        probe = source(config, component=os.environ["FEISHU_PROBE_COMPONENT"])
        messages = list(probe.read())
        assert REAL not in json.dumps(messages)
        records = [m["record"]["data"] for m in messages if m["type"] == "RECORD"]
        seen = records[0]["config"]["secret"]
        assert seen != REAL and seen.startswith("host-secret-")
        [request] = granted.requests()
        assert request["path"] == "/probe"
        assert request["authorization"] == f"Bearer {REAL}"
        assert json.loads(request["body"]) == {"app_id": "probe", "app_secret": REAL}
        assert request["query"]["probe"] == seen, "the URL keeps the placeholder"
        assert other.requests() == []
    finally:
        granted.stop()
        other.stop()
