// FrameView: draws the fields that Python computed; reports edits (a flipped bit, typed hex).
// No protocol knowledge lives here: which bits form which field, what they mean and what
// rule they break all come from the kernel's dissector (wsexplore.protocol.dissector).

const HEX_EDIT_LIMIT = 4096; // bytes: above this the hex box is not offered

function bytesOf(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return Uint8Array.from(value);
  return new Uint8Array(0);
}

const hex2 = (b) => b.toString(16).padStart(2, "0");
const printable = (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".");

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "style") Object.assign(node.style, value);
      else if (key === "data") for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function bitRange(f) {
  const last = f.start_bit + f.bit_width - 1;
  return f.bit_width === 1 ? `bit ${f.start_bit}` : `bits ${f.start_bit}-${last}`;
}

export default {
  render({ model, el }) {
    el.classList.add("wsx-frameview");
    let selected = null; // name of the clicked field
    let hovered = null; // name of the field under the pointer
    let hexDraft = null; // text typed in the hex box and not applied yet
    let pending = false;

    const fieldByName = () => new Map((model.get("fields") || []).map((f) => [f.name, f]));

    function infoBox() {
      const fields = fieldByName();
      const f = fields.get(hovered) || fields.get(selected);
      if (!f) {
        return h("div", { class: "wsx-info wsx-info-empty", text: "Point at a bit or a label to see its field." });
      }
      const width = f.present === f.bit_width ? `${f.bit_width}` : `${f.present} of ${f.bit_width}`;
      return h(
        "div",
        { class: "wsx-info", data: { field: f.name } },
        h("span", { class: "wsx-swatch", style: { background: f.colour } }),
        h("b", { text: f.name }),
        ` (${bitRange(f)}, ${width} bit${f.bit_width === 1 ? "" : "s"}) = `,
        h("code", { text: f.display }),
        h("div", { class: "wsx-meaning", text: f.meaning }),
        h("div", { class: "wsx-description", text: f.description }),
        h("div", { class: "wsx-rfc", text: `RFC 6455 section ${f.rfc}` }),
      );
    }

    function grid(data, fields, err) {
      const rowBits = model.get("bit_layout") === "rfc" ? 32 : 8;
      const maxBytes = model.get("max_bytes");
      const shownBits = 8 * Math.min(data.length, maxBytes);
      const leaves = fields.filter((f) => f.leaf);
      const owner = new Array(shownBits).fill(null);
      for (const f of leaves) {
        const end = Math.min(f.start_bit + f.present, shownBits);
        for (let i = f.start_bit; i < end; i++) owner[i] = f;
      }
      const errBit = err ? err.highlight_bit : null;
      const errField = err ? err.field : null;
      const columns = `4.5em repeat(${rowBits}, 1.55em) auto auto`;

      const box = h("div", { class: `wsx-grid wsx-layout-${rowBits === 32 ? "rfc" : "bytes"}` });
      const ruler = h("div", { class: "wsx-ruler", style: { gridTemplateColumns: columns } }, h("span"));
      for (let i = 0; i < rowBits; i++) ruler.append(h("span", { text: String(i) }));
      ruler.append(h("span", { class: "wsx-hexcol", text: "hex" }), h("span", { class: "wsx-ascii", text: "ascii" }));
      box.append(ruler);

      for (let row = 0; row < shownBits; row += rowBits) {
        const end = Math.min(row + rowBits, shownBits);
        const first = row / 8;
        const last = end / 8;
        const line = h("div", { class: "wsx-row", style: { gridTemplateColumns: columns }, data: { offset: first } });
        line.append(h("span", { class: "wsx-offset", text: `${first}` }));
        for (let i = row; i < end; i++) {
          const f = owner[i];
          const bit = (data[i >> 3] >> (7 - (i & 7))) & 1;
          let cls = "wsx-bit";
          if (!f) cls += " wsx-unlabelled";
          if (f && f.name === errField) cls += " wsx-error-field";
          if (i === errBit) cls += " wsx-error";
          if (f && selected !== null && (f.name === selected || f.parent === selected)) cls += " wsx-selected";
          line.append(
            h("span", {
              class: cls,
              text: String(bit),
              style: f ? { background: f.colour } : null,
              title: f ? `${f.name}, bit ${i}: ${f.display}` : `bit ${i}: after the frame`,
              data: f ? { bit: i, field: f.name } : { bit: i },
            }),
          );
        }
        for (let i = end; i < row + rowBits; i++) line.append(h("span", { class: "wsx-pad" }));
        const bytes = Array.from(data.subarray(first, last));
        line.append(
          h("span", { class: "wsx-hexcol", text: bytes.map(hex2).join(" ") }),
          h("span", { class: "wsx-ascii", text: bytes.map(printable).join("") }),
        );
        box.append(line);

        // Labels under the row: one wsx-label per field where it starts, continuations after.
        const labels = h("div", { class: "wsx-labels", style: { gridTemplateColumns: columns } });
        let any = false;
        for (const f of leaves) {
          const lo = Math.max(f.start_bit, row);
          const hi = Math.min(f.start_bit + f.present, end);
          if (lo >= hi) continue;
          const starts = lo === f.start_bit;
          if (starts) any = true;
          const span = hi - lo;
          let cls = starts ? "wsx-label" : "wsx-label-cont";
          if (span === 1) cls += " wsx-narrow";
          if (f.name === errField) cls += " wsx-error-label";
          labels.append(
            h("span", {
              class: cls,
              text: starts ? f.label : "\u2026",
              title: `${f.name} (${bitRange(f)}): ${f.meaning}`,
              style: { gridColumn: `${2 + lo - row} / span ${span}`, borderColor: f.colour },
              data: { field: f.name },
            }),
          );
        }
        if (any) box.append(labels); // rows that only continue a field are left unlabelled: the colour says it
        if (errBit !== null && errBit >= row && errBit < end) {
          box.append(
            h(
              "div",
              { class: "wsx-error-note", style: { paddingLeft: `calc(4.5em + ${(errBit - row) * 1.55}em)` } },
              `\u25b2 ${err.field}: ${err.kind}`,
            ),
          );
        }
      }
      const after = data.length - model.get("frame_size");
      if (after > 0 && fields.length) {
        box.append(
          h("div", {
            class: "wsx-after",
            text: `${after} byte${after === 1 ? "" : "s"} after the frame (from byte ${model.get("frame_size")}): not part of it`,
          }),
        );
      }
      const more = data.length - Math.min(data.length, maxBytes);
      if (more > 0) {
        box.append(h("div", { class: "wsx-more-bytes", text: `${more} more byte${more === 1 ? "" : "s"} not drawn` }));
      }
      return box;
    }

    function maskingPanel() {
      const total = model.get("masking_total");
      if (!total) return null;
      const rows = model.get("masking") || [];
      const page = model.get("masking_page");
      const size = model.get("masking_page_size");
      const table = h(
        "table",
        { class: "wsx-masking-table" },
        h(
          "tr",
          null,
          ...["i", "masked", "key[i mod 4]", "payload", "char"].map((t) => h("th", { text: t })),
        ),
      );
      for (const r of rows) {
        table.append(
          h(
            "tr",
            { class: "wsx-masking-row", data: { index: r.index } },
            h("td", { text: String(r.index) }),
            h("td", { text: hex2(r.masked) }),
            h("td", { text: `^ ${hex2(r.key)} [${r.key_index}]` }),
            h("td", { text: `= ${hex2(r.result)}` }),
            h("td", { text: r.char }),
          ),
        );
      }
      const first = page * size;
      const last = Math.min(first + size, total);
      const nav = h("div", { class: "wsx-masking-nav" }, `payload bytes ${first}-${last - 1} of ${total}`);
      if (page > 0) {
        nav.append(
          h("button", {
            class: "wsx-prev",
            text: "\u25c0 previous",
            onclick: () => {
              model.set("masking_page", page - 1);
              model.save_changes();
            },
          }),
        );
      }
      if (last < total) {
        nav.append(
          h("button", {
            class: "wsx-more",
            text: `more (${total - last}) \u25b6`,
            onclick: () => {
              model.set("masking_page", page + 1);
              model.save_changes();
            },
          }),
        );
      }
      return h(
        "details",
        { class: "wsx-masking", open: true },
        h("summary", { text: "Masking (RFC 6455 section 5.3): payload byte i = masked byte i XOR key byte i mod 4" }),
        table,
        nav,
      );
    }

    // permessage-deflate (RFC 7692): the kernel's lines (as in the text diagram), a ratio bar, the message.
    function deflatePanel() {
      const params = model.get("deflate_params");
      if (!model.get("compressed")) {
        if (!params) return null;
        return h("div", {
          class: "wsx-deflate wsx-deflate-plain",
          text: `permessage-deflate negotiated (${params}): this frame carries no compressed data`,
        });
      }
      const lines = model.get("compression") || [];
      const size = model.get("inflated_size");
      const ratio = model.get("compression_ratio");
      const text = model.get("inflated_text");
      const panel = h(
        "details",
        { class: "wsx-deflate", open: true },
        h("summary", { text: lines[0] || "permessage-deflate (RFC 7692)" }),
        params ? h("div", { class: "wsx-deflate-params", text: `negotiated: ${params}` }) : null,
        h("pre", { class: "wsx-deflate-lines", text: lines.slice(1).join("\n") }),
      );
      if (ratio !== null && ratio !== undefined) {
        const pct = Math.max(0.5, Math.min(100, ratio * 100));
        panel.append(
          h(
            "div",
            { class: "wsx-ratio", title: `${model.get("compressed_size")} B on the wire for ${size} B of message` },
            h("div", { class: "wsx-ratio-inflated", text: `inflated ${size} B` }),
            h("div", { class: "wsx-ratio-compressed", style: { width: `${pct}%` } }),
            h("div", { class: "wsx-ratio-label", text: `on the wire ${model.get("compressed_size")} B (${Math.round(ratio * 100)}%)` }),
          ),
        );
      }
      if (size !== null && size !== undefined) {
        panel.append(
          h(
            "div",
            { class: "wsx-inflated", data: { size } },
            h("div", { class: "wsx-inflated-head", text: `inflated message, ${size} B${text !== null ? ", text" : ""}:` }),
            text !== null
              ? h("pre", { class: "wsx-inflated-text", text })
              : h("code", { class: "wsx-inflated-hex", text: model.get("inflated_hex") || "(empty)" }),
          ),
        );
      }
      return panel;
    }

    function fieldTable(fields, err) {
      const table = h(
        "table",
        { class: "wsx-fields" },
        h("tr", null, ...["", "bit", "width", "field", "value", "meaning", "RFC"].map((t) => h("th", { text: t }))),
      );
      for (const f of fields) {
        let cls = "wsx-field-row";
        if (err && f.name === err.field) cls += " wsx-error-row";
        if (f.name === selected) cls += " wsx-selected";
        const width = f.present === f.bit_width ? `${f.bit_width}` : `${f.present}/${f.bit_width}`;
        table.append(
          h(
            "tr",
            { class: cls, data: { field: f.name } },
            h("td", null, h("span", { class: "wsx-swatch", style: { background: f.colour } })),
            h("td", { text: String(f.start_bit) }),
            h("td", { text: width }),
            h("td", { class: f.parent ? "wsx-child" : null, text: f.name }),
            h("td", { class: "wsx-value", text: f.display }),
            h("td", { text: f.meaning }),
            h("td", { text: f.rfc }),
          ),
        );
      }
      return table;
    }

    function hexEditor(data) {
      if (!model.get("editable")) return null;
      if (data.length > HEX_EDIT_LIMIT) {
        return h("div", { class: "wsx-hex-edit", text: `hex editing is offered up to ${HEX_EDIT_LIMIT} bytes` });
      }
      const area = h("textarea", { class: "wsx-hex-input", rows: 3, spellcheck: "false" });
      area.value = hexDraft !== null ? hexDraft : Array.from(data).map(hex2).join(" ");
      area.addEventListener("input", () => {
        hexDraft = area.value;
      });
      const apply = h("button", {
        class: "wsx-hex-apply",
        text: "apply hex",
        onclick: () => model.send({ type: "hex", text: area.value }),
      });
      const problem = model.get("hex_error");
      return h(
        "div",
        { class: "wsx-hex-edit" },
        h("div", { class: "wsx-hint", text: "Click a bit to flip it, or type the bytes as hex:" }),
        area,
        apply,
        problem ? h("div", { class: "wsx-hex-error", text: problem }) : null,
      );
    }

    function build() {
      const data = bytesOf(model.get("data"));
      const fields = model.get("fields") || [];
      const err = model.get("error");
      const root = h("div", { class: "wsx-root" + (model.get("editable") ? " wsx-editable" : "") });
      const role = model.get("role");
      const via = model.get("via");
      if (via) {
        // How this frame's connection arrived, from its handshake: a proxy's bits are not the browser's.
        const reframed = model.get("reframed");
        root.append(
          h(
            "div",
            { class: "wsx-via" + (reframed ? " wsx-reframed" : ""), data: { via } },
            reframed ? "\u26a0 the proxy's frame, not the browser's: " : "",
            model.get("via_note"),
          ),
        );
      }
      root.append(
        h(
          "div",
          { class: "wsx-summary" },
          model.get("summary"),
          h("span", { class: "wsx-role", text: role ? ` (read by a ${role})` : " (not judged by role)" }),
        ),
      );
      const toggle = h("button", {
        class: "wsx-layout-toggle",
        text: model.get("bit_layout") === "rfc" ? "one byte a row" : "32 bits a row (RFC 6455 figure)",
        onclick: () => {
          model.set("bit_layout", model.get("bit_layout") === "rfc" ? "bytes" : "rfc");
          model.save_changes();
        },
      });
      root.append(h("div", { class: "wsx-toolbar" }, toggle));
      root.append(grid(data, fields, err));
      if (err) {
        root.append(
          h(
            "div",
            { class: "wsx-error-message", data: { field: err.field || "", bit: err.bit_offset ?? "" } },
            h("b", { text: `${err.kind}` }),
            err.bit_offset !== null ? ` at bit ${err.bit_offset}` : "",
            err.field ? ` (${err.field})` : "",
            `: ${err.message}`,
            err.rfc ? ` [RFC 6455 section ${err.rfc}]` : "",
            ` \u2192 close code ${err.close_code}`,
          ),
        );
      } else {
        root.append(h("div", { class: "wsx-ok", text: "no violation" }));
      }
      root.append(infoBox());
      const deflate = deflatePanel();
      if (deflate) root.append(deflate);
      const masking = maskingPanel();
      if (masking) root.append(masking);
      const editor = hexEditor(data);
      if (editor) root.append(editor);
      root.append(h("details", { class: "wsx-field-table" }, h("summary", { text: "field table" }), fieldTable(fields, err)));
      return root;
    }

    function draw() {
      pending = false;
      el.replaceChildren(build());
    }

    function schedule() {
      if (pending) return;
      pending = true;
      Promise.resolve().then(draw); // changes from one kernel message arrive together: draw once
    }

    function refreshInfo() {
      const old = el.querySelector(".wsx-info");
      if (old) old.replaceWith(infoBox());
    }

    function fieldOf(target) {
      const node = target.closest("[data-field]");
      return node && el.contains(node) ? node.dataset.field : null;
    }

    function onClick(event) {
      const cell = event.target.closest(".wsx-bit");
      if (cell && model.get("editable")) {
        const index = Number(cell.dataset.bit);
        const next = new Uint8Array(bytesOf(model.get("data"))); // a copy: the model's value is never mutated
        next[index >> 3] ^= 0x80 >> (index & 7);
        hexDraft = null;
        model.set("data", new DataView(next.buffer));
        model.save_changes();
        return;
      }
      const name = fieldOf(event.target);
      if (name && (cell || event.target.closest(".wsx-label, .wsx-label-cont, .wsx-field-row"))) {
        selected = selected === name ? null : name;
        schedule();
      }
    }

    function onOver(event) {
      const name = fieldOf(event.target);
      if (name !== hovered && !event.target.closest(".wsx-info")) {
        hovered = name;
        refreshInfo();
      }
    }

    function onLeave() {
      hovered = null;
      refreshInfo();
    }

    function onData() {
      hexDraft = null;
      schedule();
    }

    el.addEventListener("click", onClick);
    el.addEventListener("mouseover", onOver);
    el.addEventListener("mouseleave", onLeave);
    const events = [
      "change:fields",
      "change:error",
      "change:summary",
      "change:bit_layout",
      "change:editable",
      "change:role",
      "change:masking",
      "change:masking_page",
      "change:masking_total",
      "change:frame_size",
      "change:max_bytes",
      "change:hex_error",
      "change:deflate_params",
      "change:compressed",
      "change:compression",
      "change:inflated_size",
      "change:inflated_text",
      "change:inflated_hex",
      "change:compression_ratio",
      "change:via",
      "change:via_note",
      "change:reframed",
    ];
    for (const name of events) model.on(name, schedule);
    model.on("change:data", onData);
    draw();
    return () => {
      for (const name of events) model.off(name, schedule);
      model.off("change:data", onData);
      el.removeEventListener("click", onClick);
      el.removeEventListener("mouseover", onOver);
      el.removeEventListener("mouseleave", onLeave);
    };
  },
};
