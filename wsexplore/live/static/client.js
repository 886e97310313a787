// The browser side of wsexplore: a plain WebSocket client with a log.
// It decides nothing about the protocol; the server captures and dissects.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const MAX_LOG = 500;       // entries kept in the page log (the capture keeps everything)
  const TEXT_PREVIEW = 200;  // characters of a message shown in the log
  const HEX_PREVIEW = 64;    // bytes of a message shown in the log

  // The WebSocket endpoint sits beside this page: "ws" relative to its URL, so the
  // page also works under a path prefix such as jupyter-server-proxy's /proxy/PORT/.
  const endpoint = new URL("ws", location.href);
  endpoint.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  $("url").value = endpoint.href;
  if (/\/proxy\/(absolute\/)?\d+\//.test(location.pathname)) $("proxy-note").hidden = false;

  let ws = null;

  function log(direction, kind, detail) {
    const li = document.createElement("li");
    li.className = direction;
    const time = new Date().toISOString().slice(11, 23);
    li.textContent = `${time} ${direction === "out" ? "→" : direction === "in" ? "←" : "·"} ${kind} ${detail}`;
    li.dataset.direction = direction;
    li.dataset.kind = kind;
    const list = $("log");
    list.prepend(li);
    while (list.childElementCount > MAX_LOG) list.lastElementChild.remove();
  }

  function setState(state) {
    const open = state === "open";
    for (const id of ["send-text", "send-binary", "ping", "close", "disconnect"]) $(id).disabled = !open;
    $("connect").disabled = state !== "closed";
    $("state").textContent = state;
    $("state").className = `state ${state}`;
  }

  function hexToBytes(text) {
    const clean = text.replace(/(^|[\s,:])0x/gi, "$1").replace(/[\s,:]/g, "");
    if (clean.length % 2 || /[^0-9a-f]/i.test(clean)) throw new Error(`not hex: ${text}`);
    const out = new Uint8Array(clean.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
    return out;
  }

  const utf8Length = (text) => new TextEncoder().encode(text).length;
  const textPreview = (text) =>
    JSON.stringify(text.length > TEXT_PREVIEW ? text.slice(0, TEXT_PREVIEW) : text) +
    (text.length > TEXT_PREVIEW ? "…" : "");
  function hexPreview(buf) {
    const bytes = new Uint8Array(buf);
    const shown = Array.from(bytes.subarray(0, HEX_PREVIEW), (b) => b.toString(16).padStart(2, "0")).join(" ");
    return bytes.length > HEX_PREVIEW ? `${shown} …` : shown;
  }

  $("connect").onclick = () => {
    const url = $("url").value;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      log("sys", "error", `${JSON.stringify(url)}: ${e.message}`);
      return;
    }
    ws = sock;
    sock.binaryType = "arraybuffer";
    setState("connecting");
    log("sys", "connecting", sock.url);
    sock.onopen = () => {
      setState("open");
      log("sys", "open", `extensions="${sock.extensions}" protocol="${sock.protocol}"`);
    };
    sock.onmessage = (ev) => {
      if (typeof ev.data === "string") log("in", "text", `${utf8Length(ev.data)} B: ${textPreview(ev.data)}`);
      else log("in", "binary", `${ev.data.byteLength} B: ${hexPreview(ev.data)}`);
    };
    sock.onerror = () => log("sys", "error", "(the browser gives no detail; see the capture)");
    sock.onclose = (ev) => {
      if (ws === sock) setState("closed");
      log("sys", "close", `code=${ev.code} reason=${JSON.stringify(ev.reason)} clean=${ev.wasClean}`);
    };
  };
  $("disconnect").onclick = () => {
    if (!ws) return;
    ws.close();
    setState("closing");
  };
  $("send-text").onclick = () => {
    const text = $("text").value;
    ws.send(text);
    log("out", "text", `${utf8Length(text)} B: ${textPreview(text)}`);
  };
  $("send-binary").onclick = () => {
    try {
      const bytes = hexToBytes($("hex").value);
      ws.send(bytes);
      log("out", "binary", `${bytes.length} B: ${hexPreview(bytes)}`);
    } catch (e) { log("sys", "error", e.message); }
  };
  $("ping").onclick = async () => {
    try {
      const r = await fetch("api/ping", { method: "POST" });
      log("sys", "ping", `${r.ok ? "" : `HTTP ${r.status}: `}${(await r.text()).trim()}`);
    } catch (e) { log("sys", "error", `ping request failed: ${e.message}`); }
  };
  $("close").onclick = () => {
    try {
      ws.close(parseInt($("code").value, 10), $("reason").value);
      setState("closing");
      log("out", "close", `code=${$("code").value} reason=${JSON.stringify($("reason").value)}`);
    } catch (e) { log("sys", "error", e.message); }
  };
  setState("closed");
})();
