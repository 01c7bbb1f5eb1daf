"""Connect to the address the outbound policy checked, not to whatever DNS says next.

A check that resolves a name and a client that resolves it again a moment later can disagree
(DNS rebinding: a short-TTL record that answers a public address to the check and 127.0.0.1 to
the client). So in ``production`` mode the policy is applied where the connection is made:

- httpx (actions, REST sources, OAuth token URLs, webhooks): a transport whose network backend
  runs ``OutboundPolicy.vet_host`` for every new TCP connection, redirect hops included, and
  opens the socket to one of the checked addresses. TLS still verifies the host name.
- aiohttp (s3fs/aiobotocore, the S3 ``endpoint_url`` and AWS endpoints): a resolver that
  answers only checked addresses.

Database drivers get the checked address directly (``connectors.postgres.conn``,
``connectors.mysql.conn``). In ``development`` mode nothing here is installed.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from headwater.security.ssrf import BlockedDestination, OutboundPolicy, request_hook

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class PinnedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to addresses the policy has just checked."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.policy.vet_host(host)
        if addresses is None:
            return self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        options = list(socket_options or ())
        failure: Exception | None = None
        for address in addresses:
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # vet_host returns at least one address
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedDestination("Outbound connections to Unix sockets are blocked")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def guarded_transport(
    policy: OutboundPolicy, verify: ssl.SSLContext | bool = True
) -> httpx.HTTPTransport | None:
    """An httpx transport pinned to checked addresses in production mode; None (httpx's own
    transport) in development mode. Pass ``verify`` here: a transport's TLS settings replace
    the client's."""
    if not policy.enforce:
        return None
    transport = httpx.HTTPTransport(verify=verify)
    # httpx has no public way to hand its pool a network backend; httpcore's pool keeps it here.
    transport._pool._network_backend = PinnedBackend(policy)
    return transport


def guarded_client_options(
    policy: OutboundPolicy, verify: ssl.SSLContext | bool = True
) -> dict[str, Any]:
    """``httpx.Client`` keyword arguments: the request hook (a clear message for every URL,
    redirects included) and, in production, the pinned transport."""
    options: dict[str, Any] = {"verify": verify, "event_hooks": {"request": [request_hook(policy)]}}
    transport = guarded_transport(policy, verify)
    if transport is not None:
        options["transport"] = transport
    return options


def s3_config(policy: OutboundPolicy) -> dict[str, Any]:
    """s3fs ``config_kwargs`` (aiobotocore ``AioConfig``) that route every connection's name
    resolution through the policy in production mode; empty in development mode."""
    if not policy.enforce:
        return {}
    from aiohttp.abc import AbstractResolver, ResolveResult
    from aiohttp.resolver import ThreadedResolver

    class CheckingResolver(AbstractResolver):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            loop = asyncio.get_running_loop()
            addresses = await loop.run_in_executor(None, policy.vet_host, host)
            if addresses is None:  # an allow-listed name
                return await ThreadedResolver().resolve(host, port, family)
            return [
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=port,
                    family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
                for address in addresses
            ]

        async def close(self) -> None:
            return None

    return {"connector_args": {"resolver": CheckingResolver()}}
