"""The STUN/TURN codec (workshop.infra.stun) against RFC 5769's published test vectors."""

from __future__ import annotations

import struct

import pytest

from workshop.infra import stun

# RFC 5769 ("Test Vectors for STUN"), sections 2.1-2.4, byte for byte as printed there.
SAMPLE_REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff"
    "80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf"
)
SAMPLE_IPV4_RESPONSE = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)
SAMPLE_IPV6_RESPONSE = bytes.fromhex(
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c"
)
SAMPLE_LONG_TERM_REQUEST = bytes.fromhex(
    "000100602112a44278ad3433c6ad72c029da412e"
    "00060012e3839ee38388e383aae38383e382afe382b90000"
    "0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473"
    "41"
    "0014000b6578616d706c652e6f726700"
    "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666"
)
SHORT_TERM_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"
LONG_TERM_USER = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"  # "matrix" in katakana
TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")


def test_long_term_vector_is_well_formed():
    assert SAMPLE_LONG_TERM_REQUEST[:20] == bytes.fromhex("000100602112a44278ad3433c6ad72c029da412e")
    assert len(SAMPLE_LONG_TERM_REQUEST) == 20 + 0x60


@pytest.mark.parametrize(("method", "cls", "msg_type"), [
    (stun.BINDING, stun.REQUEST, 0x0001), (stun.BINDING, stun.SUCCESS, 0x0101),
    (stun.BINDING, stun.ERROR, 0x0111), (stun.ALLOCATE, stun.REQUEST, 0x0003),
    (stun.ALLOCATE, stun.SUCCESS, 0x0103), (stun.ALLOCATE, stun.ERROR, 0x0113),
    (stun.REFRESH, stun.REQUEST, 0x0004), (0x009, stun.SUCCESS, 0x0109), (0x006, stun.INDICATION, 0x0016),
    (0x007, stun.INDICATION, 0x0017),
])
def test_message_type_interleaving(method, cls, msg_type):
    assert stun.message_type(method, cls) == msg_type
    assert stun.split_type(msg_type) == (method, cls)


def test_sample_request_decodes_and_checks():
    m = stun.decode(SAMPLE_REQUEST)
    assert (m.method, m.cls, m.transaction_id) == (stun.BINDING, stun.REQUEST, TXID)
    assert m.get(stun.USERNAME) == b"evtj:h6vY"
    assert m.get(stun.SOFTWARE) == b"STUN test client"
    assert stun.check_fingerprint(SAMPLE_REQUEST) is True
    assert stun.check_integrity(SAMPLE_REQUEST, SHORT_TERM_PASSWORD) is True
    assert stun.check_integrity(SAMPLE_REQUEST, b"not the password") is False


@pytest.mark.parametrize(("vector", "address"), [
    (SAMPLE_IPV4_RESPONSE, ("192.0.2.1", 32853)),
    (SAMPLE_IPV6_RESPONSE, ("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
])
def test_sample_responses_give_the_xor_mapped_address(vector, address):
    m = stun.decode(vector)
    assert (m.method, m.cls) == (stun.BINDING, stun.SUCCESS)
    assert stun.decode_xor_address(m.get(stun.XOR_MAPPED_ADDRESS), m.transaction_id) == address
    assert stun.check_integrity(vector, SHORT_TERM_PASSWORD)
    assert stun.check_fingerprint(vector) is True
    # and the encoder writes the same attribute value
    assert stun.encode_xor_address(*address, m.transaction_id) == m.get(stun.XOR_MAPPED_ADDRESS)


def test_long_term_credentials_key_and_integrity():
    m = stun.decode(SAMPLE_LONG_TERM_REQUEST)
    assert m.get(stun.USERNAME).decode() == LONG_TERM_USER
    assert m.get(stun.REALM) == b"example.org"
    assert m.get(stun.NONCE) == b"f//499k954d6OL34oL9FSTvy64sA"
    assert stun.check_fingerprint(SAMPLE_LONG_TERM_REQUEST) is None  # this vector has none
    key = stun.long_term_key(LONG_TERM_USER, "example.org", "TheMatrIX")
    assert stun.check_integrity(SAMPLE_LONG_TERM_REQUEST, key)
    assert not stun.check_integrity(SAMPLE_LONG_TERM_REQUEST, stun.long_term_key(LONG_TERM_USER, "example.org", "TheMatrix"))


def test_encoder_reproduces_the_long_term_vector_byte_for_byte():
    """Its padding is all zeros, as our encoder writes: so MESSAGE-INTEGRITY must match exactly."""
    m = stun.Message(stun.BINDING, stun.REQUEST, SAMPLE_LONG_TERM_REQUEST[8:20], [
        (stun.USERNAME, LONG_TERM_USER.encode()),
        (stun.NONCE, b"f//499k954d6OL34oL9FSTvy64sA"),
        (stun.REALM, b"example.org"),
    ])
    key = stun.long_term_key(LONG_TERM_USER, "example.org", "TheMatrIX")
    assert m.encode(key, fingerprint=False) == SAMPLE_LONG_TERM_REQUEST


def test_encoded_message_round_trips_with_integrity_and_fingerprint():
    key = stun.long_term_key("1700003600:learner", "workshop", "secret")
    m = stun.Message(stun.ALLOCATE, stun.REQUEST).add(stun.REQUESTED_TRANSPORT, struct.pack("!B3x", stun.UDP))
    m.add(stun.USERNAME, b"1700003600:learner")  # 18 bytes: padded
    raw = m.encode(key)
    assert len(raw) % 4 == 0
    assert struct.unpack_from("!H", raw, 2)[0] == len(raw) - 20
    back = stun.decode(raw)
    assert (back.method, back.cls, back.transaction_id) == (stun.ALLOCATE, stun.REQUEST, m.transaction_id)
    assert back.attributes[:2] == m.attributes
    assert stun.check_integrity(raw, key) and stun.check_fingerprint(raw) is True
    tampered = bytearray(raw)
    tampered[24] ^= 0x01  # REQUESTED-TRANSPORT value
    assert not stun.check_integrity(bytes(tampered), key)
    assert stun.check_fingerprint(bytes(tampered)) is False


def test_an_independent_implementation_accepts_our_messages():
    """aioice (aiortc's ICE library) parses what we encode: fingerprint and integrity agree."""
    aioice_stun = pytest.importorskip("aioice.stun")
    key = b"0123456789abcdef"
    raw = stun.Message(stun.BINDING, stun.REQUEST).add(stun.USERNAME, b"evtj:h6vY").encode(key)
    parsed = aioice_stun.parse_message(raw)  # raises on a bad FINGERPRINT
    assert parsed.attributes["USERNAME"] == "evtj:h6vY"
    assert parsed.check_message_integrity(key)


def test_error_code_attribute():
    value = struct.pack("!2xBB", 4, 1) + b"Unauthorized"
    m = stun.Message(stun.ALLOCATE, stun.ERROR, attributes=[(stun.ERROR_CODE, value)])
    assert stun.decode(m.encode()).error == (401, "Unauthorized")
    assert stun.Message(stun.BINDING, stun.SUCCESS).error is None


@pytest.mark.parametrize("junk", [
    b"", b"\x00" * 19,
    SAMPLE_REQUEST[:4] + b"\x00\x00\x00\x00" + SAMPLE_REQUEST[8:],  # wrong magic cookie
    SAMPLE_REQUEST[:-4],                                            # length runs past the datagram
    b"\x40\x01\x00\x04abcd" + b"\x00" * 12,                          # ChannelData, not STUN
])
def test_junk_is_rejected(junk):
    with pytest.raises(stun.StunError):
        stun.decode(junk)


def test_attribute_running_past_the_end_is_rejected():
    bad = bytearray(SAMPLE_REQUEST)
    bad[22:24] = struct.pack("!H", 0x40)  # SOFTWARE claims 64 bytes
    with pytest.raises(stun.StunError):
        stun.decode(bytes(bad))


def test_xor_address_round_trips():
    tid = bytes(range(12))
    for host, port in [("203.0.113.45", 51234), ("2001:db8::1", 443), ("127.0.0.1", 3478)]:
        value = stun.encode_xor_address(host, port, tid)
        assert value[4:] != __import__("ipaddress").ip_address(host).packed  # really XOR-ed
        assert stun.decode_xor_address(value, tid) == (host, port)
