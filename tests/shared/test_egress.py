"""Requests to addresses a tenant chose go to public hosts only, checked again after every lookup."""

import ipaddress
from collections.abc import Awaitable, Callable

import httpx
import pytest

from shared import egress

INSIDE = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.1.1",
    "100.64.0.1",
    "100.100.100.200",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]
Resolver = Callable[[str, int], Awaitable[list[egress.IPAddress]]]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", INSIDE)
def test_an_address_inside_is_refused(address: str) -> None:
    assert egress.refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_is_allowed(address: str) -> None:
    assert egress.refusal(ipaddress.ip_address(address)) is None


def test_allowing_private_targets_still_refuses_cloud_metadata() -> None:
    for address in ("127.0.0.1", "10.1.2.3", "::1", "fe80::1"):
        assert egress.refusal(ipaddress.ip_address(address), allow_private=True) is None
    for address in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"):
        assert egress.refusal(ipaddress.ip_address(address), allow_private=True) == "a cloud metadata address"


def resolving_to(*addresses: str) -> Resolver:
    async def fake(host: str, port: int) -> list[egress.IPAddress]:
        return [ipaddress.ip_address(a) for a in addresses]

    return fake


async def test_a_name_is_refused_when_any_of_its_addresses_is_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(egress, "resolve", resolving_to("93.184.215.14", "10.0.0.7"))
    with pytest.raises(egress.Refused, match=r"hooks\.example\.org resolves to a private address"):
        await egress.vet("hooks.example.org", 443)
    monkeypatch.setattr(egress, "resolve", resolving_to("93.184.215.14"))
    assert await egress.vet("hooks.example.org", 443) == [ipaddress.ip_address("93.184.215.14")]


async def test_a_name_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def unknown(host: str, port: int) -> list[egress.IPAddress]:
        raise OSError("Name or service not known")

    monkeypatch.setattr(egress, "resolve", unknown)
    with pytest.raises(egress.Refused, match="does not resolve"):
        await egress.vet("hooks.example.invalid", 443)


async def test_the_system_resolver_finds_localhost_inside() -> None:
    with pytest.raises(egress.Refused, match="localhost resolves to a loopback address"):
        await egress.vet("localhost", 443)


async def test_an_endpoint_must_be_https_to_a_public_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(egress, "resolve", resolving_to("93.184.215.14"))
    await egress.vet_url("https://hooks.example.org/rn")
    refused = {
        "http://hooks.example.org/rn": "must use https",
        "ftp://hooks.example.org/rn": "must use https",
        "https://127.0.0.1/hook": "127.0.0.1 is a loopback address",
        "https://[::1]:8443/hook": "::1 is a loopback address",
        "https://169.254.169.254/latest/meta-data/": "a cloud metadata address",
        "https://[::ffff:10.0.0.1]/": "a private address",
    }
    for url, why in refused.items():
        with pytest.raises(egress.Refused, match=why):
            await egress.vet_url(url)


async def test_plain_http_is_only_for_a_receiver_inside_while_private_targets_are_allowed() -> None:
    await egress.vet_url("http://127.0.0.1:8080/hook", allow_private=True)
    with pytest.raises(egress.Refused, match="must use https"):
        await egress.vet_url("http://93.184.215.14/hook", allow_private=True)
    with pytest.raises(egress.Refused, match="a cloud metadata address"):
        await egress.vet_url("http://169.254.169.254/", allow_private=True)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(204)


def client(recorder: Recorder, allow_private: bool = False) -> httpx.AsyncClient:
    inner = httpx.MockTransport(recorder)
    transport = egress.EgressTransport(allow_private=allow_private, inner=inner)
    return httpx.AsyncClient(transport=transport, trust_env=False)


async def test_the_sender_connects_to_the_address_it_checked_under_the_name_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(egress, "resolve", resolving_to("93.184.215.14"))
    recorder = Recorder()
    async with client(recorder) as http:
        r = await http.post("https://hooks.example.org:8443/rn?x=1", content=b"{}")
    assert r.status_code == 204
    (sent,) = recorder.sent
    assert str(sent.url) == "https://93.184.215.14:8443/rn?x=1"
    assert sent.headers["host"] == "hooks.example.org:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example.org"  # TLS checks the name, not the address


async def test_the_sender_refuses_a_name_that_now_resolves_inside_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(egress, "resolve", resolving_to("169.254.169.254"))
    recorder = Recorder()
    async with client(recorder) as http:
        with pytest.raises(egress.Refused, match=r"hooks\.example\.org resolves to a cloud metadata address"):
            await http.post("https://hooks.example.org/rn", content=b"{}")
        with pytest.raises(httpx.TransportError):  # a sender counting failed attempts counts this one
            await http.post("https://127.0.0.1/rn", content=b"{}")
    assert recorder.sent == []
