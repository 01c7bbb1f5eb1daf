"""Headwater's typed Python client: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

from headwater_client import Client

with Client(base_url="http://localhost:8080", token="hw_...") as client:
    group = client.rivers.run("orders to warehouse", wait=True, timeout=600)
    print(group.status, [run.total_rows for run in group.runs])
"""

from headwater_client._transport import RetryPolicy
from headwater_client.async_client import AsyncClient
from headwater_client.client import Client
from headwater_client.errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    Conflict,
    HeadwaterError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RunFailed,
    ServerError,
    ValidationError,
    WaitTimeout,
)
from headwater_client.models import (
    ActivityRow,
    ApiToken,
    CancelAnswer,
    Connection,
    CreatedToken,
    LogLine,
    Me,
    River,
    Run,
    RunGroup,
    RunGroupSummary,
    RunPart,
    Statistics,
    SubRiver,
    Target,
)

__version__ = "0.1.0"
__all__ = [
    "ActivityRow",
    "ApiError",
    "ApiToken",
    "AsyncClient",
    "AuthenticationError",
    "BadRequest",
    "CancelAnswer",
    "Client",
    "Conflict",
    "Connection",
    "CreatedToken",
    "HeadwaterError",
    "LogLine",
    "Me",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RetryPolicy",
    "River",
    "Run",
    "RunFailed",
    "RunGroup",
    "RunGroupSummary",
    "RunPart",
    "ServerError",
    "Statistics",
    "SubRiver",
    "Target",
    "ValidationError",
    "WaitTimeout",
]
