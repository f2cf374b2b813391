"""Protocol Buffers messages of the bundle format, built with the descriptor API.

The schema is ``bundle.proto`` beside this module (proto3, package
``bundle``). Building the descriptor here, instead of committing ``protoc``
output, ties the messages to the installed protobuf runtime and needs no
compiler. ``tests/unit/bundle/test_schema.py`` checks that this table and
``bundle.proto`` declare the same fields.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

_FieldProto = descriptor_pb2.FieldDescriptorProto

# (name, number, type, type name or "", repeated, oneof index or None)
_Field = tuple[str, int, int, str, bool, "int | None"]

_U32 = _FieldProto.TYPE_UINT32
_U64 = _FieldProto.TYPE_UINT64
_BYTES = _FieldProto.TYPE_BYTES
_BOOL = _FieldProto.TYPE_BOOL
_STRING = _FieldProto.TYPE_STRING
_MESSAGE = _FieldProto.TYPE_MESSAGE
_ENUM = _FieldProto.TYPE_ENUM

# Message name -> fields. A dotted name is a nested message.
MESSAGES: dict[str, list[_Field]] = {
    "OpaqueManifest": [
        ("signer_id", 1, _U64, "", False, None),
        ("body", 2, _BYTES, "", False, None),
        ("signature", 3, _BYTES, "", False, None),
    ],
    "AppManifest": [
        ("signer_id", 1, _U64, "", False, None),
        ("body", 2, _MESSAGE, "AppManifest.AppBody", False, None),
        ("signature", 3, _BYTES, "", False, None),
    ],
    "AppManifest.AppBody": [
        ("layers", 1, _MESSAGE, "AppLayerReference", True, None),
        ("debug", 2, _MESSAGE, "DebugPolicy", False, None),
        ("crash", 3, _MESSAGE, "CrashPolicy", False, None),
        ("update", 4, _MESSAGE, "UpdatePolicy", False, None),
        ("connectivity", 5, _MESSAGE, "ConnectivityPolicy", False, None),
    ],
    "AppLayerReference": [
        ("target", 1, _MESSAGE, "AppLayerRegion", False, None),
        ("encrypted_with_key_id", 2, _U64, "", False, None),
        ("fetch_hash", 3, _BYTES, "", False, None),
        ("measurement_hash", 4, _BYTES, "", False, None),
    ],
    "AppLayerRegion": [
        ("internal_flash", 1, _MESSAGE, "InternalFlashRegion", False, 0),
        ("external_flash", 2, _MESSAGE, "SpiFlashRegion", False, 0),
    ],
    "InternalFlashRegion": [
        ("start", 1, _U32, "", False, None),
        ("size", 2, _U32, "", False, None),
    ],
    "SpiFlashRegion": [
        ("start", 1, _U32, "", False, None),
        ("size", 2, _U32, "", False, None),
    ],
    "DebugPolicy": [
        ("debuggable", 1, _BOOL, "", False, None),
        ("debug_auth_pubkey", 2, _BYTES, "", False, None),
    ],
    "CrashPolicy": [
        ("minimum_restart_ms", 1, _U32, "", False, None),
        ("maximum_restart_ms", 2, _U32, "", False, None),
        ("crash_report_pubkey", 3, _BYTES, "", False, None),
        ("include_stack_bytes", 4, _U32, "", False, None),
    ],
    "UpdatePolicy": [
        ("maximum_politeness_time_sec", 1, _U32, "", False, None),
        ("minimum_kernel_version", 2, _U32, "", False, None),
    ],
    "ConnectivityPolicy": [
        ("connection_grace_time_sec", 1, _U32, "", False, None),
        ("minimum_check_in_time_sec", 2, _U32, "", False, None),
    ],
    "KernelManifest": [
        ("signer_id", 1, _U64, "", False, None),
        ("body", 2, _MESSAGE, "KernelManifest.KernelBody", False, None),
        ("signature", 3, _BYTES, "", False, None),
    ],
    "KernelManifest.KernelBody": [
        ("layers", 1, _MESSAGE, "KernelLayerReference", True, None),
        ("meta", 2, _MESSAGE, "KernelMeta", False, None),
    ],
    "KernelLayerReference": [
        ("target", 1, _ENUM, "KernelLayerRegion", False, None),
        ("encrypted_with_key_id", 2, _U64, "", False, None),
        ("fetch_hash", 3, _BYTES, "", False, None),
    ],
    "KernelMeta": [
        ("version_security_ratchet", 1, _U32, "", False, None),
        ("device_type", 2, _ENUM, "DeviceType", False, None),
        ("version_string", 3, _STRING, "", False, None),
        ("version_number", 4, _U32, "", False, None),
    ],
    "NewKeys": [
        ("signer_id", 1, _U64, "", False, None),
        ("body", 2, _MESSAGE, "NewKeys.Body", False, None),
        ("signature", 3, _BYTES, "", False, None),
    ],
    "NewKeys.Body": [
        ("delete_manifest_signers", 1, _U64, "", True, None),
        ("delete_layer_decrypters", 2, _U64, "", True, None),
        ("add_manifest_signers", 3, _BYTES, "", True, None),
        ("add_layer_decrypters", 4, _MESSAGE, "HpkeCiphertext", True, None),
    ],
    "HpkeCiphertext": [
        ("receiver_id", 1, _U64, "", False, None),
        ("sender_pub", 2, _BYTES, "", False, None),
        ("ciphertext", 3, _BYTES, "", False, None),
    ],
}

ONEOFS: dict[str, list[str]] = {"AppLayerRegion": ["region"]}

ENUMS: dict[str, list[tuple[str, int]]] = {
    "KernelLayerRegion": [("invalid", 0), ("Kernel", 1), ("NSC", 2), ("Boot", 3), ("Upgrader", 4)],
    "DeviceType": [("Invalid", 0), ("Imp201c", 1), ("Imp201f", 2)],
}

PACKAGE = "bundle"


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """Build the FileDescriptorProto of ``bundle.proto`` from the tables above."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="openvisor/bundle/bundle.proto", package=PACKAGE, syntax="proto3"
    )
    message_protos: dict[str, descriptor_pb2.DescriptorProto] = {}

    for name, fields in MESSAGES.items():
        outer, _, inner = name.partition(".")
        if inner:
            message = message_protos[outer].nested_type.add(name=inner)
        else:
            message = proto.message_type.add(name=outer)
        message_protos[name] = message
        for oneof_name in ONEOFS.get(name, []):
            message.oneof_decl.add(name=oneof_name)
        for field_name, number, field_type, type_name, repeated, oneof in fields:
            field = message.field.add(name=field_name, number=number, type=field_type)
            field.label = _FieldProto.LABEL_REPEATED if repeated else _FieldProto.LABEL_OPTIONAL
            if type_name:
                field.type_name = f".{PACKAGE}.{type_name}"
            if oneof is not None:
                field.oneof_index = oneof

    for enum_name, values in ENUMS.items():
        enum = proto.enum_type.add(name=enum_name)
        for value_name, number in values:
            enum.value.add(name=value_name, number=number)
    return proto


_POOL = descriptor_pool.DescriptorPool()
_FILE = _POOL.Add(_file_descriptor())


def message_class(name: str) -> Any:
    """Return the generated message class for a (possibly dotted) message name."""
    descriptor = _POOL.FindMessageTypeByName(f"{PACKAGE}.{name}")
    return message_factory.GetMessageClass(descriptor)


# The message classes are created at run time, so they are typed as Any.
OpaqueManifest: Any = message_class("OpaqueManifest")
AppManifest: Any = message_class("AppManifest")
AppBody: Any = message_class("AppManifest.AppBody")
AppLayerReference: Any = message_class("AppLayerReference")
AppLayerRegion: Any = message_class("AppLayerRegion")
InternalFlashRegion: Any = message_class("InternalFlashRegion")
SpiFlashRegion: Any = message_class("SpiFlashRegion")
DebugPolicy: Any = message_class("DebugPolicy")
CrashPolicy: Any = message_class("CrashPolicy")
UpdatePolicy: Any = message_class("UpdatePolicy")
ConnectivityPolicy: Any = message_class("ConnectivityPolicy")
KernelManifest: Any = message_class("KernelManifest")
NewKeys: Any = message_class("NewKeys")

__all__ = [
    "AppBody",
    "AppLayerReference",
    "AppLayerRegion",
    "AppManifest",
    "ConnectivityPolicy",
    "CrashPolicy",
    "DebugPolicy",
    "InternalFlashRegion",
    "KernelManifest",
    "NewKeys",
    "OpaqueManifest",
    "SpiFlashRegion",
    "UpdatePolicy",
    "message_class",
]
