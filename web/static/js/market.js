// Market page: candlesticks (TradingView lightweight-charts) with volume, the rules' EMAs,
// the liquidation zones as bands (opacity and width by strength), the decision's entry zone,
// SL and TP lines, and the trades (entry arrows, exit dots coloured by result).
(async function () {
  const el = document.getElementById("chart");
  const chart = LightweightCharts.createChart(el, {
    layout: { background: { color: "#161c24" }, textColor: "#d7dee8" },
    grid: { vertLines: { color: "#222b36" }, horzLines: { color: "#222b36" } },
    // rightOffset leaves room after the last bar, so a marker there is not cut at the edge
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a3442", rightOffset: 6 },
    rightPriceScale: { borderColor: "#2a3442", scaleMargins: { top: 0.08, bottom: 0.22 } }, autoSize: true,
  });
  const price = { type: "price", precision: 1, minMove: 0.1 };  // BTCUSDT tick
  const series = chart.addCandlestickSeries({ upColor: "#26a69a", downColor: "#ef5350", borderVisible: false,
    wickUpColor: "#26a69a", wickDownColor: "#ef5350", priceFormat: price });
  const resp = await fetch(el.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!resp.ok) { el.textContent = "could not load candles (" + resp.status + ")"; return; }
  const data = await resp.json();
  if (!data.candles.length) { el.innerHTML = '<p class="empty">no candles stored for this timeframe yet</p>'; chart.remove(); return; }
  series.setData(data.candles);
  const volume = chart.addHistogramSeries({ priceScaleId: "volume", priceFormat: { type: "volume" }, lastValueVisible: false });
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
  volume.setData(data.candles.map((c) => ({ time: c.time, value: Number(c.volume),
    color: Number(c.close) >= Number(c.open) ? "rgba(38,166,154,0.45)" : "rgba(239,83,80,0.45)" })));
  const emaColors = { ema_20: "#f2c94c", ema_50: "#bb86fc" };
  Object.entries(data.indicators || {}).forEach(([name, pts]) => {
    chart.addLineSeries({ color: emaColors[name] || "#8592a3", lineWidth: 1, priceFormat: price, title: name.replace("_", " "),
      lastValueVisible: false, priceLineVisible: false }).setData(pts);
  });
  // zones within 1.5 % of the last close widen the price scale so their bands show; farther
  // ones would flatten the candles (they are listed on the Flow page)
  const lastClose = Number(data.candles[data.candles.length - 1].close);
  const near = (data.liquidation_zones || []).filter((z) => Math.abs(z.low / lastClose - 1) <= 0.015
    || Math.abs(z.high / lastClose - 1) <= 0.015);
  if (near.length) series.applyOptions({ autoscaleInfoProvider: (original) => {
    const r = original();
    if (!r) return r;
    near.forEach((z) => { r.priceRange.minValue = Math.min(r.priceRange.minValue, z.low);
      r.priceRange.maxValue = Math.max(r.priceRange.maxValue, z.high); });
    return r;
  } });
  (data.liquidation_zones || []).forEach((z) => {
    const a = (0.25 + 0.6 * z.strength).toFixed(2);
    const color = z.side === "long" ? `rgba(239,83,80,${a})` : `rgba(38,166,154,${a})`;
    const width = Math.max(1, Math.round(1 + 3 * z.strength));
    const title = `liq ${z.side} ${z.strength.toFixed(2)}`;
    series.createPriceLine({ price: z.low, color, lineWidth: width, lineStyle: 0, axisLabelVisible: false, title });
    if (z.high !== z.low) series.createPriceLine({ price: z.high, color, lineWidth: width, lineStyle: 0, axisLabelVisible: false, title: "" });
  });
  const lv = data.decision_levels || {};
  const line = (p, color, title, style) => { if (p !== null && p !== undefined)
    series.createPriceLine({ price: Number(p), color, lineWidth: 2, lineStyle: style, axisLabelVisible: true, title }); };
  line(lv.entry_min, "#4ea1ff", "entry min", 2); line(lv.entry_max, "#4ea1ff", "entry max", 2);
  line(lv.sl, "#ef5350", "SL", 0); line(lv.tp1, "#26a69a", "TP1", 0); line(lv.tp2, "#26a69a", "TP2", 1);
  series.setMarkers(data.trade_markers || []);
  chart.timeScale().fitContent();
  window.showdownChart = chart;
})();
