/* taxovit HTML report: shared helpers (tables, formatting, plotly loading). No network. */
"use strict";

const TX = {};
TX.data = JSON.parse(document.getElementById("report-data").textContent);
// Okabe-Ito colours (distinguishable with colour-blindness) and cividis (reads in grey)
TX.blue = "#0072B2"; TX.orange = "#E69F00"; TX.vermillion = "#D55E00"; TX.grey = "#7f7f7f";
TX.scale = "Cividis";
TX.plotConfig = {displaylogo: false, responsive: true, displayModeBar: "hover", modeBarButtonsToRemove: ["lasso2d", "select2d"]};
TX.title = text => ({text: text, x: 0.01, xanchor: "left", font: {size: 13}});

TX.fmt = function (v, digits) {
  if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  if (v !== 0 && Math.abs(v) < 1e-4) return v.toExponential(2);
  return v.toFixed(digits === undefined ? 4 : digits);
};
TX.esc = function (s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
};
TX.el = function (tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
TX.ci = function (ci) {
  return ci ? TX.fmt(ci[0]) + " – " + TX.fmt(ci[1]) : "";
};

/* A sortable table: click a header to sort; "Copy" puts all rows (tab-separated, full
   precision) on the clipboard, "CSV" saves them; `limit` shows the first rows only. */
TX.table = function (host, columns, rows, opts) {
  opts = opts || {};
  host.innerHTML = "";
  const bar = TX.el("div", {class: "tbl-bar"});
  const note = TX.el("span", {class: "note"});
  const btns = TX.el("span");
  const copy = TX.el("button", {type: "button", title: "copy every row, tab-separated"}, "Copy");
  const csv = TX.el("button", {type: "button", title: "save every row as CSV"}, "CSV");
  btns.append(copy, " ", csv);
  bar.append(note, btns);
  const wrap = TX.el("div", {class: "tbl-wrap"});
  const table = TX.el("table", {class: "data"});
  if (opts.id) table.id = opts.id;
  wrap.append(table);
  host.append(bar, wrap);
  let data = rows.slice();
  let sortCol = opts.sortCol === undefined ? -1 : opts.sortCol, sortDesc = !!opts.sortDesc;
  const numeric = columns.map((_, j) => rows.some(r => typeof r[j] === "number"));
  // a column holding any fraction shows every value with the same digits
  const fraction = columns.map((_, j) => rows.some(r => typeof r[j] === "number" && !Number.isInteger(r[j])));
  const hidden = new Set(opts.hidden || []);
  function sortData() {
    if (sortCol < 0) return;
    const j = sortCol, s = sortDesc ? -1 : 1;
    data.sort((a, b) => {
      const x = a[j], y = b[j];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (numeric[j] ? x - y : String(x).localeCompare(String(y))) * s;
    });
  }
  function draw() {
    table.innerHTML = "";
    const thead = TX.el("thead"), tr = TX.el("tr");
    columns.forEach((c, j) => {
      if (hidden.has(j)) return;
      const th = TX.el("th", {scope: "col", title: "sort by " + c}, c);
      if (j === sortCol) th.setAttribute("aria-sort", sortDesc ? "descending" : "ascending");
      th.addEventListener("click", () => {
        sortDesc = j === sortCol ? !sortDesc : numeric[j];
        sortCol = j; sortData(); draw();
      });
      tr.append(th);
    });
    thead.append(tr); table.append(thead);
    const tbody = TX.el("tbody");
    const shown = opts.limit ? data.slice(0, opts.limit) : data;
    for (const r of shown) {
      const row = TX.el("tr");
      if (opts.rowClass) { const c = opts.rowClass(r); if (c) row.className = c; }
      r.forEach((v, j) => {
        if (hidden.has(j)) return;
        const cell = opts.cell ? opts.cell(j, v, r) : null;
        const td = TX.el("td", {class: numeric[j] ? "num" : ""});
        if (cell instanceof Node) td.append(cell);
        else if (cell !== null) td.textContent = cell;
        else if (fraction[j] && typeof v === "number" && !(Number.isInteger(v) && Math.abs(v) >= 2) && !(v !== 0 && Math.abs(v) < 1e-4)) td.textContent = v.toFixed(opts.digits || 4);
        else td.textContent = TX.fmt(v, opts.digits);
        row.append(td);
      });
      tbody.append(row);
    }
    table.append(tbody);
    note.textContent = (opts.limit && data.length > opts.limit
      ? "showing " + opts.limit.toLocaleString("en-US") + " of " + data.length.toLocaleString("en-US") + " rows (sort to see others; Copy/CSV take all)"
      : data.length.toLocaleString("en-US") + " rows") + (opts.note ? " · " + opts.note : "");
  }
  function text(sep) {
    const q = v => { const s = v === null || v === undefined ? "" : String(v); return sep === "," && /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
    const cols = columns.map((c, j) => j).filter(j => !hidden.has(j));
    return [cols.map(j => q(columns[j])).join(sep)].concat(data.map(r => cols.map(j => q(r[j])).join(sep))).join("\n") + "\n";
  }
  copy.addEventListener("click", () => {
    const t = text("\t");
    if (navigator.clipboard) navigator.clipboard.writeText(t).then(() => { copy.textContent = "Copied"; setTimeout(() => copy.textContent = "Copy", 1200); });
  });
  csv.addEventListener("click", () => {
    const a = TX.el("a", {href: URL.createObjectURL(new Blob([text(",")], {type: "text/csv"})), download: (opts.name || "table") + ".csv"});
    document.body.append(a); a.click(); a.remove();
  });
  sortData(); draw();
  return {table: table, rows: () => data};
};

TX.cards = function (host, cards, level) {
  host.innerHTML = "";
  for (const c of cards) {
    const d = TX.el("div", {class: "card" + (c.cls ? " " + c.cls : ""), "data-key": c.key});
    d.append(TX.el("span", {class: "dir", title: c.higher_is_better ? "higher is better" : "lower is better"}, c.higher_is_better ? "↑ better" : "↓ better"));
    d.append(TX.el("div", {class: "label"}, c.label));
    d.append(TX.el("div", {class: "value"}, TX.fmt(c.value, c.digits === undefined ? 3 : c.digits)));
    if (c.ci) d.append(TX.el("div", {class: "ci"}, (level ? Math.round(level * 100) + "% CI " : "CI ") + TX.fmt(c.ci[0], 3) + " – " + TX.fmt(c.ci[1], 3)));
    if (c.extra) d.append(TX.el("div", {class: "ci"}, c.extra));
    host.append(d);
  }
};

TX.kv = function (host, obj) {
  const t = TX.el("table", {class: "kv"});
  for (const [k, v] of Object.entries(obj)) {
    if (v === null || v === undefined || v === "") continue;
    const tr = TX.el("tr");
    tr.append(TX.el("td", {}, k), TX.el("td", {}, typeof v === "object" ? JSON.stringify(v) : String(v)));
    t.append(tr);
  }
  host.append(t);
};

TX.sections = function (host, sections) {
  for (const s of sections || []) {
    host.append(TX.el("h2", {}, s.title.charAt(0).toUpperCase() + s.title.slice(1)));
    const div = TX.el("div");
    host.append(div);
    TX.table(div, s.columns, s.rows, {limit: 500, name: s.title.replace(/\s+/g, "_")});
  }
};

/* plotly.js travels gzip-compressed and base64-encoded inside the page; the browser
   inflates it (DecompressionStream), with no request to any server. */
TX.loadPlotly = async function () {
  if (window.Plotly) return;
  const b64 = document.getElementById("plotly-gz").textContent.trim();
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const code = await new Response(stream).text();
  const s = document.createElement("script");
  s.textContent = code;
  document.head.append(s);
};

/* Tables first (they need no plotly), then the charts once plotly.js is inflated. */
TX.start = function (tables, charts) {
  tables();
  TX.loadPlotly().then(() => {
    const t0 = performance.now();
    charts();
    document.getElementById("loading").remove();
    document.body.dataset.ready = "1";
    document.body.dataset.drawMs = String(Math.round(performance.now() - t0));
  }).catch(err => {
    document.getElementById("loading").textContent = "The charts could not be drawn (" + err + "). This page needs a browser from 2023 or later (DecompressionStream); the tables hold every number.";
    console.error(err);
  });
};
