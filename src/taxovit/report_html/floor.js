/* The benchmark's floor: plotly.js inflated and one empty plot (needs common.js). */
"use strict";
TX.start(() => {}, () => Plotly.newPlot("plot", [], {}, TX.plotConfig));
