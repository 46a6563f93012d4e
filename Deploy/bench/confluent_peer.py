#!/usr/bin/env python3
"""The peer of `auditpipe-tools bench ingest`: Confluent's Python client doing AuditPipe's ingest work.

For each event: the same field rules as AuditPipe's EventValidator (required ids, byte limits,
no control characters, plausible timestamp, metadata limits), then Confluent's `AvroSerializer`
with the schema registered for `<topic>-value` in the registry AuditPipe serves (Confluent wire
format, no auto-registration), then `Producer.produce` with acks=all and enable.idempotence=true,
linger.ms=5 and lz4 like AuditPipe's producer, key = tenant_id, header event_id. An event counts
as acknowledged when its delivery report arrives without error.

Modes:
  rate  open loop at --rate events/s for --duration s; latency = produce() call -> delivery report.
  max   as fast as possible for --duration s with at most --window events unacknowledged.

The events are the templates in --events (a JSON array written by `auditpipe-tools bench ingest`),
cycled, each with a fresh UUID event_id. Prints one JSON object on stdout; progress on stderr.
"""

import argparse
import json
import math
import sys
import time
import unicodedata
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

MAX_ID = 128
MAX_ACTOR = 256
MAX_RESOURCE = 1024
MAX_META_ENTRIES = 64
MAX_META_KEY = 128
MAX_META_VALUE = 4096
MAX_FUTURE_SKEW_MS = 24 * 3600 * 1000
MIN_TIMESTAMP_MS = 946_684_800_000
MAX_ENCODED = 64 * 1024


def has_control(text):
    return any(unicodedata.category(c) == "Cc" for c in text)


def violations(event, now_ms):
    """The rules of AuditPipe's EventValidator, in the same order."""
    found = []

    def text(field, value, limit):
        size = len(value.encode("utf-8"))
        if size == 0:
            found.append((field, "required"))
            return
        if size > limit:
            found.append((field, "max_length"))
        if has_control(value):
            found.append((field, "control_characters"))

    text("event_id", event["event_id"], MAX_ID)
    text("tenant_id", event["tenant_id"], MAX_ID)
    text("actor_id", event["actor_id"], MAX_ACTOR)
    text("event_type", event["event_type"], MAX_ID)
    text("resource", event["resource"], MAX_RESOURCE)
    text("action", event["action"], MAX_ID)
    ts = event["timestamp"]
    if ts < MIN_TIMESTAMP_MS:
        found.append(("timestamp_ms", "too_old"))
    elif ts > now_ms + MAX_FUTURE_SKEW_MS:
        found.append(("timestamp_ms", "not_in_future"))
    metadata = event["metadata"]
    if len(metadata) > MAX_META_ENTRIES:
        found.append(("metadata", "max_entries"))
    for key in sorted(metadata):
        value = metadata[key]
        if not key:
            found.append(("metadata", "required"))
        elif len(key.encode("utf-8")) > MAX_META_KEY:
            found.append(("metadata[%s]" % key[:64], "max_length"))
        if len(value.encode("utf-8")) > MAX_META_VALUE:
            found.append(("metadata[%s]" % key[:64], "max_length"))
        if has_control(key):
            found.append(("metadata[%s]" % key[:64], "control_characters"))
    return found


def percentile(sorted_values, p):
    """Nearest rank, like the Swift side: rank = ceil(p/100 * n), at least 1."""
    n = len(sorted_values)
    exact = p / 100 * n
    rank = math.ceil(exact - exact * 1e-12)  # 99.9 / 100 * 1000 must stay rank 999
    rank = int(min(max(rank, 1), n))
    return sorted_values[rank - 1]


def summary(latencies):
    if not latencies:
        return None
    latencies.sort()
    return {
        "count": len(latencies),
        "min": latencies[0],
        "p50": percentile(latencies, 50),
        "p90": percentile(latencies, 90),
        "p99": percentile(latencies, 99),
        "p999": percentile(latencies, 99.9),
        "max": latencies[-1],
        "mean": sum(latencies) / len(latencies),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--registry-url", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--events", required=True, help="JSON array of event templates")
    parser.add_argument("--mode", choices=["rate", "max"], required=True)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--label", default="confluent-python")
    args = parser.parse_args()

    with open(args.events) as f:
        templates = json.load(f)
    registry = SchemaRegistryClient({"url": args.registry_url})
    latest = registry.get_latest_version(args.subject)
    serializer = AvroSerializer(
        registry,
        latest.schema.schema_str,
        # The subject is the server's (--subject), whatever topic the peer produces to.
        conf={
            "auto.register.schemas": False,
            "use.latest.version": True,
            "subject.name.strategy": lambda ctx, record_name: args.subject,
        },
    )
    ctx = SerializationContext(args.topic, MessageField.VALUE)
    producer = Producer({
        "bootstrap.servers": args.brokers,
        "client.id": "auditpipe-bench-confluent-peer",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.codec": "lz4",
        "max.in.flight.requests.per.connection": 5,
        "queue.buffering.max.messages": 100000,
    })
    # Warm the connections and the registry cache (not measured).
    warm = dict(templates[0])
    warm["event_id"] = str(uuid.uuid4())
    producer.produce(args.topic, key=warm["tenant_id"], value=serializer(warm, ctx), headers=[("event_id", warm["event_id"].encode())])
    producer.flush(30)

    state = {"succeeded": 0, "failed": 0, "first_error": None, "outstanding": 0}
    latencies = []
    record_latency = args.mode == "rate"
    clock = time.perf_counter_ns

    def on_delivery(err, msg, sent_at):
        state["outstanding"] -= 1
        if err is not None:
            state["failed"] += 1
            if state["first_error"] is None:
                state["first_error"] = str(err)
            return
        state["succeeded"] += 1
        if record_latency:
            latencies.append(clock() - sent_at)

    sent = 0
    invalid = 0
    max_lag = 0

    def send_one(index):
        nonlocal sent, invalid
        event = dict(templates[index % len(templates)])
        event["event_id"] = str(uuid.uuid4())
        sent += 1
        sent_at = clock()
        now_ms = time.time_ns() // 1_000_000
        if violations(event, now_ms):
            invalid += 1
            state["failed"] += 1
            return
        value = serializer(event, ctx)
        if len(value) - 5 > MAX_ENCODED:
            invalid += 1
            state["failed"] += 1
            return
        state["outstanding"] += 1
        while True:
            try:
                producer.produce(
                    args.topic, key=event["tenant_id"], value=value,
                    headers=[("event_id", event["event_id"].encode())],
                    on_delivery=lambda err, msg, t=sent_at: on_delivery(err, msg, t),
                )
                break
            except BufferError:
                producer.poll(0.001)

    start = clock()
    duration_ns = int(args.duration * 1e9)
    if args.mode == "rate":
        total = int(args.rate * args.duration + 1e-9)
        interval = 1e9 / args.rate
        index = 0
        while index < total:
            elapsed = clock() - start
            due = min(total, int(elapsed / interval) + 1)
            while index < due:
                lag = clock() - start - int(index * interval)
                if lag > max_lag:
                    max_lag = lag
                send_one(index)
                index += 1
            producer.poll(0)
            if index < total:
                wait = (start + index * interval - clock()) / 1e9
                if wait > 0:
                    producer.poll(max(wait, 0.0002))
    else:
        index = 0
        while clock() - start < duration_ns:
            if state["outstanding"] >= args.window:
                producer.poll(0.0005)
                continue
            send_one(index)
            index += 1
            if index % 64 == 0:
                producer.poll(0)
    remaining = producer.flush(60)
    elapsed = (clock() - start) / 1e9
    result = {
        "label": args.label,
        "mode": args.mode,
        "sent": sent,
        "succeeded": state["succeeded"],
        "failed": state["failed"] + remaining,
        "invalid": invalid,
        "elapsed_s": elapsed,
        "max_lag_ns": max_lag,
        "latency_ns": summary(latencies),
        "first_error": state["first_error"],
        "schema_id": latest.schema_id,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
