"""WebRTC: the signaling server (:mod:`workshop.webrtc.signaling`) that lets two peers find each other.

Media flows peer to peer, or through coturn when a NAT is in the way
(credentials: :mod:`workshop.infra.turn`, shared with the doctor).
"""
