#!/usr/bin/env python3
"""Independent Avro oracle for AvroCodecTests: Apache `avro` and `fastavro` from PyPI.

Usage: avro_oracle.py COMMAND [SEED]   (requests, when any, on stdin as JSON; answers on stdout)

  corpus SEED       hand-written + random (schema, value) pairs, encoded by fastavro AND avro
  decode            {"cases": [{"schema": str, "hex": str}]} -> each decoded by fastavro and avro
  canonical SEED    schemas with their Parsing Canonical Form, CRC-64-AVRO and SHA-256 (avro lib)
  resolution        (writer, reader, value) cases resolved by fastavro.schemaless_reader
  compatibility     (reader, writer) pairs judged by avro.compatibility

Value notations exchanged with Swift:
  "plain":  null, true/false, integers as JSON integers, floats as {"$f": repr} (also "nan",
            "inf", "-inf"), bytes/fixed as {"$b": hex}, strings/enum symbols as strings, arrays as
            arrays, records and maps as objects. Union branches are not visible.
  "tagged": like plain, but a union value is {"$u": branch_index, "v": value}.

Logical types are removed from the schemas given to the Python libraries (they would turn longs
into datetimes); the binary encoding of a logical type is that of its underlying type.
"""

import copy
import hashlib
import io
import json
import math
import random
import struct
import sys

import avro.compatibility
import avro.io
import avro.schema
import fastavro

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]


def strip_logical(schema):
    if isinstance(schema, dict):
        return {k: strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical(s) for s in schema]
    return schema


def to_plain(value):
    if value is None or isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return {"$f": "nan"}
        if math.isinf(value):
            return {"$f": "inf" if value > 0 else "-inf"}
        return {"$f": repr(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"$b": bytes(value).hex()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple):  # (name, value) for named unions, not used here
        return to_plain(value[1])
    raise TypeError(f"cannot convert {type(value)}")


def tagged_to_python(tagged):
    if isinstance(tagged, dict):
        if "$u" in tagged:
            return tagged_to_python(tagged["v"])
        if "$b" in tagged:
            return bytes.fromhex(tagged["$b"])
        if "$f" in tagged:
            return float(tagged["$f"])
        return {k: tagged_to_python(v) for k, v in tagged.items()}
    if isinstance(tagged, list):
        return [tagged_to_python(v) for v in tagged]
    return tagged


def fastavro_encode(schema, value):
    parsed = fastavro.parse_schema(copy.deepcopy(strip_logical(schema)))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, value)
    return buf.getvalue()


def avro_encode(schema, value):
    parsed = avro.schema.parse(json.dumps(strip_logical(schema)))
    buf = io.BytesIO()
    avro.io.DatumWriter(parsed).write(value, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def fastavro_decode(schema, data, reader=None):
    parsed = fastavro.parse_schema(copy.deepcopy(strip_logical(schema)))
    parsed_reader = None if reader is None else fastavro.parse_schema(copy.deepcopy(strip_logical(reader)))
    buf = io.BytesIO(data)
    value = fastavro.schemaless_reader(buf, parsed, parsed_reader)
    return value, buf.tell()


def avro_decode(schema, data):
    parsed = avro.schema.parse(json.dumps(strip_logical(schema)))
    buf = io.BytesIO(data)
    value = avro.io.DatumReader(parsed).read(avro.io.BinaryDecoder(buf))
    return value, buf.tell()


# ---------------------------------------------------------------------------------------------
# Hand-written corpus


AUDIT_EVENT = {
    "type": "record", "name": "AuditEvent", "namespace": "com.worldtech.audit",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "tenant_id", "type": "string"},
        {"name": "actor_id", "type": "string"},
        {"name": "event_type", "type": "string"},
        {"name": "resource", "type": "string"},
        {"name": "action", "type": "string"},
        {"name": "timestamp", "type": "long", "logicalType": "timestamp-millis"},
        {"name": "metadata", "type": {"type": "map", "values": "string"}, "default": {}},
    ],
}

LINKED_LIST = {
    "type": "record", "name": "Node", "namespace": "test.list",
    "fields": [
        {"name": "value", "type": "long"},
        {"name": "next", "type": ["null", "Node"], "default": None},
    ],
}


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def hand_corpus():
    """(name, schema, tagged value) triples."""
    cases = []

    def add(name, schema, *values):
        for i, v in enumerate(values):
            cases.append((f"{name}#{i}", schema, v))

    add("null", "null", None)
    add("boolean", "boolean", True, False)
    add("int", "int", 0, 1, -1, 63, -64, 64, -65, 2**31 - 1, -(2**31))
    add("long", "long", 0, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1, 1700000000000)
    add("float", "float", {"$f": "0.0"}, {"$f": "-0.0"}, {"$f": repr(f32(3.14159))}, {"$f": "inf"}, {"$f": "-inf"}, {"$f": "nan"},
        {"$f": repr(f32(1e-45))}, {"$f": repr(f32(3.4028234663852886e38))})
    add("double", "double", {"$f": "0.0"}, {"$f": "-0.0"}, {"$f": "2.718281828459045"}, {"$f": "5e-324"},
        {"$f": "1.7976931348623157e+308"}, {"$f": "nan"}, {"$f": "-inf"})
    add("bytes", "bytes", {"$b": ""}, {"$b": "00ff10"}, {"$b": "ab" * 300})
    add("string", "string", "", "hello", "héllo wörld", "日本語テキスト", "emoji \U0001F600 and \u0000 nul", "x" * 1000)
    add("fixed", {"type": "fixed", "name": "MD5", "size": 16}, {"$b": "00112233445566778899aabbccddeeff"})
    add("fixed0", {"type": "fixed", "name": "Empty", "size": 0}, {"$b": ""})
    add("enum", {"type": "enum", "name": "Suit", "symbols": ["SPADES", "HEARTS", "DIAMONDS", "CLUBS"]}, "SPADES", "CLUBS")
    add("array", {"type": "array", "items": "int"}, [], [1, 2, 3], list(range(-100, 100)))
    add("array-of-null", {"type": "array", "items": "null"}, [None] * 5)
    add("map", {"type": "map", "values": "long"}, {}, {"a": 1}, {"a": 1, "b": -2, "c": 3, "é": 4})
    add("union", ["null", "string"], {"$u": 0, "v": None}, {"$u": 1, "v": "x"})
    add("union3", ["int", "string", {"type": "array", "items": "double"}],
        {"$u": 0, "v": 7}, {"$u": 1, "v": ""}, {"$u": 2, "v": [{"$f": "1.5"}]})
    add("audit-event", AUDIT_EVENT, {
        "event_id": "0190b6e6-6f3c-7c4e-9a57-2b5f0c1d9e8a", "tenant_id": "tenant-42", "actor_id": "user-7",
        "event_type": "document.read", "resource": "doc/123", "action": "read", "timestamp": 1719835200123,
        "metadata": {"ip": "10.0.0.1", "user_agent": "curl/8.0"},
    }, {
        "event_id": "e", "tenant_id": "t", "actor_id": "a", "event_type": "x", "resource": "r", "action": "a",
        "timestamp": -1, "metadata": {},
    })
    add("linked-list", LINKED_LIST,
        {"value": 1, "next": {"$u": 1, "v": {"value": 2, "next": {"$u": 1, "v": {"value": 3, "next": {"$u": 0, "v": None}}}}}})
    add("nested", {
        "type": "record", "name": "Outer", "namespace": "a.b",
        "fields": [
            {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [
                {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
                {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
            ]}},
            {"name": "again", "type": "Inner"},
            {"name": "kinds", "type": {"type": "array", "items": "a.b.Kind"}},
            {"name": "maybe", "type": ["null", "Hash"]},
            {"name": "nested_map", "type": {"type": "map", "values": {"type": "array", "items": ["null", "long"]}}},
        ],
    }, {
        "inner": {"kind": "B", "hash": {"$b": "01020304"}},
        "again": {"kind": "A", "hash": {"$b": "ffffffff"}},
        "kinds": ["A", "B", "A"],
        "maybe": {"$u": 1, "v": {"$b": "deadbeef"}},
        "nested_map": {"k": [{"$u": 0, "v": None}, {"$u": 1, "v": 5}], "z": []},
    })
    add("logical", {
        "type": "record", "name": "Logical",
        "fields": [
            {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "tsu", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "d", "type": {"type": "int", "logicalType": "date"}},
            {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
            {"name": "tmu", "type": {"type": "long", "logicalType": "time-micros"}},
            {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
            {"name": "price", "type": {"type": "fixed", "name": "Price", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}},
            {"name": "unknown", "type": {"type": "string", "logicalType": "made-up"}},
        ],
    }, {
        "ts": 1719835200123, "tsu": 1719835200123456, "d": 19905, "tm": 3600000, "tmu": 3600000000,
        "id": "123e4567-e89b-12d3-a456-426614174000", "amount": {"$b": "3039"},
        "price": {"$b": "0000000000003039"}, "unknown": "u",
    })
    add("defaults-record", {
        "type": "record", "name": "WithDefaults",
        "fields": [
            {"name": "a", "type": "int", "default": 5},
            {"name": "b", "type": ["null", "string"], "default": None},
            {"name": "c", "type": "bytes", "default": "\u00ff\u0000"},
        ],
    }, {"a": 1, "b": {"$u": 1, "v": "s"}, "c": {"$b": "ff00"}})
    return cases


# ---------------------------------------------------------------------------------------------
# Random schemas and values


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.counter = 0

    def name(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def schema(self, depth=0, named=None):
        """Returns (schema_json, category). named: list of (fullname, schema) defined so far."""
        r = self.rng
        if named is None:
            named = []
        choices = PRIMITIVES + ["fixed", "enum"]
        if depth < 3:
            choices += ["array", "map", "union", "record", "record"]
        if named and r.random() < 0.15:
            return r.choice(named)[0]
        kind = r.choice(choices)
        if kind in PRIMITIVES:
            if kind == "long" and r.random() < 0.2:
                return {"type": "long", "logicalType": "timestamp-millis"}
            return kind
        if kind == "fixed":
            s = {"type": "fixed", "name": self.name("F"), "size": r.randint(0, 20)}
            named.append((s["name"], s))
            return s
        if kind == "enum":
            n = r.randint(1, 6)
            s = {"type": "enum", "name": self.name("E"), "symbols": [f"S{i}" for i in range(n)]}
            named.append((s["name"], s))
            return s
        if kind == "array":
            return {"type": "array", "items": self.schema(depth + 1, named)}
        if kind == "map":
            return {"type": "map", "values": self.schema(depth + 1, named)}
        if kind == "record":
            s = {"type": "record", "name": self.name("R"), "fields": []}
            for i in range(r.randint(0, 5)):
                s["fields"].append({"name": f"f{i}", "type": self.schema(depth + 1, named)})
            named.append((s["name"], s))  # after the fields: no direct self-containment
            return s
        # union: at most one branch per Python-type category so the branch is unambiguous
        categories = {
            "null": ["null"], "boolean": ["boolean"], "intlike": ["int", "long"], "floatlike": ["float", "double"],
            "byteslike": ["bytes", "fixed"], "strlike": ["string", "enum"], "array": ["array"], "dictlike": ["map", "record"],
        }
        picked = r.sample(list(categories), r.randint(1, 4))
        # Python cannot tell these apart (True is an int and a number, 1.0 passes fastavro's int check).
        if "boolean" in picked and ("intlike" in picked or "floatlike" in picked):
            picked.remove("boolean")
        if "floatlike" in picked and "intlike" in picked:
            picked.remove("floatlike")
        if "array" in picked and "byteslike" in picked:  # fastavro takes bytes for an array of ints
            picked.remove("array")
        branches = []
        for cat in picked:
            kind = r.choice(categories[cat])
            if kind in PRIMITIVES:
                branches.append(kind)
            elif kind == "fixed":
                s = {"type": "fixed", "name": self.name("F"), "size": r.randint(1, 8)}
                named.append((s["name"], s))
                branches.append(s)
            elif kind == "enum":
                s = {"type": "enum", "name": self.name("E"), "symbols": ["X", "Y"]}
                named.append((s["name"], s))
                branches.append(s)
            elif kind == "array":
                branches.append({"type": "array", "items": self.schema(depth + 1, named)})
            elif kind == "map":
                branches.append({"type": "map", "values": self.nonunion(depth + 1, named)})
            else:
                s = {"type": "record", "name": self.name("R"), "fields": [{"name": "x", "type": self.nonunion(depth + 1, named)}]}
                named.append((s["name"], s))
                branches.append(s)
        return branches

    def nonunion(self, depth, named):
        while True:
            s = self.schema(depth, named)
            if not isinstance(s, list):
                return s

    def value(self, schema, names, depth=0):
        """A tagged value for the schema."""
        r = self.rng
        if isinstance(schema, str):
            if schema in names:
                return self.value(names[schema], names, depth)
            t = schema
        elif isinstance(schema, list):
            i = r.randrange(len(schema))
            # avoid recursing forever through recursive named types
            return {"$u": i, "v": self.value(schema[i], names, depth + 1)}
        else:
            t = schema["type"]
        if t == "null":
            return None
        if t == "boolean":
            return r.random() < 0.5
        if t == "int":
            return r.choice([0, -1, 1, r.randint(-(2**31), 2**31 - 1), r.randint(-300, 300)])
        if t == "long":
            return r.choice([0, r.randint(-(2**63), 2**63 - 1), r.randint(-(2**40), 2**40), r.randint(-300, 300)])
        if t == "float":
            return {"$f": repr(f32(r.uniform(-1e6, 1e6)))}
        if t == "double":
            return {"$f": repr(r.choice([r.uniform(-1e300, 1e300), r.random(), 0.0]))}
        if t == "bytes":
            return {"$b": bytes(r.randrange(256) for _ in range(r.randint(0, 20))).hex()}
        if t == "string":
            return self.string()
        if t == "fixed":
            names[schema["name"]] = schema
            return {"$b": bytes(r.randrange(256) for _ in range(schema["size"])).hex()}
        if t == "enum":
            names[schema["name"]] = schema
            return r.choice(schema["symbols"])
        if t == "array":
            n = r.randint(0, 4 if depth < 4 else 0)
            return [self.value(schema["items"], names, depth + 1) for _ in range(n)]
        if t == "map":
            n = r.randint(0, 4 if depth < 4 else 0)
            keys = sorted({self.string() for _ in range(n)}, key=lambda k: k.encode("utf-8"))
            return {k: self.value(schema["values"], names, depth + 1) for k in keys}
        if t == "record":
            names[schema["name"]] = schema
            return {f["name"]: self.value(f["type"], names, depth + 1) for f in schema["fields"]}
        raise ValueError(t)

    def string(self):
        r = self.rng
        alphabet = "abcXYZ019 _-\u00e9\u00df\u4e2d\u6587\U0001F600\U00010348\n\t\"\\"
        return "".join(r.choice(alphabet) for _ in range(r.randint(0, 12)))


def register_names(schema, names):
    if isinstance(schema, list):
        for s in schema:
            register_names(s, names)
    elif isinstance(schema, dict):
        t = schema["type"]
        if t in ("record", "enum", "fixed"):
            names[schema["name"]] = schema
        if t == "record":
            for f in schema["fields"]:
                register_names(f["type"], names)
        elif t == "array":
            register_names(schema["items"], names)
        elif t == "map":
            register_names(schema["values"], names)


def cmd_corpus(seed):
    cases = list(hand_corpus())
    gen = Gen(seed)
    for i in range(150):
        schema = gen.schema()
        names = {}
        register_names(schema, names)
        for j in range(3):
            cases.append((f"random-{seed}-{i}#{j}", schema, gen.value(schema, names)))
    out = []
    for name, schema, tagged in cases:
        value = tagged_to_python(tagged)
        fa = fastavro_encode(schema, copy.deepcopy(value))
        ap = avro_encode(schema, copy.deepcopy(value))
        decoded, used = fastavro_decode(schema, fa)
        out.append({
            "name": name, "schema": json.dumps(schema), "value": tagged,
            "fastavro_hex": fa.hex(), "avro_hex": ap.hex(),
            "roundtrip_ok": used == len(fa) and to_plain(decoded) == to_plain(value),
        })
    json.dump({"cases": out}, sys.stdout)


def cmd_decode(request):
    results = []
    for case in request["cases"]:
        schema = json.loads(case["schema"])
        data = bytes.fromhex(case["hex"])
        entry = {}
        for lib, decode in (("fastavro", fastavro_decode), ("avro", avro_decode)):
            try:
                value, used = decode(schema, data)
                entry[lib] = {"ok": True, "value": to_plain(value), "used": used}
            except Exception as e:  # noqa: BLE001 - report any library error to the test
                entry[lib] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        results.append(entry)
    json.dump({"results": results}, sys.stdout)


def cmd_canonical(seed):
    schemas = [json.dumps(s) for _, s, _ in hand_corpus()]
    schemas += [
        json.dumps({"type": "record", "name": "X", "namespace": "ns", "doc": "ignored", "aliases": ["Y"],
                    "fields": [{"name": "a", "type": {"type": "int"}, "default": 1, "doc": "d", "order": "descending"},
                               {"name": "b", "type": {"type": "enum", "name": "E", "namespace": "other", "symbols": ["P", "Q"], "default": "P"}},
                               {"name": "c", "type": "other.E"},
                               {"name": "d", "type": {"type": "fixed", "name": "F", "size": 10}}]}),
        '{"type": "map", "values": {"type": "array", "items": "string"}}',
        '"int"', '{"type": "string"}', '["null", {"type": "long", "logicalType": "timestamp-micros"}]',
        json.dumps({"type": "record", "name": "a.b.C", "namespace": "ignored.ns", "fields": [{"name": "s", "type": {"type": "record", "name": "D", "fields": []}}]}),
        json.dumps({"type": "record", "name": "C", "namespace": "", "fields": [{"name": "s", "type": "string"}]}),
        json.dumps({"type": "enum", "name": "E2", "doc": "caf\u00e9 \"quoted\"", "symbols": ["A"]}),
    ]
    gen = Gen(seed)
    schemas += [json.dumps(gen.schema()) for _ in range(100)]
    out = []
    for text in schemas:
        parsed = avro.schema.parse(text)
        fa_canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(json.loads(text)))
        out.append({
            "schema": text,
            "canonical": parsed.canonical_form,
            "rabin_hex": parsed.fingerprint().hex(),
            "sha256_hex": parsed.fingerprint("sha256").hex(),
            "fastavro_canonical": fa_canonical,
            "fastavro_rabin_hex": fastavro.schema.fingerprint(fa_canonical, "CRC-64-AVRO"),
            "fastavro_sha256_hex": fastavro.schema.fingerprint(fa_canonical, "sha256"),
        })
    json.dump({"cases": out}, sys.stdout)


# ---------------------------------------------------------------------------------------------
# Schema resolution


def rec(name, *fields, **extra):
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def fld(name, type_, **extra):
    return {"name": name, "type": type_, **extra}


def resolution_cases():
    """(name, writer, reader, tagged writer value)."""
    return [
        ("same", "int", "int", 5),
        ("int->long", "int", "long", -7),
        # (16777217 is not used: Python keeps it as a double, a float32 reader rounds it)
        ("int->float", "int", "float", 1234567),
        ("int->double", "int", "double", 2**31 - 1),
        ("long->float", "long", "float", 2**53 + 1),
        ("long->double", "long", "double", -(2**62)),
        ("float->double", "float", "double", {"$f": repr(f32(0.1))}),
        ("string->bytes", "string", "bytes", "h\u00e9"),
        ("bytes->string", "bytes", "string", {"$b": "68c3a9"}),
        ("int-x-string", "int", "string", 1),
        ("reader-default", rec("R", fld("a", "int")), rec("R", fld("a", "int"), fld("region", "string", default="eu")), {"a": 1}),
        ("reader-default-map", rec("R", fld("a", "int")), rec("R", fld("a", "int"), fld("m", {"type": "map", "values": "string"}, default={"k": "v"})), {"a": 1}),
        ("reader-default-union", rec("R", fld("a", "int")), rec("R", fld("a", "int"), fld("u", ["null", "long"], default=None)), {"a": 1}),
        ("reader-default-record", rec("R", fld("a", "int")),
         rec("R", fld("a", "int"), fld("sub", rec("Sub", fld("x", "int"), fld("y", "string", default="d")), default={"x": 3, "y": "given"})), {"a": 1}),
        ("reader-no-default", rec("R", fld("a", "int")), rec("R", fld("a", "int"), fld("region", "string")), {"a": 1}),
        ("writer-extra-skipped", rec("R", fld("a", "int"), fld("skip_me", {"type": "map", "values": {"type": "array", "items": "string"}}), fld("b", "string")),
         rec("R", fld("b", "string"), fld("a", "long")), {"a": 9, "skip_me": {"k": ["x", "y"], "l": []}, "b": "bee"}),
        ("field-reorder", rec("R", fld("a", "int"), fld("b", "string")), rec("R", fld("b", "string"), fld("a", "int")), {"a": 1, "b": "x"}),
        ("field-alias", rec("R", fld("old_name", "string")), rec("R", fld("new_name", "string", aliases=["old_name"])), {"old_name": "v"}),
        ("record-alias", rec("Old", fld("a", "int")), rec("New", fld("a", "int"), aliases=["Old"]), {"a": 4}),
        ("record-name-mismatch", rec("A", fld("a", "int")), rec("B", fld("a", "int")), {"a": 4}),
        ("enum-same", {"type": "enum", "name": "E", "symbols": ["A", "B"]}, {"type": "enum", "name": "E", "symbols": ["B", "A", "C"]}, "B"),
        ("enum-default", {"type": "enum", "name": "E", "symbols": ["A", "B", "NEW"]}, {"type": "enum", "name": "E", "symbols": ["A", "B", "UNKNOWN"], "default": "UNKNOWN"}, "NEW"),
        ("enum-missing", {"type": "enum", "name": "E", "symbols": ["A", "NEW"]}, {"type": "enum", "name": "E", "symbols": ["A"]}, "NEW"),
        ("enum-missing-unused", {"type": "enum", "name": "E", "symbols": ["A", "NEW"]}, {"type": "enum", "name": "E", "symbols": ["A"]}, "A"),
        ("fixed-same", {"type": "fixed", "name": "F", "size": 2}, {"type": "fixed", "name": "F", "size": 2}, {"$b": "abcd"}),
        ("fixed-size", {"type": "fixed", "name": "F", "size": 2}, {"type": "fixed", "name": "F", "size": 3}, {"$b": "abcd"}),
        ("array-promote", {"type": "array", "items": "int"}, {"type": "array", "items": "double"}, [1, 2, 3]),
        ("map-promote", {"type": "map", "values": "int"}, {"type": "map", "values": "long"}, {"a": 1, "b": 2}),
        ("writer-union->non-union", ["null", "int"], "long", {"$u": 1, "v": 3}),
        ("writer-union->non-union-bad-branch", ["null", "int"], "long", {"$u": 0, "v": None}),
        ("non-union->reader-union", "int", ["null", "long"], 8),
        ("non-union->reader-union-exact", "string", ["null", "string"], "s"),
        ("non-union->reader-union-none", "boolean", ["null", "string"], True),
        ("union->union", ["null", "int", "string"], ["string", "null", "double"], {"$u": 1, "v": 6}),
        ("union->union-missing", ["null", "int", "boolean"], ["null", "int"], {"$u": 2, "v": False}),
        ("union-record", ["null", rec("P", fld("a", "int"))], ["null", rec("P", fld("a", "long"), fld("b", "string", default="x"))], {"$u": 1, "v": {"a": 2}}),
        ("nested-record-evolution",
         rec("Outer", fld("inner", rec("Inner", fld("x", "int"), fld("gone", "string"))), fld("list", {"type": "array", "items": "Inner"})),
         rec("Outer", fld("inner", rec("Inner", fld("x", "double"), fld("added", ["null", "int"], default=None))), fld("list", {"type": "array", "items": "Inner"})),
         {"inner": {"x": 1, "gone": "g"}, "list": [{"x": 2, "gone": "h"}, {"x": 3, "gone": ""}]}),
        ("recursive", LINKED_LIST,
         rec("Node", fld("value", "double"), fld("next", ["null", "Node"], default=None), fld("tag", "string", default="t"), namespace="test.list"),
         {"value": 1, "next": {"$u": 1, "v": {"value": 2, "next": {"$u": 0, "v": None}}}}),
        ("audit-event-v2", AUDIT_EVENT,
         {**AUDIT_EVENT, "fields": AUDIT_EVENT["fields"] + [fld("region", "string", default="eu-west-1"), fld("severity", ["null", "int"], default=None)]},
         {"event_id": "e", "tenant_id": "t", "actor_id": "a", "event_type": "x", "resource": "r", "action": "a", "timestamp": 1, "metadata": {"k": "v"}}),
        ("audit-event-v0-reads-v1", {**AUDIT_EVENT, "fields": AUDIT_EVENT["fields"] + [fld("region", "string", default="eu-west-1")]}, AUDIT_EVENT,
         {"event_id": "e", "tenant_id": "t", "actor_id": "a", "event_type": "x", "resource": "r", "action": "a", "timestamp": 1, "metadata": {}, "region": "us"}),
    ]


def cmd_resolution():
    out = []
    for name, writer, reader, tagged in resolution_cases():
        data = fastavro_encode(writer, tagged_to_python(tagged))
        entry = {"name": name, "writer": json.dumps(writer), "reader": json.dumps(reader), "hex": data.hex()}
        try:
            value, used = fastavro_decode(writer, data, reader)
            entry.update(ok=True, value=to_plain(value), used=used)
        except Exception as e:  # noqa: BLE001
            entry.update(ok=False, error=f"{type(e).__name__}: {e}")
        out.append(entry)
    json.dump({"cases": out}, sys.stdout)


# ---------------------------------------------------------------------------------------------
# Compatibility


def compatibility_pairs():
    """(name, reader, writer)."""
    e_ab = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
    e_abc = {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}
    v1 = AUDIT_EVENT
    v2_default = {**v1, "fields": v1["fields"] + [fld("region", "string", default="eu")]}
    v2_nodefault = {**v1, "fields": v1["fields"] + [fld("region", "string")]}
    v1_minus = {**v1, "fields": [f for f in v1["fields"] if f["name"] != "metadata"]}
    v1_minus_nodef = {**v1, "fields": [f for f in v1["fields"] if f["name"] != "actor_id"]}
    pairs = []
    prims = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
    for r in prims:
        for w in prims:
            pairs.append((f"prim {r}<-{w}", r, w))
    pairs += [
        ("field added without default: old reads new (FORWARD) is compatible", v1, v2_nodefault),
        ("field added without default: new reads old (BACKWARD) breaks", v2_nodefault, v1),
        ("new field with default, new reads old", v2_default, v1),
        ("new field with default, old reads new", v1, v2_default),
        ("removed field that had default: old reads new", v1, v1_minus),
        ("removed field without default: old reads new", v1, v1_minus_nodef),
        ("removed field: new reads old", v1_minus_nodef, v1),
        ("enum reader superset", e_abc, e_ab),
        ("enum reader subset", e_ab, e_abc),
        ("enum reader subset with default", {**e_ab, "default": "A"}, e_abc),
        ("enum name mismatch", {**e_ab, "name": "F"}, e_ab),
        ("enum alias", {**e_ab, "name": "F", "aliases": ["E"]}, e_ab),
        ("fixed same", {"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "size": 4}),
        ("fixed size", {"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "size": 5}),
        ("fixed name", {"type": "fixed", "name": "G", "size": 4}, {"type": "fixed", "name": "F", "size": 4}),
        ("array promote", {"type": "array", "items": "long"}, {"type": "array", "items": "int"}),
        ("array demote", {"type": "array", "items": "int"}, {"type": "array", "items": "long"}),
        ("map promote", {"type": "map", "values": "double"}, {"type": "map", "values": "float"}),
        ("map vs array", {"type": "map", "values": "int"}, {"type": "array", "items": "int"}),
        ("union superset reads subset", ["null", "int", "string"], ["null", "int"]),
        ("union subset reads superset", ["null", "int"], ["null", "int", "string"]),
        ("union reads non-union", ["null", "string"], "string"),
        ("union reads promotable", ["null", "long"], "int"),
        ("union lacks type", ["null", "string"], "int"),
        ("non-union reads union", "string", ["null", "string"]),
        ("non-union reads single-branch union", "long", ["int"]),
        ("optional field added with null default", rec("R", fld("a", "int"), fld("b", ["null", "string"], default=None)), rec("R", fld("a", "int"))),
        ("field type change int->long new reads old", rec("R", fld("a", "long")), rec("R", fld("a", "int"))),
        ("field type change int->long old reads new", rec("R", fld("a", "int")), rec("R", fld("a", "long"))),
        ("field rename with alias", rec("R", fld("b", "int", aliases=["a"])), rec("R", fld("a", "int"))),
        ("field rename without alias", rec("R", fld("b", "int")), rec("R", fld("a", "int"))),
        ("record name mismatch", rec("S", fld("a", "int")), rec("R", fld("a", "int"))),
        ("record namespace differs", rec("R", fld("a", "int"), namespace="x"), rec("R", fld("a", "int"), namespace="y")),
        ("record alias (qualified)", rec("S", fld("a", "int"), aliases=["R"]), rec("R", fld("a", "int"))),
        ("recursive same", LINKED_LIST, LINKED_LIST),
        ("recursive evolved", rec("Node", fld("value", "double"), fld("next", ["null", "Node"], default=None), fld("t", "string", default=""), namespace="test.list"), LINKED_LIST),
        ("recursive broken", rec("Node", fld("value", "string"), fld("next", ["null", "Node"], default=None), namespace="test.list"), LINKED_LIST),
        ("nested record field missing default", rec("O", fld("i", rec("I", fld("x", "int"), fld("y", "int")))), rec("O", fld("i", rec("I", fld("x", "int"))))),
        ("nested record field with default", rec("O", fld("i", rec("I", fld("x", "int"), fld("y", "int", default=0)))), rec("O", fld("i", rec("I", fld("x", "int"))))),
        ("enum field missing with enum default", rec("R", fld("a", "int"), fld("e", {**e_ab, "default": "A"})), rec("R", fld("a", "int"))),
        ("string vs bytes in map", {"type": "map", "values": "bytes"}, {"type": "map", "values": "string"}),
        ("record vs map", rec("R", fld("a", "int")), {"type": "map", "values": "int"}),
        ("union of records", ["null", rec("A", fld("x", "int")), rec("B", fld("y", "string"))], ["null", rec("A", fld("x", "int"))]),
        ("union of records missing", ["null", rec("A", fld("x", "int"))], ["null", rec("A", fld("x", "int")), rec("B", fld("y", "string"))]),
    ]
    return pairs


def cmd_compatibility():
    out = []
    for name, reader, writer in compatibility_pairs():
        r = avro.schema.parse(json.dumps(reader))
        w = avro.schema.parse(json.dumps(writer))
        result = avro.compatibility.ReaderWriterCompatibilityChecker().get_compatibility(r, w)
        out.append({
            "name": name, "reader": json.dumps(reader), "writer": json.dumps(writer),
            "compatible": result.compatibility is avro.compatibility.SchemaCompatibilityType.compatible,
            "kinds": sorted(i.name for i in result.incompatibilities),
            "messages": sorted(result.messages),
        })
    json.dump({"cases": out}, sys.stdout)


def main():
    command = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if command == "corpus":
        cmd_corpus(seed)
    elif command == "decode":
        cmd_decode(json.load(sys.stdin))
    elif command == "canonical":
        cmd_canonical(seed)
    elif command == "resolution":
        cmd_resolution()
    elif command == "compatibility":
        cmd_compatibility()
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
