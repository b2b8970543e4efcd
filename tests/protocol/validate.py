"""Validates Airbyte protocol lines (stdin, one JSON object per line) against the protocol
models of the airbyte-protocol-models-pdv2 package. Prints one error per bad line and exits 1
if any line is invalid."""

import sys

from airbyte_protocol.models import AirbyteMessage

bad = 0
for number, line in enumerate(sys.stdin, start=1):
    line = line.rstrip("\n")
    try:
        AirbyteMessage.model_validate_json(line, strict=False)
    except Exception as error:  # pydantic.ValidationError and JSON errors
        bad += 1
        print(f"line {number}: {error}\n  {line[:300]}")
sys.exit(1 if bad else 0)
