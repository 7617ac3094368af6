// Equity curve (backtest run page, Position page) and, when the page has one, the drawdown
// from the running peak (%) under it. Every point fits in view: minBarSpacing is lowered so
// fitContent shows the whole period (at the default 0.5 px it kept only the last days).
(function () {
  const theme = { layout: { background: { color: "#161c24" }, textColor: "#d7dee8" },
    grid: { vertLines: { color: "#222b36" }, horzLines: { color: "#222b36" } }, autoSize: true,
    timeScale: { timeVisible: true, minBarSpacing: 0.001, rightOffset: 2 } };
  const el = document.getElementById("chart");
  const points = JSON.parse(el.dataset.equity || "[]").map((p) => ({ time: p.time, value: Number(p.equity) }));
  if (!points.length) { el.innerHTML = '<p class="empty">no equity points</p>'; return; }
  const money = { type: "custom", minMove: 0.01, formatter: (v) => v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) };
  const equity = LightweightCharts.createChart(el, theme);
  equity.addLineSeries({ color: "#4ea1ff", lineWidth: 2, priceFormat: money }).setData(points);
  equity.timeScale().fitContent();
  window.showdownCharts = { equity };
  const ddEl = document.getElementById("drawdown");
  if (!ddEl) return;
  const dd = JSON.parse(ddEl.dataset.drawdown || "[]").map((p) => ({ time: p.time, value: p.dd_pct }));
  const drawdown = LightweightCharts.createChart(ddEl, theme);
  drawdown.addAreaSeries({ lineColor: "#ef5350", topColor: "rgba(239,83,80,0.05)", bottomColor: "rgba(239,83,80,0.4)",
    invertFilledArea: true, priceFormat: { type: "custom", formatter: (v) => v.toFixed(2) + " %" } }).setData(dd);
  drawdown.timeScale().fitContent();
  window.showdownCharts.drawdown = drawdown;
  // one time axis for both: scrolling one scrolls the other
  equity.timeScale().subscribeVisibleLogicalRangeChange((r) => r && drawdown.timeScale().setVisibleLogicalRange(r));
  drawdown.timeScale().subscribeVisibleLogicalRangeChange((r) => r && equity.timeScale().setVisibleLogicalRange(r));
})();
