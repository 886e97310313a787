// The Explorer's table: it draws the rows Python computed and reports the
// selected record and paging requests. No protocol logic lives here.

const COLUMNS = [
  ["#", "wsx-c-seq"],
  ["time", "wsx-c-time"],
  ["conn", "wsx-c-conn"],
  ["dir", "wsx-c-dir"],
  ["kind / opcode", "wsx-c-op"],
  ["FIN", "wsx-c-bit"],
  ["RSV", "wsx-c-rsv"],
  ["MASK", "wsx-c-bit"],
  ["length", "wsx-c-len"],
  ["preview", "wsx-c-preview"],
];
const ARROWS = { in: "→ in", out: "← out", "": "" };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function bit(value) {
  return value === null || value === undefined ? "" : String(value);
}

function render({ model, el: root }) {
  root.classList.add("wsx-explorer");

  const bar = el("div", "wsx-bar");
  const counters = el("span", "wsx-counters");
  const range = el("span", "wsx-range");
  const older = el("button", "wsx-older", "◀");
  older.title = "older rows";
  const newer = el("button", "wsx-newer", "▶");
  newer.title = "newer rows";
  const latest = el("button", "wsx-latest", "latest");
  const followLabel = el("label", "wsx-follow");
  const follow = el("input");
  follow.type = "checkbox";
  followLabel.append(follow, " follow");
  bar.append(counters, range, older, newer, latest, followLabel);

  const scroller = el("div", "wsx-scroll");
  scroller.tabIndex = 0;
  const table = el("table", "wsx-table");
  const head = el("thead");
  const headRow = el("tr");
  for (const [title, cls] of COLUMNS) headRow.append(el("th", cls, title));
  head.append(headRow);
  const body = el("tbody");
  table.append(head, body);
  scroller.append(table);
  root.append(bar, scroller);

  function drawCounters() {
    const c = model.get("counters") || {};
    const parts = [
      `${c.records ?? 0} records`,
      `${c.frames ?? 0} frames`,
      `${c.bytes ?? 0} B of frames`,
      `${c.connections ?? 0} connections`,
      `${c.dropped ?? 0} dropped`,
    ];
    counters.textContent = parts.join(" · ");
    counters.classList.toggle("wsx-dropping", (c.dropped ?? 0) > 0);
  }

  function drawPager() {
    const total = model.get("total");
    const first = model.get("first_index");
    const shown = model.get("rows").length;
    range.textContent = shown ? `rows ${first + 1}–${first + shown} of ${total}` : `0 of ${total} rows`;
    older.disabled = first <= 0;
    newer.disabled = model.get("follow");
    latest.disabled = model.get("follow");
    follow.checked = model.get("follow");
  }

  function drawRows() {
    const atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 4;
    const selected = model.get("selected");
    const fragment = document.createDocumentFragment();
    for (const row of model.get("rows")) {
      const tr = el("tr", `wsx-row wsx-kind-${row.kind}`);
      tr.dataset.seq = row.seq;
      tr.dataset.direction = row.dir;
      tr.dataset.opcode = row.op;
      tr.dataset.kind = row.kind;
      if (row.fin !== null) tr.dataset.fin = row.fin;
      if (row.mask !== null) tr.dataset.mask = row.mask;
      if (row.op) tr.classList.add(`wsx-op-${row.op}`);
      if (row.dir) tr.classList.add(`wsx-dir-${row.dir}`);
      if (row.err) {
        tr.classList.add("wsx-violation");
        tr.title = row.err;
      }
      if (row.inflated !== null && row.inflated !== undefined) {
        tr.classList.add("wsx-compressed"); // permessage-deflate: the preview is the inflated message
        tr.dataset.inflated = row.inflated;
      }
      if (row.via) {
        // How the connection arrived (its handshake's via): every record of it says so.
        tr.dataset.via = row.via;
        if (row.reframed) tr.classList.add("wsx-reframed"); // a proxy's bytes, not the browser's
      }
      if (row.seq === selected) tr.classList.add("wsx-selected");
      const op = row.op ? (row.kind === "frame" ? row.op : `${row.kind} ${row.op}`) : row.kind;
      const cells = [
        row.seq,
        row.time,
        row.conn === null ? "" : row.via ? `#${row.conn} ${row.reframed ? "\u26a0" : "\u00b7"} ${row.via}` : `#${row.conn}`,
        ARROWS[row.dir] ?? row.dir,
        op,
        bit(row.fin),
        row.rsv,
        bit(row.mask),
        row.len === null ? "" : row.len,
        row.err ? `${row.preview}  !! ${row.err}` : row.preview,
      ];
      cells.forEach((text, i) => {
        const td = el("td", COLUMNS[i][1], text);
        if (i === 1) td.title = row.clock;
        if (i === 2 && row.via) {
          td.classList.add("wsx-via");
          td.title = row.via_note;
        }
        tr.append(td);
      });
      fragment.append(tr);
    }
    body.replaceChildren(fragment);
    if (model.get("follow") && atBottom) scroller.scrollTop = scroller.scrollHeight;
    drawPager();
  }

  function drawSelection() {
    const selected = model.get("selected");
    for (const tr of body.children) tr.classList.toggle("wsx-selected", Number(tr.dataset.seq) === selected);
  }

  function select(seq) {
    model.set("selected", seq);
    model.save_changes();
  }

  body.addEventListener("click", (event) => {
    const tr = event.target.closest("tr.wsx-row");
    if (tr) select(Number(tr.dataset.seq));
  });
  scroller.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const rows = Array.from(body.children);
    if (!rows.length) return;
    const at = rows.findIndex((tr) => Number(tr.dataset.seq) === model.get("selected"));
    const next = at < 0 ? (event.key === "ArrowDown" ? 0 : rows.length - 1)
      : Math.max(0, Math.min(rows.length - 1, at + (event.key === "ArrowDown" ? 1 : -1)));
    select(Number(rows[next].dataset.seq));
    rows[next].scrollIntoView({ block: "nearest" });
    event.preventDefault();
  });
  older.addEventListener("click", () => model.send({ page: "older" }));
  newer.addEventListener("click", () => model.send({ page: "newer" }));
  latest.addEventListener("click", () => model.send({ page: "latest" }));
  follow.addEventListener("change", () => {
    if (follow.checked) model.send({ page: "latest" });
    else {
      model.set("follow", false);
      model.save_changes();
    }
  });

  const listeners = [
    ["change:rows", drawRows],
    ["change:selected", drawSelection],
    ["change:counters", drawCounters],
    ["change:total", drawPager],
    ["change:first_index", drawPager],
    ["change:follow", drawPager],
  ];
  for (const [event, handler] of listeners) model.on(event, handler);
  drawCounters();
  drawRows();
  scroller.scrollTop = scroller.scrollHeight;

  return () => {
    for (const [event, handler] of listeners) model.off(event, handler);
  };
}

export default { render };
