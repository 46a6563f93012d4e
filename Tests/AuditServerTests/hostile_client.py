"""What a careless or hostile caller sends, through Python grpcio over a real connection.

Usage: hostile_client.py STUB_DIR TARGET TENANT
Runs each check and prints one JSON object with what the caller saw:
- identifiers: IngestBatch of a valid event, a blank tenant and one with U+202E: each event's
  status and violated rules;
- oversize: IngestBatch requests of 20 MiB and 64,000,000 bytes (status code and message), and a
  100,000-event batch of small events (under the size limit);
- streams: 300 concurrent Ingest streams on one channel, one event each: how many durable and
  the status codes of any that failed;
- idle: an Ingest stream that sends nothing: its status code, message and how long it lived.
"""
import json
import sys
import threading
import time
import uuid

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from auditpipe.v1 import audit_pb2, audit_pb2_grpc  # noqa: E402

target, tenant = sys.argv[2], sys.argv[3]
channel = grpc.insecure_channel(target)
stub = audit_pb2_grpc.AuditServiceStub(channel)
now = int(time.time() * 1000)
report = {}


def event(tenant_id=tenant, metadata=None):
    return audit_pb2.AuditEvent(
        event_id=f"hostile-{uuid.uuid4()}", tenant_id=tenant_id, actor_id="mallory", event_type="auth",
        resource="session", action="login", timestamp_ms=now - 1000, metadata=metadata or {},
    )


def status_of(call):
    try:
        call()
        return {"code": "OK", "message": ""}
    except grpc.RpcError as error:
        return {"code": error.code().name, "message": error.details() or ""}


# Identifiers that look valid but are not.
answer = stub.IngestBatch(audit_pb2.IngestBatchRequest(events=[event(), event("   "), event("acme\u202ecorp")]), timeout=60)
report["identifiers"] = [
    {"status": audit_pb2.IngestStatus.Name(r.status), "rules": [f"{v.field} {v.rule}" for v in r.violations]}
    for r in answer.results
]

# Oversized requests: each is answered with a status, never a bare reset.
big_value = "x" * 4096
fat = event(metadata={f"k{i}": big_value for i in range(64)})  # about 262 KiB encoded


def batch_of_bytes(size):
    count = size // fat.ByteSize() + 1
    return audit_pb2.IngestBatchRequest(events=[fat] * count)


report["oversize_20mib"] = status_of(lambda: stub.IngestBatch(batch_of_bytes(20 * 1024 * 1024), timeout=60))
report["oversize_64mb"] = status_of(lambda: stub.IngestBatch(batch_of_bytes(64_000_000 - 300_000), timeout=120))
small = event()
report["too_many_events"] = status_of(lambda: stub.IngestBatch(audit_pb2.IngestBatchRequest(events=[small] * 100_000), timeout=60))

# 300 concurrent streams on one channel: the client queues beyond the server's
# MAX_CONCURRENT_STREAMS instead of failing the connection.
outcomes = []
lock = threading.Lock()


def one_stream(i):
    try:
        results = list(stub.Ingest(iter([audit_pb2.IngestRequest(event=event(), sequence=i)]), timeout=120))
        ok = len(results) == 1 and results[0].status == audit_pb2.INGEST_STATUS_DURABLE
        outcome = "DURABLE" if ok else "NOT_DURABLE"
    except grpc.RpcError as error:
        outcome = error.code().name
    with lock:
        outcomes.append(outcome)


threads = [threading.Thread(target=one_stream, args=(i,)) for i in range(300)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
report["streams"] = {name: outcomes.count(name) for name in sorted(set(outcomes))}

# An Ingest stream that sends nothing is ended by the server.
never = threading.Event()


def silent():
    never.wait()
    yield from ()


started = time.time()
idle = status_of(lambda: list(stub.Ingest(silent(), timeout=60)))
idle["seconds"] = round(time.time() - started, 1)
never.set()
report["idle"] = idle

print(json.dumps(report, sort_keys=True))
