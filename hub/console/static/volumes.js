// The Volumes page's charts: fetches the page's own JSON (same origin, same query) and
// draws each series with the vendored uPlot. Loaded as a file: the CSP allows no inline script.
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function draw(box, data, labels) {
    var names = Object.keys(data.by || {});
    var series = [{}];
    var columns = [data.times];
    names.forEach(function (name, i) {
      series.push({
        label: labels[name] || name,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        points: { show: false }
      });
      columns.push(data.by[name]);
    });
    var width = Math.max(400, box.clientWidth || 900);
    new uPlot({
      width: width,
      height: 260,
      series: series,
      scales: { x: { time: true } },
      // Times in UTC, as every page of the console shows them.
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      // Counts of messages: whole steps on the y axis.
      axes: [{ label: "UTC" }, { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000] }]
    }, columns, box);
    box.dataset.drawn = String(names.length);
  }

  function load() {
    var root = document.getElementById("volume-charts");
    if (!root || typeof uPlot === "undefined") { return; }
    fetch(root.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (report) {
        root.querySelectorAll(".chart").forEach(function (box) {
          draw(box, { times: report.times, by: report[box.dataset.series] }, report.labels || {});
        });
        root.dataset.loaded = "true";
      })
      .catch(function () {
        document.getElementById("chart-problem").hidden = false;
      });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", load);
  } else {
    load();
  }
})();
