// A scriptable Socket.IO client (npm socket.io-client) for the signaling tests.
//
// Reads one JSON command per line on stdin, writes one JSON line per event on stdout:
//   {"op": "connect", "id": "a", "url": "http://127.0.0.1:3000"}  -> {"id":"a","event":"connect","data":sid}
//                                                                    or {"id":"a","event":"connect_error","data":msg}
//   {"op": "emit", "id": "a", "event": "offer", "data": {...}, "n": 1}  (n > 1: a burst, sent at once)
//   {"op": "emit", ..., "ack": true}  -> {"id":"a","event":"$ack","data":event} once the server has handled it
//                                        (the server handles one socket's messages in order: a barrier)
//   {"op": "close", "id": "a"}
// In "data", {"$bytes": n} becomes a binary attachment (a Buffer of n bytes) and
// {"$deep": n} an object nested n levels deep. Received binary comes back as {"$bytes": n}.
const { io } = require(process.env.SIO_CLIENT_DIR ? process.env.SIO_CLIENT_DIR + "/node_modules/socket.io-client" : "socket.io-client");
const readline = require("readline");

const sockets = {};
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    if ("$bytes" in value) return Buffer.alloc(value.$bytes, 7);
    if ("$deep" in value) { let o = {}; for (let i = 0; i < value.$deep; i++) o = { a: o }; return o; }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

function plain(value) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer) return { $bytes: value.byteLength };
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.op === "connect") {
    const s = io(cmd.url, { transports: ["websocket"], reconnection: false, forceNew: true, timeout: 3000,
                            extraHeaders: cmd.headers || {} });
    sockets[cmd.id] = s;
    s.on("connect", () => out({ id: cmd.id, event: "connect", data: s.id }));
    s.on("connect_error", (err) => out({ id: cmd.id, event: "connect_error", data: String(err.message) }));
    s.on("disconnect", (reason) => out({ id: cmd.id, event: "disconnect", data: reason }));
    s.onAny((event, data) => out({ id: cmd.id, event, data: plain(data) }));
  } else if (cmd.op === "emit") {
    const data = revive(cmd.data);
    for (let i = 0; i < (cmd.n || 1); i++) {
      if (cmd.ack) sockets[cmd.id].emit(cmd.event, data, () => out({ id: cmd.id, event: "$ack", data: cmd.event }));
      else sockets[cmd.id].emit(cmd.event, data);
    }
    out({ id: cmd.id, event: "$sent", data: cmd.n || 1 });
  } else if (cmd.op === "close") {
    sockets[cmd.id].close();
  }
});
process.stdin.on("end", () => { for (const s of Object.values(sockets)) s.close(); process.exit(0); });
