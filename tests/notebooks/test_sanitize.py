"""sanitize.cfg's chapter 5 sanitisers: where the kernel runs is hidden, what is fixed is still compared.

Notebook 05 runs natively (everything on 127.0.0.1) and in the lab container (coturn is another
container, the kernel has the container's address). The lines below are what each printed.
"""

import re
from pathlib import Path

from nbval.plugin import get_sanitize_patterns

PATTERNS = get_sanitize_patterns((Path(__file__).parent / "sanitize.cfg").read_text())


def sanitize(text: str) -> str:
    for regex, replace in PATTERNS:  # in the file's order, as nbval applies them
        text = re.sub(regex, replace, text)
    return text


NATIVE = {
    "gathered": " host  127.0.0.1:32955  this machine's own interface\n"
    "srflx  127.0.0.1:32955  the address the STUN server saw\n"
    "relay  127.0.0.1:61499  an address on the TURN server, forwarded to us\n",
    "relay pair": "caller: {'local': 'relay 127.0.0.1:53145', 'remote': 'relay 127.0.0.1:52924', 'relayed': True}",
    "allocated": "coturn accepted them and allocated a relay address: 127.0.0.1:63316",
    "refused": "an hour-old credential: TURN at 127.0.0.1:3478 refused the credentials (401)",
}
IN_THE_LAB_CONTAINER = {
    "gathered": " host  10.89.0.12:50477 this machine's own interface\n"
    "srflx  10.89.0.12:50477 the address the STUN server saw\n"
    "relay  10.89.0.2:49164  an address on the TURN server, forwarded to us\n",
    "relay pair": "caller: {'local': 'relay 10.89.0.2:49165', 'remote': 'relay 10.89.0.2:49160', 'relayed': True}",
    "allocated": "coturn accepted them and allocated a relay address: 10.89.0.2:49164",
    "refused": "an hour-old credential: TURN at coturn:3478 refused the credentials (401)",
}


def test_the_lab_containers_addresses_read_as_the_native_ones():
    for key, native in NATIVE.items():
        assert sanitize(IN_THE_LAB_CONTAINER[key]) == sanitize(native), key


def test_what_is_fixed_is_still_compared():
    host_pair = "nominated pair: {'local': 'host 127.0.0.1:45234', 'remote': 'host 127.0.0.1:32774', 'relayed': False}"
    assert sanitize(host_pair) != sanitize(host_pair.replace("host 127.0.0.1", "host 10.89.0.12"))
    assert sanitize(NATIVE["refused"]) != sanitize(NATIVE["refused"].replace(":3478", ":3479"))
    unreachable = "TURN at 127.0.0.1:9 is unreachable: nothing answers STUN at 127.0.0.1:9 (connection refused)"
    assert sanitize(unreachable) == unreachable
    assert sanitize(NATIVE["gathered"]).splitlines()[0].endswith("this machine's own interface")
    assert sanitize(NATIVE["gathered"].replace("srflx", "prflx")) != sanitize(NATIVE["gathered"])
