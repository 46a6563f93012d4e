"""Reads an AuditPipe events topic with Confluent's own Python client and AvroDeserializer.

Usage: confluent_consume.py BROKERS TOPIC REGISTRY_URL COUNT
Prints one JSON object per record: the schema id from the Confluent wire-format header, the
partition, the key, the deserialized event (its timestamp as milliseconds since the epoch) and
the Python type the deserializer gave the timestamp (`datetime` when the schema's logical type
is read). Exits 1 if COUNT records do not arrive in 60 s.
"""
import datetime
import json
import struct
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

brokers, topic, registry_url, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
consumer = Consumer({
    "bootstrap.servers": brokers,
    "group.id": "confluent-check-" + uuid.uuid4().hex,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
})
consumer.subscribe([topic])
seen = 0
deadline = time.time() + 60
while seen < count and time.time() < deadline:
    message = consumer.poll(1.0)
    if message is None or message.error():
        continue
    value = message.value()
    magic, schema_id = struct.unpack(">bI", value[:5])
    event = deserializer(value, SerializationContext(topic, MessageField.VALUE))
    timestamp = event["timestamp"]
    timestamp_type = type(timestamp).__name__
    if isinstance(timestamp, datetime.datetime):
        event["timestamp"] = round(timestamp.timestamp() * 1000)
    print(json.dumps({
        "timestamp_type": timestamp_type,
        "magic": magic,
        "schema_id": schema_id,
        "partition": message.partition(),
        "key": message.key().decode("utf-8"),
        "event": event,
    }, sort_keys=True))
    seen += 1
consumer.close()
sys.exit(0 if seen == count else 1)
