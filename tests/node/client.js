// A Node `ws` client for the tap tests: node client.js URL plain|deflate
// Sends a text, a binary and a fragmented-size text message, prints each echo as one JSON line, then closes.
"use strict";
const WebSocket = require("ws");

const [url, mode] = process.argv.slice(2);
const ws = new WebSocket(url, { perMessageDeflate: mode === "deflate" });
const messages = ["hello from node", Buffer.from([0, 1, 2, 253, 254, 255]), "ü".repeat(40000)];
let next = 0;

function sendNext() {
  if (next < messages.length) {
    ws.send(messages[next++]);
  } else {
    ws.close(1000, "node done");
  }
}

ws.on("open", () => {
  console.log(JSON.stringify({ event: "open", extensions: ws.extensions }));
  sendNext();
});
ws.on("message", (data, isBinary) => {
  console.log(JSON.stringify({ event: "message", binary: isBinary,
                               data: isBinary ? data.toString("hex") : data.toString("utf8") }));
  sendNext();
});
ws.on("close", (code, reason) => {
  console.log(JSON.stringify({ event: "close", code, reason: reason.toString() }));
});
ws.on("error", (err) => {
  console.log(JSON.stringify({ event: "error", message: String(err) }));
  process.exitCode = 1;
});
