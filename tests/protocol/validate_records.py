"""Validates every RECORD on stdin against its stream's json_schema in the CATALOG file given
as the first argument (a host-runner discover output line). Prints each invalid record and
exits 1 if there is any; exits 1 too when no record was checked."""

import json
import sys

from jsonschema import Draft7Validator

catalog = json.loads(open(sys.argv[1]).read())["catalog"]
validators = {s["name"]: Draft7Validator(s["json_schema"]) for s in catalog["streams"]}
checked = bad = 0
for number, line in enumerate(sys.stdin, start=1):
    message = json.loads(line)
    if message.get("type") != "RECORD":
        continue
    record = message["record"]
    validator = validators.get(record["stream"])
    if validator is None:
        bad += 1
        print(f"line {number}: stream {record['stream']!r} is not in the catalog")
        continue
    checked += 1
    for error in validator.iter_errors(record["data"]):
        bad += 1
        path = "/".join(str(p) for p in error.absolute_path)
        print(f"line {number} ({record['stream']}): {path}: {error.message}")
print(f"{checked} records checked, {bad} problems")
sys.exit(1 if bad or not checked else 0)
