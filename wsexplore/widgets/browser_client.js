// The BrowserClient's page side: a plain WebSocket from this browser page, with
// a log. The URL and the note about which path is in use come from Python; this
// code reports the page's address and whether the Jupyter server that served the
// page runs wsexplore's relay (its extension says so in the page config), runs the
// socket and draws.

const MAX_LOG = 200;      // log entries kept in the page
const SYNCED_LOG = 50;    // log entries reported to the kernel (the "history" trait)
const SYNC_DELAY = 100;   // ms: at most ten reports a second, however fast messages come
const TEXT_PREVIEW = 200; // characters of a message shown in the log
const HEX_PREVIEW = 64;   // bytes of a message shown in the log
const RESOLVE_WAIT = 3000; // ms to wait for the kernel to choose the URL for this page

// One socket per widget model, shared by all its views (a widget shown twice
// must not open two connections); keyed by the model's _instance.
const clients = (globalThis.__wsexploreBrowserClients ??= new Map());

function pageConfig() {
  const config = document.getElementById("jupyter-config-data");
  if (!config) return {};
  try {
    return JSON.parse(config.textContent) || {};
  } catch (e) {
    return {};
  }
}

// Where this page is, and whether the Jupyter server that served it runs wsexplore's relay:
// the extension puts the relay's path in the page config (JupyterLab, Notebook 7), so no
// request is needed to find out.
function pageInfo() {
  const config = pageConfig();
  let base = config.baseUrl || "";
  if (!base && document.body && document.body.dataset.baseUrl) base = document.body.dataset.baseUrl;
  return { page_url: window.location.href, base_url: base, relay: config.wsexploreRelay ? "yes" : "no" };
}

// Tell the kernel all three in one update.
function report(model) {
  const { page_url, base_url, relay } = pageInfo();
  if (page_url !== model.get("page_url") || base_url !== model.get("base_url") || relay !== model.get("relay")) {
    model.set("page_url", page_url);
    model.set("base_url", base_url);
    model.set("relay", relay);
    model.save_changes();
  }
}

const utf8Length = (text) => new TextEncoder().encode(text).length;
function textPreview(text) {
  const cut = text.length > TEXT_PREVIEW;
  return JSON.stringify(cut ? text.slice(0, TEXT_PREVIEW) : text) + (cut ? "…" : "");
}
function hexPreview(buffer) {
  const bytes = new Uint8Array(buffer);
  const shown = Array.from(bytes.subarray(0, HEX_PREVIEW), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.length > HEX_PREVIEW ? `${shown} …` : shown;
}
function hexToBytes(text) {
  const clean = text.replace(/(^|[\s,:])0x/gi, "$1").replace(/[\s,:]/g, "");
  if (clean.length % 2 || /[^0-9a-f]/i.test(clean)) throw new Error(`not hex: ${JSON.stringify(text)}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

class Client {
  constructor(model) {
    this.model = model;
    this.ws = null;
    this.entries = [];
    this.total = 0; // entries ever logged
    this.views = new Set();
    this.syncTimer = null;
  }

  changed() {
    for (const view of this.views) view();
  }

  sync() {
    if (this.syncTimer !== null) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      this.model.set("history", this.entries.slice(-SYNCED_LOG));
      this.model.save_changes();
    }, SYNC_DELAY);
  }

  log(dir, kind, detail) {
    const time = new Date().toISOString().slice(11, 23);
    this.entries.push({ time, dir, kind, detail });
    this.total += 1;
    if (this.entries.length > MAX_LOG) this.entries.splice(0, this.entries.length - MAX_LOG);
    this.sync();
    this.changed();
  }

  setStatus(status) {
    this.model.set("status", status);
    this.model.save_changes();
    this.changed();
  }

  status() {
    return this.model.get("status");
  }

  // The kernel chooses the URL once it knows this page's address and whether the relay
  // answered: wait for that (briefly) so that a connect() run in the cell that made the
  // widget uses it.
  resolvedUrl() {
    report(this.model); // JupyterLab changes its address as tabs change
    const ready = () => this.model.get("override") || this.model.get("resolved_for") === this.model.get("page_url");
    if (ready()) return Promise.resolve(this.model.get("url"));
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.model.off("change:resolved_for", check);
        resolve(this.model.get("url"));
      };
      const check = () => { if (ready()) done(); };
      const timer = setTimeout(done, RESOLVE_WAIT);
      this.model.on("change:resolved_for", check);
    });
  }

  async connect() {
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED) {
      this.log("sys", "error", "already connected; disconnect first");
      return;
    }
    this.setStatus("connecting");
    const url = await this.resolvedUrl();
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      this.setStatus("closed");
      this.log("sys", "error", `${JSON.stringify(url)}: ${e.message}`);
      return;
    }
    this.ws = sock;
    sock.binaryType = "arraybuffer";
    this.log("sys", "connecting", `${sock.url} (${this.model.get("mode")})`);
    sock.onopen = () => {
      if (this.ws !== sock) return;
      this.setStatus("open");
      this.log("sys", "open", `extensions=${JSON.stringify(sock.extensions)} protocol=${JSON.stringify(sock.protocol)}`);
    };
    sock.onmessage = (event) => {
      if (typeof event.data === "string") {
        this.log("in", "text", `${utf8Length(event.data)} B: ${textPreview(event.data)}`);
      } else {
        this.log("in", "binary", `${event.data.byteLength} B: ${hexPreview(event.data)}`);
      }
    };
    sock.onerror = () => this.log("sys", "error", "the browser gives no detail; see the capture");
    sock.onclose = (event) => {
      if (this.ws === sock) {
        this.ws = null;
        this.setStatus("closed");
      }
      this.log("sys", "close", `code=${event.code} reason=${JSON.stringify(event.reason)} clean=${event.wasClean}`);
    };
  }

  open() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return this.ws;
    this.log("sys", "error", "not connected");
    return null;
  }

  sendText(text) {
    const ws = this.open();
    if (!ws) return;
    ws.send(text);
    this.log("out", "text", `${utf8Length(text)} B: ${textPreview(text)}`);
  }

  sendBinary(bytes) {
    const ws = this.open();
    if (!ws) return;
    ws.send(bytes);
    this.log("out", "binary", `${bytes.byteLength} B: ${hexPreview(bytes)}`);
  }

  // Browsers cannot send pings: the kernel asks the server to (see BrowserClient.ping).
  ping() {
    this.model.send({ action: "ping" });
  }

  close(code, reason) {
    const ws = this.open();
    if (!ws) return;
    try {
      ws.close(code, reason);
      this.setStatus("closing");
      this.log("out", "close", `code=${code} reason=${JSON.stringify(reason)}`);
    } catch (e) {
      this.log("sys", "error", `${e.name}: ${e.message} (browsers may close with 1000 or 3000-4999 only)`);
    }
  }

  disconnect() {
    if (!this.ws) {
      this.log("sys", "error", "not connected");
      return;
    }
    this.ws.close();
    this.setStatus("closing");
    this.log("out", "close", "no code (an empty close frame)");
  }

  handle(msg, buffers) {
    if (msg.event === "log") return this.log(msg.dir, msg.kind, msg.detail);
    switch (msg.action) {
      case "connect": return this.connect();
      case "disconnect": return this.disconnect();
      case "send_text": return this.sendText(msg.text);
      case "send_binary": {
        const view = buffers && buffers[0];
        const bytes = view ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice() : new Uint8Array();
        return this.sendBinary(bytes);
      }
      case "close": return this.close(msg.code, msg.reason);
      default: return this.log("sys", "error", `unknown action ${JSON.stringify(msg.action)}`);
    }
  }

  dispose() {
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    if (this.ws) this.ws.close(1001, "widget closed");
    this.ws = null;
  }
}

function clientFor(model) {
  const key = model.get("_instance");
  let client = clients.get(key);
  if (!client) {
    client = new Client(model);
    clients.set(key, client);
  }
  return client;
}

function initialize({ model }) {
  const client = clientFor(model);
  const onMessage = (msg, buffers) => client.handle(msg, buffers);
  model.on("msg:custom", onMessage);
  report(model);
  return () => {
    model.off("msg:custom", onMessage);
    client.dispose();
    clients.delete(model.get("_instance"));
  };
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function input(className, placeholder, value = "") {
  const node = el("input", className);
  node.type = "text";
  node.placeholder = placeholder;
  node.value = value;
  return node;
}

function render({ model, el: root }) {
  const client = clientFor(model);
  root.classList.add("wsx-client");

  const head = el("div", "wsx-head");
  const status = el("span", "wsx-status");
  const mode = el("span", "wsx-mode");
  const url = input("wsx-url", "ws://127.0.0.1:PORT/");
  url.title = "the WebSocket URL; edit to override, empty to choose again";
  head.append(status, mode, url);
  const note = el("div", "wsx-note");

  const controls = el("div", "wsx-controls");
  const connect = el("button", "wsx-connect", "connect");
  const disconnect = el("button", "wsx-disconnect", "disconnect");
  const text = input("wsx-text", "text to send", "Hello, WebSocket");
  const sendText = el("button", "wsx-send-text", "send text");
  const hex = input("wsx-hex", "hex bytes: 01 02 ff", "01 02 03");
  const sendBinary = el("button", "wsx-send-binary", "send binary");
  const ping = el("button", "wsx-ping", "ping (server)");
  ping.title = "browsers cannot send pings: this asks the server to ping every open connection";
  const code = input("wsx-code", "code", "1000");
  code.size = 5;
  const reason = input("wsx-reason", "reason", "bye");
  const close = el("button", "wsx-close", "close");
  const groups = [[connect, disconnect], [text, sendText], [hex, sendBinary], [ping], [code, reason, close]];
  for (const group of groups) {
    const span = el("span", "wsx-group");
    span.append(...group);
    controls.append(span);
  }
  const log = el("ol", "wsx-log");
  root.append(head, note, controls, log);

  function draw() {
    const state = model.get("status");
    status.textContent = state;
    status.className = `wsx-status wsx-state-${state}`;
    mode.textContent = model.get("mode");
    mode.className = `wsx-mode wsx-mode-${model.get("mode")}`;
    if (document.activeElement !== url) url.value = model.get("url");
    note.textContent = model.get("note");
    note.className = `wsx-note wsx-note-${model.get("mode")}`;
    const isOpen = state === "open";
    for (const button of [disconnect, sendText, sendBinary, close]) button.disabled = !isOpen;
    connect.disabled = state === "connecting" || state === "open" || state === "closing";
  }

  let shown = 0; // entries ever logged that this view has drawn
  function drawLog() {
    const fresh = Math.min(client.total - shown, client.entries.length);
    for (const entry of client.entries.slice(client.entries.length - fresh)) {
      const li = el("li", `wsx-log-${entry.dir}`);
      li.dataset.dir = entry.dir;
      li.dataset.kind = entry.kind;
      const arrow = entry.dir === "out" ? "→" : entry.dir === "in" ? "←" : "·";
      li.textContent = `${entry.time} ${arrow} ${entry.kind} ${entry.detail}`;
      log.prepend(li); // newest on top
    }
    while (log.childElementCount > MAX_LOG) log.lastElementChild.remove();
    shown = client.total;
  }

  const update = () => {
    draw();
    drawLog();
  };
  client.views.add(update);

  connect.addEventListener("click", () => client.connect());
  disconnect.addEventListener("click", () => client.disconnect());
  sendText.addEventListener("click", () => client.sendText(text.value));
  text.addEventListener("keydown", (event) => { if (event.key === "Enter" && !sendText.disabled) client.sendText(text.value); });
  sendBinary.addEventListener("click", () => {
    try {
      client.sendBinary(hexToBytes(hex.value));
    } catch (e) {
      client.log("sys", "error", e.message);
    }
  });
  ping.addEventListener("click", () => client.ping());
  close.addEventListener("click", () => client.close(parseInt(code.value, 10), reason.value));
  url.addEventListener("change", () => {
    model.set("override", url.value.trim() === model.get("url") ? model.get("override") : url.value.trim());
    model.save_changes();
  });

  for (const name of ["status", "mode", "url", "note"]) model.on(`change:${name}`, draw);
  update();

  return () => {
    client.views.delete(update);
    for (const name of ["status", "mode", "url", "note"]) model.off(`change:${name}`, draw);
  };
}

export default { initialize, render };
