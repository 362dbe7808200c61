/* taxovit HTML report: one model's evaluation (needs common.js). */
"use strict";

(function () {
  const D = TX.data;
  const T = D.tree;  // null for a DAG taxonomy
  const pos = new Map(), kids = new Map();
  let rootId = null;
  if (T) {
    T.id.forEach((id, i) => pos.set(id, i));
    T.id.forEach((id, i) => {
      const p = T.parent[i];
      if (p >= 0 && pos.has(p)) { if (!kids.has(p)) kids.set(p, []); kids.get(p).push(id); }
      if (T.depth[i] === 0) rootId = id;
    });
  }
  const BIG = T && T.id.length > 1500;  // large taxonomies: three rings at a time, capped tables
  const TOP = 15;  // taxa shown in a confusion matrix; the rest are pooled as "other"
  const depth = id => T.depth[pos.get(id)];
  const nameOf = id => (pos.has(id) ? T.name[pos.get(id)] : "#" + id);
  function ancestorAt(id, d) {
    let x = id;
    while (x >= 0 && pos.has(x) && T.depth[pos.get(x)] > d) x = T.parent[pos.get(x)];
    return x >= 0 && pos.has(x) && T.depth[pos.get(x)] === d ? x : -1;
  }
  const inSub = (x, n) => pos.has(x) && ancestorAt(x, depth(n)) === n;
  let sunDiv = null;

  // ------------------------------------------------------------------ the explorer
  function sunburst(metric, kind) {
    const keep = T.id.map((_, i) => i).filter(i => T.support[i] > 0);
    const f1 = i => (T.recall[i] + T.precision[i] > 0 ? 2 * T.recall[i] * T.precision[i] / (T.recall[i] + T.precision[i]) : 0);
    const colour = {recall: i => T.recall[i], precision: i => T.precision[i], f1: f1, support: i => Math.log10(T.support[i])}[metric];
    const title = {recall: "recall", precision: "precision", f1: "F1", support: "log10 support"}[metric];
    const trace = {
      type: kind, ids: keep.map(i => String(T.id[i])), labels: keep.map(i => T.name[i]),
      parents: keep.map(i => (T.parent[i] >= 0 ? String(T.parent[i]) : "")),
      values: keep.map(i => T.support[i]), branchvalues: "total", sort: false,
      maxdepth: BIG ? 3 : -1,
      marker: {colors: keep.map(colour), colorscale: TX.scale, showscale: true, line: {width: 0.5, color: "#fff"},
               colorbar: {title: {text: title, side: "right"}, thickness: 12, len: 0.6}},
      customdata: keep.map(i => [T.rank[i], TX.fmt(T.recall[i], 3), TX.fmt(T.precision[i], 3), T.hits[i]]),
      hovertemplate: "<b>%{label}</b> · %{customdata[0]}<br>support %{value}<br>recall %{customdata[1]} · precision %{customdata[2]}<extra></extra>",
    };
    if (metric !== "support") { trace.marker.cmin = 0; trace.marker.cmax = 1; }
    if (kind === "sunburst") trace.insidetextorientation = "radial";
    if (kind === "icicle") trace.tiling = {orientation: "v"};
    sunDiv = document.getElementById("sunburst");
    Plotly.react(sunDiv, [trace], {margin: {t: 6, l: 6, r: 6, b: 6}, font: {size: 11}}, TX.plotConfig);
    if (!sunDiv.dataset.bound) {
      sunDiv.dataset.bound = "1";
      const onClick = ev => {
        const pt = ev.points && ev.points[0];
        if (!pt) return;
        const next = ev.nextLevel !== undefined && ev.nextLevel !== "" ? ev.nextLevel : pt.id;
        select(Number(next));
      };
      sunDiv.on("plotly_sunburstclick", onClick);
      sunDiv.on("plotly_icicleclick", onClick);
    }
  }

  function crumbs(n) {
    const host = TX.el("div", {class: "crumbs"});
    const path = [];
    for (let x = n; x >= 0 && pos.has(x); x = T.parent[pos.get(x)]) path.unshift(x);
    path.forEach((x, k) => {
      if (k) host.append(" › ");
      if (x === n) { host.append(TX.el("span", {}, nameOf(x))); return; }
      const a = TX.el("a", {role: "link", tabindex: "0"}, nameOf(x));
      a.addEventListener("click", () => { Plotly.restyle(sunDiv, {level: String(x)}); select(x); });
      host.append(a);
    });
    return host;
  }

  function select(n) {
    if (!pos.has(n)) return;
    const i = pos.get(n);
    const head = document.getElementById("node-head");
    head.innerHTML = "";
    head.append(crumbs(n));
    head.append(TX.el("div", {class: "name", id: "node-name"}, T.name[i]));
    head.append(TX.el("div", {class: "small"}, (n === rootId ? "root" : T.rank[i]) + " · support " + TX.fmt(T.support[i]) + " · recall " + TX.fmt(T.recall[i], 3) +
      " · precision " + TX.fmt(T.precision[i], 3) + " · " + TX.fmt(T.predicted[i]) + " predictions in its subtree"));
    document.body.dataset.selected = T.name[i];
    const rows = D.classes.rows.filter(r => inSub(r[0], n));
    TX.table(document.getElementById("subtree-table"), D.classes.columns, rows,
      {id: "subtree", hidden: [0], sortCol: D.classes.columns.indexOf("support"), sortDesc: true, limit: 300, name: "classes_" + T.name[i]});
    const pairs = D.confused.filter(c => inSub(c.t, n));
    TX.table(document.getElementById("pairs-table"), ["true", "predicted", "count", "share of true", "LCA", "split at", "kind"],
      pairs.map(c => [c.true, c.predicted, c.count, c.share, c.lca, c.split_rank, c.coarser ? "coarser (abstained)" : "other taxon"]),
      {limit: 100, name: "confused_" + T.name[i], note: "mistakes whose truth lies under " + T.name[i]});
    confusion(n);
  }

  /* The subtree's confusion matrix at the first level below n with two taxa or more. */
  function confusion(n) {
    const div = document.getElementById("confusion");
    const P = D.pairs;
    const inside = [];
    for (let k = 0; k < P.t.length; k++) if (inSub(P.t[k], n)) inside.push(k);
    let level = -1, cats = [];
    for (let L = depth(n) + 1; L <= T.max_depth; L++) {
      const sup = new Map();
      for (const k of inside) { const a = ancestorAt(P.t[k], L); if (a >= 0) sup.set(a, (sup.get(a) || 0) + P.n[k]); }
      if (sup.size >= 2) { level = L; cats = [...sup.entries()].sort((x, y) => y[1] - x[1]).map(e => e[0]); break; }
    }
    if (level < 0) {
      Plotly.purge(div);
      div.innerHTML = "<p class='muted'>" + TX.esc(nameOf(n)) + " holds a single taxon at every level below it: no confusion matrix (its mistakes are listed below).</p>";
      return;
    }
    Plotly.purge(div);
    div.innerHTML = "";
    const shown = cats.slice(0, TOP), idx = new Map(shown.map((c, j) => [c, j]));
    const other = cats.length > TOP;
    const rowNames = shown.map(nameOf).concat(other ? ["other (" + (cats.length - TOP) + ")"] : []);
    const colNames = rowNames.concat(["coarser than this level", "outside " + nameOf(n)]);
    const z = rowNames.map(() => colNames.map(() => 0));
    const oth = shown.length, coarse = rowNames.length, out = rowNames.length + 1;
    for (const k of inside) {
      const a = ancestorAt(P.t[k], level);
      if (a < 0) continue;
      const r = idx.has(a) ? idx.get(a) : oth;
      let c;
      if (!inSub(P.p[k], n)) c = out;
      else if (depth(P.p[k]) < level) c = coarse;
      else { const b = ancestorAt(P.p[k], level); c = idx.has(b) ? idx.get(b) : oth; }
      z[r][c] += P.n[k];
    }
    const norm = z.map(row => { const s = row.reduce((a, b) => a + b, 0); return row.map(v => (s ? v / s : 0)); });
    const rankName = T.rank[pos.get(cats[0])];
    Plotly.newPlot(div, [{
      type: "heatmap", z: norm, x: colNames, y: rowNames, colorscale: TX.scale, zmin: 0, zmax: 1, text: z,
      texttemplate: rowNames.length <= 12 ? "%{text}" : "", hovertemplate: "true %{y}<br>predicted %{x}<br>%{text} samples (%{z:.1%} of the row)<extra></extra>",
      colorbar: {title: {text: "share of row"}, thickness: 12},
    }], {margin: {t: 30, l: 150, r: 10, b: 130}, height: Math.max(320, 90 + 26 * rowNames.length + 110),
         title: TX.title("true vs predicted " + rankName + " under " + nameOf(n)),
         yaxis: {autorange: "reversed", automargin: true, title: {text: "true " + rankName}}, xaxis: {automargin: true, tickangle: -40}, font: {size: 11}},
    TX.plotConfig);
  }

  // ------------------------------------------------------------------ other figures
  function perRankChart() {
    const pr = D.per_rank, c = pr.columns;
    if (!pr.rows.length) return;
    const acc = c.indexOf("accuracy"), lo = c.indexOf("accuracy CI low"), hi = c.indexOf("accuracy CI high");
    const has = pr.rows.some(r => r[lo] !== null);
    const trace = {type: "bar", x: pr.rows.map(r => r[0]), y: pr.rows.map(r => r[acc]), marker: {color: TX.blue},
                   hovertemplate: "%{x}: %{y:.4f}<extra></extra>", text: pr.rows.map(r => TX.fmt(r[acc], 3)), textposition: "outside"};
    if (has) trace.error_y = {type: "data", symmetric: false, array: pr.rows.map(r => r[hi] - r[acc]), arrayminus: pr.rows.map(r => r[acc] - r[lo]), color: "#333"};
    Plotly.newPlot("rank-chart", [trace], {margin: {t: 30, l: 50, r: 10, b: 40}, height: 300, yaxis: {range: [0, 1.08], title: {text: "accuracy"}},
      title: TX.title("Accuracy per rank" + (has ? " (bars: CI)" : ""))}, TX.plotConfig);
  }

  function severityChart() {
    const s = D.severity;
    Plotly.newPlot("severity", [{type: "bar", x: s.height.slice(1), y: s.count.slice(1), marker: {color: TX.orange, line: {color: "#6b4a00", width: 1}},
      hovertemplate: "LCA height %{x}: %{y} mistakes<extra></extra>"}],
    {margin: {t: 30, l: 50, r: 10, b: 45}, height: 300, bargap: 0.15, title: TX.title("Mistake severity (LCA height per mistake)"),
     xaxis: {title: {text: "LCA height (1 = siblings)"}, dtick: 1}, yaxis: {title: {text: "mistakes"}}}, TX.plotConfig);
  }

  function reliabilityChart() {
    const r = D.reliability, div = document.getElementById("reliability");
    if (!r) { div.innerHTML = "<p class='muted'>No reliability diagram: the predictions carry no scores.</p>"; return; }
    const k = r.count.map((c, i) => i).filter(i => r.count[i] > 0);
    const ece = D.cards.find(c => c.key === "ece");
    Plotly.newPlot(div, [
      {type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], line: {dash: "dash", color: TX.grey}, name: "perfect calibration", hoverinfo: "skip"},
      {type: "scatter", mode: "lines+markers", x: k.map(i => r.confidence[i]), y: k.map(i => r.accuracy[i]), name: "model",
       marker: {color: TX.blue, size: k.map(i => 5 + 10 * Math.sqrt(r.count[i] / Math.max(...r.count)))}, line: {color: TX.blue},
       customdata: k.map(i => r.count[i]), hovertemplate: "confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata} samples<extra></extra>"},
    ], {margin: {t: 30, l: 50, r: 10, b: 45}, height: 300, legend: {x: 0.02, y: 0.98},
        title: TX.title("Reliability" + (ece ? " (ECE " + TX.fmt(ece.value, 3) + ")" : "")),
        xaxis: {range: [0, 1], title: {text: "confidence (top-1 probability)"}}, yaxis: {range: [0, 1.02], title: {text: "accuracy"}}}, TX.plotConfig);
  }

  // ------------------------------------------------------------------ tables, then charts
  function tables() {
    TX.cards(document.getElementById("cards"), D.cards, D.summary.bootstrap && D.summary.bootstrap.ci);
    TX.kv(document.getElementById("inputs"), D.meta);
    TX.table(document.getElementById("rank-table"), D.per_rank.columns, D.per_rank.rows, {name: "per_rank"});
    TX.table(document.getElementById("metrics-table"), D.metrics.columns, D.metrics.rows, {name: "metrics"});
    TX.sections(document.getElementById("sections"), D.sections);
    const notes = document.getElementById("notes");
    for (const [k, v] of Object.entries(D.notes)) notes.append(TX.el("li", {}, k + ": " + v));
    if (!T) {  // a DAG: no sunburst (a taxon may sit under two parents); the tables remain
      const sec = document.getElementById("explorer-section");
      sec.innerHTML = "";
      sec.append(TX.el("h2", {}, "Most-confused pairs, with the rank at which they split"));
      sec.append(TX.el("p", {class: "muted small"}, "The taxonomy is a DAG: the sunburst and the subtree views need a tree."));
      const div = TX.el("div", {id: "pairs-table"});
      sec.append(div);
      TX.table(div, ["true", "predicted", "count", "share of true", "LCA", "split at", "kind"],
        D.confused.map(c => [c.true, c.predicted, c.count, c.share, c.lca, c.split_rank, c.coarser ? "coarser (abstained)" : "other taxon"]),
        {limit: 100, name: "confused"});
    }
  }

  function charts() {
    if (T) {
      T.max_depth = Math.max(...T.depth);
      const metric = document.getElementById("colour-by"), kind = document.getElementById("view-kind");
      const redraw = () => sunburst(metric.value, kind.value);
      metric.addEventListener("change", redraw);
      kind.addEventListener("change", () => { sunDiv.dataset.bound = ""; Plotly.purge(sunDiv); redraw(); });
      redraw();
      select(rootId);
    }
    perRankChart();
    severityChart();
    reliabilityChart();
  }

  TX.start(tables, charts);
})();
