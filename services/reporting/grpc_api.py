"""ReportingService gRPC handlers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from entraide.v1 import common_pb2, reporting_pb2, reporting_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from kernel import auth
from kernel.db import Pool
from kernel.errors import InvalidArgument
from kernel.grpc_server import Context
from kernel.reference import ReferenceData
from services.reporting import queries


def _bound(message: reporting_pb2.GetMotifCountsRequest, field: Literal["from", "to"]) -> datetime | None:
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


class ReportingServicer(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(self, pool: Pool, reference: ReferenceData) -> None:
        self.pool = pool
        self.reference = reference

    async def GetMotifCounts(
        self, request: reporting_pb2.GetMotifCountsRequest, context: Context
    ) -> reporting_pb2.MotifCounts:
        if request.territory and request.territory not in self.reference.territories:
            raise InvalidArgument(f"territory {request.territory[:20]!r} is not a commune of this deployment")
        claims = auth.current()
        if request.territory:
            claims.require_territory(request.territory)
        territories = [request.territory] if request.territory else sorted(claims.territories)
        period = queries.Period(territories, _bound(request, "from"), _bound(request, "to"))
        if period.start and period.end and period.start >= period.end:
            raise InvalidArgument("the period's start must be before its end")
        async with self.pool.acquire() as conn:
            total, counts = await queries.motif_counts(conn, period)
        return reporting_pb2.MotifCounts(
            dossiers=total,
            motifs=[
                common_pb2.CategoryCount(code=code, label=self.reference.motifs.get(code, code), count=n)
                for code, n in counts
            ],
        )
