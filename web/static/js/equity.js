// Backtest run page: equity curve.
(function () {
  const el = document.getElementById("chart");
  const points = JSON.parse(el.dataset.equity || "[]").map((p) => ({ time: p.time, value: Number(p.equity) }));
  if (!points.length) { el.innerHTML = '<p class="empty">no equity points</p>'; return; }
  const chart = LightweightCharts.createChart(el, { layout: { background: { color: "#161c24" }, textColor: "#d7dee8" },
    grid: { vertLines: { color: "#222b36" }, horzLines: { color: "#222b36" } }, autoSize: true, timeScale: { timeVisible: true } });
  chart.addLineSeries({ color: "#4ea1ff", lineWidth: 2 }).setData(points);
  chart.timeScale().fitContent();
})();
