"""The descriptor built in schema.py declares exactly the fields of bundle.proto."""

from __future__ import annotations

import re
from pathlib import Path

from openvisor.bundle import schema

PROTO = Path(schema.__file__).with_name("bundle.proto")
_FIELD = re.compile(r"^\s*(repeated\s+)?(\w+)\s+(\w+)\s*=\s*(\d+);")


def _proto_fields() -> dict[str, set[tuple[str, int, str, bool]]]:
    """Parse message fields from bundle.proto; nested messages get dotted names."""
    fields: dict[str, set[tuple[str, int, str, bool]]] = {}
    stack: list[str] = []
    for line in PROTO.read_text().splitlines():
        line = line.split("//")[0]
        opened = re.match(r"^\s*(message|enum|oneof)\s+(\w+)\s*\{", line)
        if opened:
            stack.append(opened.group(2) if opened.group(1) == "message" else "")
            continue
        if line.strip() == "}":
            stack.pop()
            continue
        match = _FIELD.match(line)
        messages = [name for name in stack if name]
        if match and messages:
            name = ".".join(messages)
            type_name = match.group(2)
            fields.setdefault(name, set()).add(
                (match.group(3), int(match.group(4)), type_name, bool(match.group(1)))
            )
    return fields


def _type_name(field: tuple[str, int, int, str, bool, int | None]) -> str:
    names = {
        schema._U32: "uint32",
        schema._U64: "uint64",
        schema._BYTES: "bytes",
        schema._BOOL: "bool",
        schema._STRING: "string",
    }
    type_name = field[3]
    if type_name:
        return type_name.rsplit(".", 1)[-1]
    return names[field[2]]


def test_descriptor_matches_proto_file() -> None:
    parsed = _proto_fields()
    built = {
        name: {(f[0], f[1], _type_name(f), f[4]) for f in fields}
        for name, fields in schema.MESSAGES.items()
    }
    assert set(parsed) == set(built)
    for name, fields in built.items():
        assert parsed[name] == fields, name


def test_empty_policies_serialize_as_present() -> None:
    body = schema.AppBody()
    body.update.SetInParent()
    body.connectivity.SetInParent()
    assert body.SerializeToString() == b"\x22\x00\x2a\x00"
