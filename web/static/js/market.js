// Market page: candlesticks (TradingView lightweight-charts) + the decision's entry zone, SL, TP lines
// and the trades (entry arrows, exit dots coloured by result).
(async function () {
  const el = document.getElementById("chart");
  const chart = LightweightCharts.createChart(el, {
    layout: { background: { color: "#161c24" }, textColor: "#d7dee8" },
    grid: { vertLines: { color: "#222b36" }, horzLines: { color: "#222b36" } },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a3442" },
    rightPriceScale: { borderColor: "#2a3442" }, autoSize: true,
  });
  const series = chart.addCandlestickSeries({ upColor: "#26a69a", downColor: "#ef5350", borderVisible: false,
    wickUpColor: "#26a69a", wickDownColor: "#ef5350" });
  const resp = await fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!resp.ok) { el.textContent = "could not load candles (" + resp.status + ")"; return; }
  const data = await resp.json();
  if (!data.candles.length) { el.innerHTML = '<p class="empty">no candles stored for this timeframe yet</p>'; chart.remove(); return; }
  series.setData(data.candles);
  const lv = data.decision_levels || {};
  const line = (price, color, title, style) => { if (price !== null && price !== undefined)
    series.createPriceLine({ price: Number(price), color, lineWidth: 2, lineStyle: style, axisLabelVisible: true, title }); };
  line(lv.entry_min, "#4ea1ff", "entry min", 2); line(lv.entry_max, "#4ea1ff", "entry max", 2);
  line(lv.sl, "#ef5350", "SL", 0); line(lv.tp1, "#26a69a", "TP1", 0); line(lv.tp2, "#26a69a", "TP2", 1);
  series.setMarkers(data.trade_markers || []);
  chart.timeScale().fitContent();
})();
