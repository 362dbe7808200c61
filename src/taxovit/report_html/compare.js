/* taxovit HTML report: model A vs model B (needs common.js). */
"use strict";

(function () {
  const D = TX.data, [A, B] = D.names;
  const mc = m => "right only for A " + m.a_only.toLocaleString("en-US") + ", only for B " + m.b_only.toLocaleString("en-US") + ", p = " + TX.fmt(m.p, 4);

  function tables() {
    const cards = [];
    for (const c of D.cards) {
      const sig = c.ci && (c.ci[0] > 0 || c.ci[1] < 0);
      const better = sig ? ((c.diff > 0) === c.higher_is_better ? "B" : "A") : null;
      cards.push({key: c.key + "-a", label: c.label + " · A", value: c.a, higher_is_better: c.higher_is_better});
      cards.push({key: c.key + "-b", label: c.label + " · B", value: c.b, higher_is_better: c.higher_is_better,
                  cls: better === "B" ? "sig-better" : better === "A" ? "sig-worse" : "",
                  extra: "B − A " + TX.fmt(c.diff, 4) + (c.ci ? " [" + TX.fmt(c.ci[0], 4) + ", " + TX.fmt(c.ci[1], 4) + "]" : "") + (better ? " · " + better + " better" : " · not significant")});
    }
    TX.cards(document.getElementById("cards"), cards);
    document.getElementById("mcnemar").textContent = mc(D.mcnemar) + ".";
    TX.kv(document.getElementById("inputs"), D.meta);
    const t = D.table, sig = t.columns.indexOf("significant");
    TX.table(document.getElementById("cmp-table"), t.columns, t.rows,
      {id: "comparison", name: "comparison", rowClass: r => (r[sig] === "yes" ? "sig" : "")});
    const ranks = Object.entries(D.per_rank_mcnemar).filter(([, v]) => v);
    TX.table(document.getElementById("mcnemar-table"), ["rank", "right only for A", "right only for B", "p"],
      ranks.map(([r, v]) => [r, v.a_only, v.b_only, v.p]), {name: "mcnemar"});
  }

  /* B − A recall per taxon: a diverging brown-white-teal scale (BrBG: readable with
     colour-blindness; in grey the hover and the table carry the sign). */
  function diffSunburst() {
    const T = D.tree, div = document.getElementById("diff-sunburst");
    if (!T) { document.getElementById("tree-section").remove(); return; }
    const diff = T.id.map((_, i) => T.recall_b[i] - T.recall_a[i]);
    const span = Math.max(0.05, ...diff.map(Math.abs));
    Plotly.newPlot(div, [{
      type: "sunburst", ids: T.id.map(String), labels: T.name, parents: T.parent.map(p => (p >= 0 ? String(p) : "")),
      values: T.support, branchvalues: "total", sort: false, maxdepth: T.id.length > 1500 ? 3 : -1,
      marker: {colors: diff, cmin: -span, cmax: span, cmid: 0, showscale: true, line: {width: 0.5, color: "#999"},
               colorscale: [[0, "#8c510a"], [0.25, "#d8b365"], [0.5, "#f7f7f7"], [0.75, "#5ab4ac"], [1, "#01665e"]],
               colorbar: {title: {text: "B − A recall"}, thickness: 12, len: 0.6}},
      customdata: T.id.map((_, i) => [T.rank[i], TX.fmt(T.recall_a[i], 3), TX.fmt(T.recall_b[i], 3), TX.fmt(diff[i], 3)]),
      hovertemplate: "<b>%{label}</b> %{customdata[0]}<br>support %{value}<br>recall A %{customdata[1]} · B %{customdata[2]}<br>B − A %{customdata[3]}<extra></extra>",
      insidetextorientation: "radial",
    }], {margin: {t: 6, l: 6, r: 6, b: 6}, font: {size: 11}}, TX.plotConfig);
  }

  function charts() {
    diffSunburst();
    const t = D.table, c = name => t.columns.indexOf(name);
    const rows = t.rows.filter(r => r[c("ci_low")] !== null && !String(r[c("metric")]).startsWith("per_rank/") && !String(r[c("metric")]).startsWith("n_")
      && !String(r[c("metric")]).startsWith("tree_induced_error_sum"));
    if (!rows.length) { document.getElementById("diff-chart").innerHTML = "<p class='muted'>No intervals (--bootstrap 0).</p>"; return; }
    const colour = rows.map(r => (r[c("better")] === "B" ? TX.blue : r[c("better")] === "A" ? TX.vermillion : TX.grey));
    Plotly.newPlot("diff-chart", [{
      type: "scatter", mode: "markers", y: rows.map(r => r[c("label")]), x: rows.map(r => r[c("diff")]),
      error_x: {type: "data", symmetric: false, array: rows.map(r => r[c("ci_high")] - r[c("diff")]), arrayminus: rows.map(r => r[c("diff")] - r[c("ci_low")]), color: "#555"},
      marker: {size: 9, color: colour, symbol: rows.map(r => (r[c("better")] === "A" ? "diamond" : r[c("better")] === "B" ? "circle" : "circle-open"))},
      hovertemplate: "%{y}: B − A = %{x:.4f}<extra></extra>",
    }], {height: 80 + 22 * rows.length, margin: {t: 30, l: 230, r: 20, b: 40},
         title: TX.title("B − A with its interval (blue ●: B better, vermillion ◆: A better, hollow: not significant)"),
         yaxis: {autorange: "reversed", automargin: true}, xaxis: {zeroline: true, zerolinecolor: "#333"},
         shapes: []}, TX.plotConfig);
  }

  TX.start(tables, charts);
})();
