"""Bad input against Moot's TURN server over UDP: every refusal is the right error code."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from moot.turn.policy import CHALLENGE_BOUND, FailureLimiter
from moot.turn.stun import Attr, Class, Message, Method, long_term_key
from tests.turn_helpers import PASSWORD, REALM, USER, RawClient, raw_client, running_turn

KEY = long_term_key(USER, REALM, PASSWORD)


def _request(method: int, attrs: dict[int, Any], key: bytes | None = None) -> bytes:
    return Message(method, Class.REQUEST, attributes=attrs).encode(key, fingerprint=True)


async def _nonce(client: RawClient) -> str:
    reply = await client.request(_request(Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 17}))
    assert reply.get(Attr.ERROR_CODE)[0] == 401
    assert reply.get(Attr.REALM) == REALM
    return str(reply.get(Attr.NONCE))


async def _signed(
    client: RawClient, method: int, attrs: dict[int, Any], key: bytes = KEY, nonce: str | None = None
) -> Message:
    nonce = nonce or await _nonce(client)
    auth: dict[int, Any] = {Attr.USERNAME: USER, Attr.REALM: REALM, Attr.NONCE: nonce}
    return await client.request(_request(method, {**attrs, **auth}, key))


async def _allocate(client: RawClient) -> Message:
    return await _signed(client, Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 17})


async def test_binding_gives_mapped_address() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        reply = await client.request(_request(Method.BINDING, {}))
        assert reply.cls == Class.SUCCESS
        assert reply.get(Attr.XOR_MAPPED_ADDRESS)[0] == "127.0.0.1"


async def test_malformed_attribute_gets_400_no_larger_than_request() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        # LIFETIME of 5 bytes: the header is sound, the attribute is not.
        body = struct.pack("!HH", Attr.LIFETIME, 5) + b"\0" * 8
        data = struct.pack("!HHI", 0x0003, len(body), 0x2112A442) + b"t" * 12 + body
        client.send(data)
        raw = await asyncio.wait_for(client.queue.get(), 2)
        assert len(raw) <= len(data)
        from moot.turn.stun import parse

        reply = parse(raw)
        assert reply.cls == Class.ERROR and reply.get(Attr.ERROR_CODE)[0] == 400
        assert reply.transaction_id == b"t" * 12


async def test_garbage_is_dropped_silently() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        client.send(b"\xff" * 64)
        client.send(b"\x00\x01\x00\x00" + b"\0" * 16)  # no magic cookie
        assert await client.nothing()


async def test_unknown_comprehension_required_attribute_gets_420() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        reply = await client.request(_request(Method.ALLOCATE, {0x7F01: b"abcd"}))
        assert reply.get(Attr.ERROR_CODE)[0] == 420
        assert reply.get(Attr.UNKNOWN_ATTRIBUTES) == [0x7F01]


async def test_wrong_integrity_gets_401_and_no_allocation() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        wrong = long_term_key(USER, REALM, "not-the-password")
        reply = await _signed(client, Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 17}, key=wrong)
        assert reply.get(Attr.ERROR_CODE)[0] == 401
        assert Attr.MESSAGE_INTEGRITY not in reply
        assert not turn.core.table.by_tuple
        assert turn.core.stats["auth_failures"] == 1


async def test_stale_nonce_gets_438_with_a_fresh_nonce() -> None:
    async with running_turn(nonce_lifetime=1.5) as turn, raw_client(turn.address) as client:
        nonce = await _nonce(client)
        await asyncio.sleep(2.7)
        reply = await _signed(client, Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 17}, nonce=nonce)
        assert reply.get(Attr.ERROR_CODE)[0] == 438
        fresh = reply.get(Attr.NONCE)
        assert fresh and fresh != nonce
        ok = await _signed(client, Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 17}, nonce=fresh)
        assert ok.cls == Class.SUCCESS and ok.check_integrity(KEY)


async def test_forged_nonce_is_stale() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        reply = await _signed(
            client, Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 17}, nonce="0123456789abcdef01234567"
        )
        assert reply.get(Attr.ERROR_CODE)[0] == 438


async def test_permission_for_denied_addresses_gets_403() -> None:
    async with running_turn(allow_loopback=False) as turn, raw_client(turn.address) as client:
        assert (await _allocate(client)).cls == Class.SUCCESS
        for host in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.1.1", "224.0.0.1", "0.0.0.0"):
            reply = await _signed(client, Method.CREATE_PERMISSION, {Attr.XOR_PEER_ADDRESS: (host, 9)})
            assert reply.get(Attr.ERROR_CODE)[0] == 403, host
            bind = await _signed(client, Method.CHANNEL_BIND, {
                Attr.XOR_PEER_ADDRESS: (host, 9), Attr.CHANNEL_NUMBER: 0x4000
            })
            assert bind.get(Attr.ERROR_CODE)[0] == 403, host
        ok = await _signed(client, Method.CREATE_PERMISSION, {Attr.XOR_PEER_ADDRESS: ("203.0.113.9", 9)})
        assert ok.cls == Class.SUCCESS
        alloc = next(iter(turn.core.table.by_tuple.values()))
        assert list(alloc.permissions) == ["203.0.113.9"]


async def test_allocation_flood_from_one_user_hits_quota_486() -> None:
    async with running_turn(user_quota=3) as turn:
        codes = []
        for _ in range(5):
            async with raw_client(turn.address) as client:
                reply = await _allocate(client)
                codes.append(reply.get(Attr.ERROR_CODE, (200, ""))[0])
        assert codes == [200, 200, 200, 486, 486]
        assert len(turn.core.table.by_tuple) == 3


async def test_second_allocate_on_same_five_tuple_gets_437() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        assert (await _allocate(client)).cls == Class.SUCCESS
        again = await _allocate(client)
        assert again.get(Attr.ERROR_CODE)[0] == 437


async def test_unsupported_transport_gets_442() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        reply = await _signed(client, Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 6})
        assert reply.get(Attr.ERROR_CODE)[0] == 442


async def test_unauthenticated_responses_are_bounded() -> None:
    async with running_turn() as turn, raw_client(turn.address) as client:
        # Error responses to unauthenticated requests are never larger than the request.
        for data in (
            _request(Method.ALLOCATE, {0x7F01: b""}),  # 420
            _request(Method.SEND + 0x100, {}),  # unknown method -> 400
            # MESSAGE-INTEGRITY without REALM and NONCE -> 400
            _request(Method.ALLOCATE, {Attr.USERNAME: "x"}, key=b"k"),
        ):
            client.send(data)
            try:
                raw = await asyncio.wait_for(client.queue.get(), 1)
            except TimeoutError:
                continue  # dropped rather than amplified
            assert len(raw) <= len(data), data
        # The challenge (REALM + NONCE) to the smallest Allocate is bounded by a constant.
        smallest = Message(Method.ALLOCATE, Class.REQUEST, attributes={Attr.REQUESTED_TRANSPORT: 17}).encode()
        client.send(smallest)
        raw = await asyncio.wait_for(client.queue.get(), 1)
        assert len(raw) <= CHALLENGE_BOUND
        assert turn.core.stats["dropped"] >= 0


async def test_failed_authentications_are_rate_limited_per_source() -> None:
    limiter = FailureLimiter(limit=3, window=60)
    async with running_turn(limiter=limiter) as turn, raw_client(turn.address) as client:
        wrong = long_term_key(USER, REALM, "guess")
        nonce = await _nonce(client)
        for _ in range(3):
            reply = await _signed(client, Method.ALLOCATE, {Attr.REQUESTED_TRANSPORT: 17}, wrong, nonce)
            assert reply.get(Attr.ERROR_CODE)[0] == 401
        # Now blocked: even the right password gets no answer from this source.
        client.send(_request(Method.ALLOCATE, {
            Attr.REQUESTED_TRANSPORT: 17, Attr.USERNAME: USER, Attr.REALM: REALM, Attr.NONCE: nonce
        }, KEY))
        assert await client.nothing(0.5)
        assert not turn.core.table.by_tuple


async def test_send_indication_and_data_indication_round_trip() -> None:
    from tests.turn_helpers import peer_socket

    async with running_turn() as turn, raw_client(turn.address) as client, peer_socket() as peer:
        alloc_reply = await _allocate(client)
        relayed = alloc_reply.get(Attr.XOR_RELAYED_ADDRESS)
        # Without a permission the Send indication is dropped.
        indication = Message(Method.SEND, Class.INDICATION, attributes={
            Attr.XOR_PEER_ADDRESS: peer.address, Attr.DATA: b"early"
        })
        client.send(indication.encode())
        await asyncio.sleep(0.2)
        assert peer.queue.empty()
        perm = await _signed(client, Method.CREATE_PERMISSION, {Attr.XOR_PEER_ADDRESS: peer.address})
        assert perm.cls == Class.SUCCESS and perm.check_integrity(KEY)
        indication.attributes[Attr.DATA] = b"hello peer"
        client.send(indication.encode())
        data, source = await asyncio.wait_for(peer.queue.get(), 2)
        assert (data, source) == (b"hello peer", tuple(relayed))
        assert peer.transport is not None
        peer.transport.sendto(b"hello client", tuple(relayed))
        from moot.turn.stun import parse

        back = parse(await asyncio.wait_for(client.queue.get(), 2))
        assert (back.method, back.cls) == (Method.DATA, Class.INDICATION)
        assert back.get(Attr.DATA) == b"hello client"
        assert back.get(Attr.XOR_PEER_ADDRESS) == peer.address
        # Refresh with lifetime 0 deletes the allocation.
        gone = await _signed(client, Method.REFRESH, {Attr.LIFETIME: 0})
        assert gone.cls == Class.SUCCESS and not turn.core.table.by_tuple
