/* taxovit HTML report: a leaderboard (needs common.js). */
"use strict";

(function () {
  const D = TX.data, B = D.board;
  // Okabe-Ito, in an order that stays distinct in grey too (dark, light, dark, ...)
  const TIER = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

  function tables() {
    TX.kv(document.getElementById("inputs"), D.meta);
    const t = D.table, sigCol = t.columns.indexOf("significant");
    TX.table(document.getElementById("board-table"), t.columns, t.rows,
      {id: "board", name: "leaderboard", rowClass: r => (r[sigCol] === "no" ? "sig" : ""),
       note: "highlighted: not significantly different from the best"});
    const notes = document.getElementById("notes");
    for (const n of B.notes) notes.append(TX.el("li", {}, n));
  }

  function charts() {
    const host = document.getElementById("forest");
    const names = B.rows.map(r => r.model);
    B.metrics.forEach(m => {
      const div = TX.el("div", {class: "plot", style: "min-height: 0"});
      host.append(div);
      const x = B.rows.map(r => r[m.key]);
      const lo = B.rows.map(r => (r[m.key + "/ci"] ? r[m.key] - r[m.key + "/ci"][0] : 0));
      const hi = B.rows.map(r => (r[m.key + "/ci"] ? r[m.key + "/ci"][1] - r[m.key] : 0));
      const colour = B.rows.map(r => (r.tier ? TIER[(r.tier - 1) % TIER.length] : TX.grey));
      Plotly.newPlot(div, [{
        type: "scatter", mode: "markers", x: x, y: names, orientation: "h",
        error_x: {type: "data", symmetric: false, array: hi, arrayminus: lo, color: "#555", thickness: 1.2},
        marker: {size: 10, color: colour, symbol: B.rows.map(r => (r.tier ? "circle" : "circle-open")), line: {width: 1.5, color: colour}},
        customdata: B.rows.map(r => [r.tier || "—", r[m.key + "/ci"] ? TX.ci(r[m.key + "/ci"]) : "no interval"]),
        hovertemplate: "%{y}: %{x:.4f}<br>interval %{customdata[1]}<br>tier %{customdata[0]}<extra></extra>",
      }], {height: 70 + 26 * names.length, margin: {t: 30, l: 160, r: 20, b: 36},
           title: TX.title(m.label + (m.higher_is_better ? " (higher is better)" : " (lower is better)")),
           yaxis: {autorange: "reversed", automargin: true}, xaxis: {zeroline: false}}, TX.plotConfig);
    });
  }

  TX.start(tables, charts);
})();
