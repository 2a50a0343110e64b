"""Where the network may send requests a tenant chose the address of (webhooks): public hosts only.

An organization's admin names the URL, so without this a webhook is a way to make our servers call
the cloud metadata service, the document store or any service inside the cluster. Addresses are
checked when an endpoint is registered, and again at every send after DNS resolution, because a name
that resolved outside at registration can be pointed inside later. The sender then connects to the
very address it checked (`EgressTransport`), so a second lookup between check and connect cannot
swap it for an inside one (DNS rebinding).
"""

import asyncio
import ipaddress
import socket

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata (credentials, user data) of AWS, GCP, Azure, OpenStack (IPv4), AWS (IPv6), Alibaba.
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
# Carrier-grade NAT space: not "private" to every Python version, but inside a provider's network.
SHARED_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are an IPv4 address
RESOLVE_TIMEOUT = 5.0


class Refused(httpx.TransportError):
    """The target is not a place we send to; the message says why, and nothing was sent.

    An httpx transport error, so a sender that counts failed attempts counts this one too.
    """


def refusal(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why `ip` is not an address we may send to, or None if we may.

    Allowing private targets (tests, a local receiver) still refuses metadata: no receiver anyone
    runs lives there, and it is the most dangerous address of all.
    """
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        return refusal(inner, allow_private=allow_private)  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip in METADATA:
        return "a cloud metadata address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "an unspecified address"  # 0.0.0.0 connects to this machine on Linux
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip in SHARED_SPACE:
        return "a shared (carrier-grade NAT) address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), judged as that address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the name `host` resolves to, without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # An IPv6 sockaddr may carry a scope (fe80::1%eth0); the address is what the policy judges.
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos))


async def vet(
    host: str, port: int, *, allow_private: bool = False, within: float = RESOLVE_TIMEOUT
) -> list[IPAddress]:
    """The addresses `host` resolves to, each one we may send to; refuses if any is not.

    Any, not all: a name with one inside address among outside ones would reach inside whenever the
    client picked that one.
    """
    if (literal := _literal(host)) is not None:
        addresses = [literal]
    else:
        try:
            addresses = await asyncio.wait_for(resolve(host, port), within)
        except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
            raise Refused(f"{host} does not resolve") from exc
    if not addresses:
        raise Refused(f"{host} does not resolve")
    for ip in addresses:
        if reason := refusal(ip, allow_private=allow_private):
            raise Refused(f"{host} {'is' if literal is not None else 'resolves to'} {reason}")
    return addresses


async def vet_url(url: str, *, allow_private: bool = False) -> list[IPAddress]:
    """An endpoint someone asks us to send to: https to a public host. Plain http only to a receiver
    inside, and only while private targets are allowed: a local test receiver has no certificate."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise Refused("not a valid URL") from exc
    if parsed.scheme != "https" and not (parsed.scheme == "http" and allow_private):
        raise Refused("the endpoint must use https")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as DNS and TLS see it
    if not host:
        raise Refused("the URL names no host")
    addresses = await vet(host, _port(parsed), allow_private=allow_private)
    if parsed.scheme == "http" and any(refusal(ip) is None for ip in addresses):
        raise Refused("the endpoint must use https")
    return addresses


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


class EgressTransport(httpx.AsyncBaseTransport):
    """Sends each request to an address of its host vetted just before, never to one looked up anew.

    The URL's host becomes the vetted address; the Host header stays, and TLS still sends and checks
    the name (SNI), so the receiver sees an ordinary request. One connection pool per host name: a
    pool is keyed by address, and a TLS connection checked for one name must not carry another's.
    Give the client `trust_env=False`: a proxy from the environment would connect in our place.
    """

    def __init__(self, *, allow_private: bool = False, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner  # tests pass one that records instead of sending
        self._pools: dict[str, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        connect = request.extensions.get("timeout", {}).get("connect") or RESOLVE_TIMEOUT
        addresses = await vet(host, _port(request.url), allow_private=self._allow_private, within=connect)
        # The first address only: trying the others on failure would be nicer, and is not needed yet.
        request.url = request.url.copy_with(host=str(addresses[0]))
        request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._pool(host).handle_async_request(request)

    def _pool(self, host: str) -> httpx.AsyncBaseTransport:
        if self._inner is not None:
            return self._inner
        if host not in self._pools:
            self._pools[host] = httpx.AsyncHTTPTransport()
        return self._pools[host]

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        if self._inner is not None:
            await self._inner.aclose()
