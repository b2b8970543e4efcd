"""The host contract's conformance suite (protocol/conformance/cases.json), run through this
package's own path: the contract's report into the native channel to Python, then the tuples
turned into message dicts and exceptions here. Each case must give exactly its lines (the
summary's times masked) and its exit code, as host-runner, the edge build and Node do."""

import json
from pathlib import Path

import feishu_wasm
from feishu_wasm import _as_message, _from_error_tuple, _native, _record_messages

from conftest import comparable

CASES = json.loads(
    (Path(__file__).resolve().parents[2] / "protocol" / "conformance" / "cases.json").read_text()
)


def test_every_case_gives_its_lines_and_exit_code():
    assert len(CASES) >= 15
    for case in CASES:
        tuples, exit_code = _native.conformance_case(json.dumps(case))
        messages = []
        for message in tuples:
            if message[0] == "RECORDS":
                messages.extend(_record_messages(message))
            else:
                messages.append(_as_message(message))
        assert [comparable(m) for m in messages] == case["lines"], case["name"]
        assert exit_code == case["exit"], case["name"]


def test_every_error_of_the_cases_raises_its_kind_with_the_line_s_failure_type():
    table = json.loads(_native.contract())
    kind_of = {row["internal"]: row["kind"] for row in table["categories"]}
    seen = 0
    for case in CASES:
        tuples, _ = _native.conformance_case(json.dumps(case))
        for message in (t for t in tuples if t[0] == "ERROR"):
            error = _from_error_tuple(message)
            line = json.loads(message[-1])["trace"]["error"]
            assert isinstance(error, feishu_wasm.ConnectorError)
            assert error.failure_type == line["failure_type"], case["name"]
            assert error.internal_message == line["internal_message"], case["name"]
            internal = line["internal_message"].split(";")[0]
            if internal in kind_of:
                assert error.kind == kind_of[internal], case["name"]
            seen += 1
    assert seen >= 12
