"""ReferralService gRPC handlers."""

from __future__ import annotations

from entraide.v1 import referral_pb2, referral_pb2_grpc

from kernel.db import Pool
from kernel.errors import InvalidArgument
from kernel.grpc_server import Context
from kernel.reference import ReferenceData
from services.referral import directory


class ReferralServicer(referral_pb2_grpc.ReferralServiceServicer):
    def __init__(self, pool: Pool, reference: ReferenceData) -> None:
        self.pool = pool
        self.reference = reference

    async def ListPartners(
        self, request: referral_pb2.ListPartnersRequest, context: Context
    ) -> referral_pb2.ListPartnersResponse:
        if request.motif and request.motif not in self.reference.motifs:
            raise InvalidArgument(f"unknown motif {request.motif[:40]!r}")
        if request.territory and request.territory not in self.reference.territories:
            raise InvalidArgument(f"territory {request.territory[:20]!r} is not a commune of this deployment")
        async with self.pool.acquire() as conn:
            rows = await directory.list_partners(conn, request.motif or None, request.territory or None)
        return referral_pb2.ListPartnersResponse(
            partners=[
                referral_pb2.Partner(
                    partner_id=r["partner_id"],
                    name=r["name"],
                    kind=r["kind"],
                    motifs=list(r["motifs"]),
                    territories=list(r["territories"]),
                )
                for r in rows
            ]
        )
