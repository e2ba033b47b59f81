"""A picture of ICE: the three kinds of candidate address, and the path of a relayed packet.

    from workshop.viz.ice import ice_picture
    ice_picture()          # a matplotlib Figure (drawn here: no image files, no network)

Two peers, each in a home network behind a NAT router, and one coturn that is both the
STUN and the TURN server (as in this course). Each peer can be reached, perhaps, at

* its **host** candidate — the address of its own network interface (private: only its
  own network can reach it);
* its **server-reflexive** (``srflx``) candidate — the address its NAT gives its packets
  on the way out, which only a server outside can see: STUN's Binding answer;
* its **relay** candidate — an address *on the TURN server*, allocated for it: whatever
  reaches that address is forwarded to the peer.

The addresses are from the ranges reserved for documentation (RFC 5737, RFC 1918).
"""

from __future__ import annotations

from typing import Any

# one colour per system, the same in every picture of chapter 5
COLOURS = {
    "peer": "#4c72b0",  # the two browsers / aiortc peers
    "nat": "#8c8c8c",  # home routers
    "turn": "#dd8452",  # coturn: STUN and TURN
    "signaling": "#55a868",  # the signaling server
    "packet": "#c44e52",  # the relayed packet's path
}

PEER_A = {"host": "192.168.1.20:50000", "srflx": "203.0.113.7:62000", "relay": "198.51.100.9:49160"}
PEER_B = {"host": "10.0.0.5:51000", "srflx": "192.0.2.44:53000", "relay": "198.51.100.9:49161"}


def _box(ax: Any, x: float, y: float, w: float, h: float, colour: str, title: str, lines: list[str]) -> None:
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.03",
            facecolor=colour,
            alpha=0.25,
            edgecolor=colour,
            linewidth=1.5,
            zorder=2,
        )
    )
    ax.text(x, y + h / 2 - 0.1, title, ha="center", va="top", fontsize=10, fontweight="bold", zorder=3)
    for i, line in enumerate(lines):
        ax.text(x, y + h / 2 - 0.42 - 0.24 * i, line, ha="center", va="top", fontsize=8.5, family="monospace", zorder=3)


def _arrow(
    ax: Any,
    start: tuple[float, float],
    end: tuple[float, float],
    colour: str,
    style: str = "-",
    width: float = 1.5,
    rad: float = 0.0,
) -> None:
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        zorder=4,
        arrowprops={
            "arrowstyle": "-|>",
            "color": colour,
            "linestyle": style,
            "linewidth": width,
            "shrinkA": 0,
            "shrinkB": 0,
            "connectionstyle": f"arc3,rad={rad}",
        },
    )


def ice_picture() -> Any:
    """Draw the candidate types of two NATed peers, a STUN Binding, and a packet relayed by TURN."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 6))
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 6)
    ax.axis("off")

    # the two home networks (dashed); each NAT router sits on its network's edge
    for x0, label in ((0.15, "home network A (private addresses)"), (8.1, "home network B (private addresses)")):
        ax.add_patch(plt.Rectangle((x0, 0.2), 3.75, 3.3, fill=False, linestyle="--", edgecolor="#999999"))
        ax.text(x0 + 1.85, 0.3, label, ha="center", fontsize=8, color="#666666")
    _box(ax, 1.25, 2.0, 1.9, 1.0, COLOURS["peer"], "peer A", ["host " + PEER_A["host"]])
    _box(ax, 10.75, 2.0, 1.9, 1.0, COLOURS["peer"], "peer B", ["host " + PEER_B["host"]])
    _box(ax, 3.9, 2.0, 1.6, 1.0, COLOURS["nat"], "NAT A", ["srflx " + PEER_A["srflx"]])
    _box(ax, 8.1, 2.0, 1.6, 1.0, COLOURS["nat"], "NAT B", ["srflx " + PEER_B["srflx"]])
    _box(
        ax,
        6.0,
        5.0,
        3.8,
        1.2,
        COLOURS["turn"],
        "coturn (STUN + TURN)",
        ["relay for A " + PEER_A["relay"], "relay for B " + PEER_B["relay"]],
    )
    _box(ax, 6.0, 0.75, 3.0, 0.8, COLOURS["signaling"], "signaling server (over TLS)", ["offer · answer · candidates"])

    # STUN: "which address do you see me at?"
    _arrow(ax, (1.25, 2.55), (4.05, 5.0), COLOURS["turn"], style=":", width=1.8, rad=-0.25)
    ax.text(
        0.2,
        4.6,
        "STUN Binding request: which address\ndo you see me at?  Answer (XOR-MAPPED-\n"
        "ADDRESS): " + PEER_A["srflx"] + " = A's srflx",
        fontsize=8,
        color=COLOURS["turn"],
    )
    # signaling: descriptions and candidates, never media
    _arrow(ax, (1.25, 1.45), (4.45, 0.75), COLOURS["signaling"], style="--", rad=0.2)
    _arrow(ax, (10.75, 1.45), (7.55, 0.75), COLOURS["signaling"], style="--", rad=-0.2)

    # a packet from B to A through A's relay address: numbered hops
    hops = [
        ((9.75, 2.0), (8.95, 2.0)),
        ((8.1, 2.55), (7.3, 4.35)),
        ((4.7, 4.35), (3.9, 2.55)),
        ((3.05, 2.0), (2.25, 2.0)),
    ]
    for n, (start, end) in enumerate(hops, 1):
        _arrow(ax, start, end, COLOURS["packet"], width=2.5)
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.15)
        ax.text(
            *mid,
            str(n),
            color="white",
            fontsize=8,
            fontweight="bold",
            ha="center",
            va="center",
            zorder=5,
            bbox={"boxstyle": "circle,pad=0.2", "facecolor": COLOURS["packet"], "edgecolor": "none"},
        )
    ax.text(
        6.0,
        3.05,
        "a relayed packet, B → A\n1 B sends to A's relay address\n2 NAT B rewrites the sender\n"
        "3 coturn forwards it (A gave B a permission)\n4 NAT A's mapping lets it in",
        ha="center",
        va="center",
        fontsize=8,
        color=COLOURS["packet"],
    )
    ax.set_title(
        "ICE candidates: host (own interface) · srflx (the NAT's mapping, learned with STUN) · "
        "relay (an address on TURN)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
