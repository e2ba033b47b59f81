"""Reading a session description (SDP): the lines that matter for this chapter.

An offer or answer is plain text, one ``key=value`` per line. The ones a learner should
recognise:

    m=video 9 UDP/TLS/RTP/SAVPF 97 98 …    one media section per track (SAVPF: secure RTP with feedback)
    a=rtpmap:97 VP8/90000                  a codec and its payload type
    a=rtcp-fb:97 goog-remb                 feedback the receiver will send (REMB, NACK, PLI, transport-cc)
    a=extmap:3 …abs-send-time              an RTP header extension (REMB's estimator needs send times)
    a=ice-ufrag:… / a=ice-pwd:…            ICE credentials: connectivity checks are signed with them
    a=fingerprint:sha-256 …                the hash of the DTLS certificate the peer will present
    a=setup:actpass                        who starts the DTLS handshake
    a=candidate:… typ host|srflx|relay     an address to try (aiortc puts all of them here: no trickle)
"""

from __future__ import annotations

import re

KEYS = (
    "m=",
    "a=ice-ufrag",
    "a=ice-pwd",
    "a=fingerprint",
    "a=setup",
    "a=candidate",
    "a=rtpmap",
    "a=rtcp-fb",
    "a=extmap",
)


def excerpt(sdp: str, kind: str = "video") -> str:
    """The lines of the first ``kind`` media section that start with one of :data:`KEYS`, for its first codec only."""
    out, section, first_pt = [], None, None
    for line in sdp.splitlines():
        if line.startswith("m="):
            if section == kind:
                break  # the first such section is enough
            section = line[2:].split()[0]
            first_pt = line.split()[3] if section == kind and len(line.split()) > 3 else None
        if section != kind or not line.startswith(KEYS):
            continue
        if line.startswith(("a=rtpmap", "a=rtcp-fb")) and line.split(":", 1)[1].split()[0] != first_pt:
            continue  # other codecs (H264, rtx) repeat the same pattern
        out.append(line if len(line) <= 110 else line[:107] + "...")
    return "\n".join(out)


def attribute(sdp: str, name: str) -> str | None:
    """The first ``a=name:value`` of ``sdp`` (its value), or None."""
    found = re.search(rf"^a={re.escape(name)}:(.*)$", sdp, re.M)
    return found.group(1).strip() if found else None


def facts(sdp: str) -> dict[str, object]:
    """What an offer or answer says about security, addresses and bandwidth feedback."""
    candidate_types = sorted(set(re.findall(r"^a=candidate:.* typ (\w+)", sdp, re.M)))
    feedback = set(re.findall(r"^a=rtcp-fb:\d+ ([\w-]+)", sdp, re.M))
    return {
        "DTLS fingerprint": attribute(sdp, "fingerprint") is not None,
        "ICE credentials": attribute(sdp, "ice-ufrag") is not None and attribute(sdp, "ice-pwd") is not None,
        "candidate types": candidate_types,
        "REMB feedback (goog-remb)": "goog-remb" in feedback,
        "transport-cc feedback": "transport-cc" in feedback,
    }
