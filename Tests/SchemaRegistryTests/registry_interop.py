#!/usr/bin/env python3
"""Interop check of auditpipe's served schema registry with Confluent's own Python client.

Usage: registry_interop.py REGISTRY_URL AVRO_ORACLE_DIR

Drives the registry at REGISTRY_URL with confluent_kafka.schema_registry.SchemaRegistryClient,
AvroSerializer and AvroDeserializer, and compares the registry's compatibility verdicts with
Apache's avro.compatibility on the corpus of schema pairs in avro_oracle.py (AvroCodecTests).
Prints one JSON object; every check that fails is listed in "failures" (empty when all pass).
"""
import json
import sys

url, oracle_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, oracle_dir)

import avro.compatibility  # noqa: E402
import avro.schema  # noqa: E402
import avro_oracle  # noqa: E402
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.error import SchemaRegistryError  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

failures = []
checks = 0


def check(condition, what):
    global checks
    checks += 1
    if not condition:
        failures.append(what)


def fresh():
    # A new client each time so its cache never answers for the server.
    return SchemaRegistryClient({"url": url})


c = fresh()
v1 = json.dumps(avro_oracle.AUDIT_EVENT)
v2_nodefault = json.dumps({**avro_oracle.AUDIT_EVENT, "fields": avro_oracle.AUDIT_EVENT["fields"] + [{"name": "region", "type": "string"}]})
v2_default = json.dumps({**avro_oracle.AUDIT_EVENT, "fields": avro_oracle.AUDIT_EVENT["fields"] + [{"name": "region", "type": "string", "default": "eu"}]})

# --- register and read back ------------------------------------------------------------------
id1 = c.register_schema("interop-value", Schema(v1, "AVRO"))
check(isinstance(id1, int) and id1 > 0, f"register returned id {id1!r}")
check(fresh().register_schema("interop-value", Schema(v1, "AVRO")) == id1, "re-registering returns the same id")
check(fresh().register_schema("interop-copy-value", Schema(v1, "AVRO")) == id1, "same schema under another subject shares the id")
latest = fresh().get_latest_version("interop-value")
check(latest.schema_id == id1 and latest.version == 1 and latest.subject == "interop-value", f"get_latest_version: {latest}")
check(json.loads(latest.schema.schema_str) == avro_oracle.AUDIT_EVENT, "latest schema text")
by_id = fresh().get_schema(id1)
check(json.loads(by_id.schema_str) == avro_oracle.AUDIT_EVENT, "get_schema(id) text")
check(fresh().get_version("interop-value", 1).schema_id == id1, "get_version(1)")
check(fresh().get_versions("interop-value") == [1], "get_versions")
check("interop-value" in fresh().get_subjects(), "get_subjects")
found = fresh().lookup_schema("interop-value", Schema(v1, "AVRO"))
check(found.schema_id == id1 and found.version == 1, f"lookup_schema: {found}")
check(fresh().get_schema_types() == ["AVRO"], "get_schema_types")
check(sorted(fresh().get_subjects_by_schema_id(id1)) == ["interop-copy-value", "interop-value"], "get_subjects_by_schema_id")

# --- config and compatibility ----------------------------------------------------------------
check(fresh().get_compatibility() == "BACKWARD", "default global level is BACKWARD")
fresh().set_compatibility("interop-value", "FULL")
check(fresh().get_compatibility("interop-value") == "FULL", "subject level FULL")
fresh().set_compatibility("interop-value", "BACKWARD")

# The seed's lesson, with Confluent's real semantics: a field added without a default breaks
# BACKWARD (the new schema cannot read old data) and is fine for FORWARD.
check(fresh().test_compatibility("interop-value", Schema(v2_nodefault, "AVRO")) is False, "added without default: BACKWARD says incompatible")
check(fresh().test_compatibility("interop-value", Schema(v2_default, "AVRO")) is True, "added with default: BACKWARD compatible")
try:
    fresh().register_schema("interop-value", Schema(v2_nodefault, "AVRO"))
    failures.append("registering an incompatible schema did not fail")
except SchemaRegistryError as e:
    check(e.http_status_code == 409 and e.error_code == 409, f"incompatible register: {e.http_status_code} {e.error_code}")
fresh().set_compatibility("interop-value", "FORWARD")
check(fresh().test_compatibility("interop-value", Schema(v2_nodefault, "AVRO")) is True, "added without default: FORWARD compatible")
fresh().set_compatibility("interop-value", "BACKWARD")
try:
    fresh().get_latest_version("no-such-subject")
    failures.append("unknown subject did not fail")
except SchemaRegistryError as e:
    check(e.http_status_code == 404 and e.error_code == 40401, f"unknown subject: {e.http_status_code} {e.error_code}")

# --- AvroSerializer / AvroDeserializer -------------------------------------------------------
record = {"event_id": "e-1", "tenant_id": "t-1", "actor_id": "a-1", "event_type": "login", "resource": "app",
          "action": "read", "timestamp": 1700000000000, "metadata": {"ip": "10.0.0.1"}}
ctx = SerializationContext("interop", MessageField.VALUE)
serializer = AvroSerializer(fresh(), v1, conf={"auto.register.schemas": True})
framed = serializer(record, ctx)
check(framed[0] == 0 and int.from_bytes(framed[1:5], "big") == id1, f"serializer framing: {framed[:5].hex()}")
strict = AvroSerializer(fresh(), v1, conf={"auto.register.schemas": False, "use.latest.version": False})
check(strict(record, ctx) == framed, "serializer with lookup (no auto-register) gives the same bytes")
decoded = AvroDeserializer(fresh())(framed, ctx)
decoded["timestamp"] = int(decoded["timestamp"].timestamp() * 1000) if hasattr(decoded["timestamp"], "timestamp") else decoded["timestamp"]
check(decoded == record, f"deserializer round trip: {decoded}")

# --- compatibility verdicts vs avro.compatibility on the oracle corpus ------------------------
pairs = avro_oracle.compatibility_pairs()
mismatches = []
for i, (name, reader, writer) in enumerate(pairs):
    expected = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    ).compatibility is avro.compatibility.SchemaCompatibilityType.compatible
    # BACKWARD: the new schema (reader) reads data of the registered one (writer).
    backward_subject = f"pair-{i}-backward-value"
    fresh().register_schema(backward_subject, Schema(json.dumps(writer), "AVRO"))
    fresh().set_compatibility(backward_subject, "BACKWARD")
    backward = fresh().test_compatibility(backward_subject, Schema(json.dumps(reader), "AVRO"))
    # FORWARD: the registered schema (reader) reads data of the new one (writer).
    forward_subject = f"pair-{i}-forward-value"
    fresh().register_schema(forward_subject, Schema(json.dumps(reader), "AVRO"))
    fresh().set_compatibility(forward_subject, "FORWARD")
    forward = fresh().test_compatibility(forward_subject, Schema(json.dumps(writer), "AVRO"))
    if backward != expected or forward != expected:
        mismatches.append({"name": name, "avro": expected, "backward": backward, "forward": forward})
check(not mismatches, f"verdicts differ from avro.compatibility: {mismatches}")

# --- delete ----------------------------------------------------------------------------------
check(fresh().delete_version("interop-copy-value", 1) == 1, "delete_version")
check(fresh().delete_subject("interop-copy-value", permanent=True) == [1], "permanent delete after soft delete")
check("interop-copy-value" not in fresh().get_subjects(), "subject gone")

print(json.dumps({"checks": checks, "pairs": len(pairs),
                  "incompatible_pairs": sum(1 for n, r, w in pairs if not avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(avro.schema.parse(json.dumps(r)), avro.schema.parse(json.dumps(w))).compatibility is avro.compatibility.SchemaCompatibilityType.compatible),
                  "failures": failures}))
