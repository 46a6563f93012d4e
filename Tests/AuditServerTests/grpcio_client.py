"""A gRPC client no one here wrote: Python grpcio stubs generated from Protos/ at test time.

Usage: grpcio_client.py STUB_DIR TARGET TENANT [verify]
Ingests 5 events over the Ingest stream and 3 with IngestBatch, then polls RecentEvents and
ComplianceReport until all 8 are visible (120 s at most), then verifies the tenant's hash chain.
With `verify`, only verifies the chain. Prints one JSON summary line.
"""
import json
import sys
import time
import uuid

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from auditpipe.v1 import audit_pb2, audit_pb2_grpc  # noqa: E402

target, tenant = sys.argv[2], sys.argv[3]
stub = audit_pb2_grpc.AuditServiceStub(grpc.insecure_channel(target))
now = int(time.time() * 1000)
verify_only = sys.argv[4:] == ["verify"]


def event(i):
    return audit_pb2.AuditEvent(
        event_id=f"py-{uuid.uuid4()}", tenant_id=tenant, actor_id="py-user", event_type="auth",
        resource="session", action="login", timestamp_ms=now - 1000 + i, metadata={"client": "grpcio"},
    )


def with_retries(call):
    """What a careful producer does: resend the same events (same event_ids) until answered."""
    for attempt in range(5):
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE) or attempt == 4:
                raise
            time.sleep(1)


def verify():
    response = with_retries(lambda: stub.Verify(audit_pb2.VerifyRequest(tenant_id=tenant), timeout=60))
    return {
        "verify_intact": response.intact,
        "verify_rows": response.verified_rows,
        "verify_problem": audit_pb2.ChainProblemKind.Name(response.problem),
        "verify_problem_sequence": response.problem_sequence,
    }


if verify_only:
    print(json.dumps(verify()))
    sys.exit(0)

streamed = [event(i) for i in range(5)]
batched = [event(5 + i) for i in range(3)]


def requests():
    for i, e in enumerate(streamed):
        yield audit_pb2.IngestRequest(event=e, sequence=i + 1)


stream_results = with_retries(lambda: list(stub.Ingest(requests(), timeout=60)))
batch = with_retries(lambda: stub.IngestBatch(audit_pb2.IngestBatchRequest(events=batched), timeout=60))
durable = sum(r.status == audit_pb2.INGEST_STATUS_DURABLE for r in list(stream_results) + list(batch.results))

recent = []
count = 0
deadline = time.time() + 120
while time.time() < deadline:
    recent = with_retries(lambda: stub.RecentEvents(
        audit_pb2.RecentEventsRequest(tenant_id=tenant, actor_id="py-user", limit=10), timeout=30)).events
    request = audit_pb2.ComplianceReportRequest(
        tenant_id=tenant, from_ms=now - 3_600_000, to_ms=now + 3_600_000,
        group_by=[audit_pb2.REPORT_GROUP_BY_EVENT_TYPE],
    )
    count = with_retries(lambda: sum(a.count for chunk in stub.ComplianceReport(request, timeout=60) for a in chunk.aggregates))
    if len(recent) == 8 and count == 8:
        break
    time.sleep(0.5)

rows = with_retries(lambda: [e.event.event_id for chunk in stub.ComplianceReport(audit_pb2.ComplianceReportRequest(
    tenant_id=tenant, from_ms=now - 3_600_000, to_ms=now + 3_600_000), timeout=60) for e in chunk.events])
print(json.dumps({
    "stream_results": len(stream_results),
    "sequences": sorted(r.sequence for r in stream_results),
    "durable": durable,
    "recent": len(recent),
    "recent_oldest_first": [e.event.timestamp_ms for e in recent] == sorted(e.event.timestamp_ms for e in recent),
    "report_count": count,
    "report_rows": len(rows),
    "report_distinct": len(set(rows)),
    **verify(),
}))
