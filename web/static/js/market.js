// Market page: candlesticks (TradingView lightweight-charts) with volume, the rules' EMAs,
// the liquidation zones as shaded bands over their price range (opacity by strength), the decision's entry zone,
// SL and TP lines, and the trades (entry arrows, exit dots coloured by result).
// A series primitive (lightweight-charts 4.1+ plugin API): the liquidation zones as bands.
class LiquidationBands {
  constructor(zones) { this.zones = zones; this.drawn = []; this.series = null; this.view = new LiquidationBandsView(this); }
  attached({ series }) { this.series = series; }
  detached() { this.series = null; }
  updateAllViews() { this.view.update(); }
  paneViews() { return [this.view]; }
}
class LiquidationBandsView {
  constructor(source) { this.source = source; this.rects = []; }
  update() {
    const s = this.source.series;
    this.rects = s ? this.source.zones.map((z) => {
      const hi = s.priceToCoordinate(z.high), lo = s.priceToCoordinate(z.low);
      if (hi === null || lo === null) return null;
      const min = 3 + 6 * z.strength;  // a one-price zone still shows, by strength
      const mid = (hi + lo) / 2, half = Math.max(Math.abs(lo - hi), min) / 2;
      return { top: mid - half, bottom: mid + half, fill: `rgba(${z.color},${z.alpha.toFixed(2)})`,
        edge: `rgba(${z.color},${Math.min(1, z.alpha + 0.3).toFixed(2)})`,
        label: `liq ${z.side} ${z.strength.toFixed(2)}`, zone: z };
    }).filter(Boolean) : [];
  }
  zOrder() { return "bottom"; }
  renderer() {
    const rects = this.rects, source = this.source;
    return { draw(target) {
      source.drawn = rects.map((r) => ({ top: r.top, bottom: r.bottom, fill: r.fill, low: r.zone.low, high: r.zone.high }));
      target.useBitmapCoordinateSpace((scope) => {
        const ctx = scope.context, k = scope.verticalPixelRatio, w = scope.bitmapSize.width;
        rects.forEach((r) => {
          const top = Math.round(r.top * k), h = Math.max(1, Math.round((r.bottom - r.top) * k));
          ctx.fillStyle = r.fill; ctx.fillRect(0, top, w, h);
          ctx.fillStyle = r.edge; ctx.fillRect(0, top, w, Math.max(1, Math.round(k)));
          ctx.font = `${Math.round(10 * k)}px sans-serif`; ctx.fillText(r.label, Math.round(4 * scope.horizontalPixelRatio), top - Math.round(2 * k));
        });
      });
    } };
  }
}

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
  // each zone a shaded band over its price range, the stronger the more opaque (a zone of
  // one price a band of a few pixels, thicker by strength), behind the candles
  const zones = (data.liquidation_zones || []).map((z) => ({ ...z,
    color: `${z.side === "long" ? "239,83,80" : "38,166,154"}`, alpha: 0.12 + 0.38 * z.strength }));
  const bands = new LiquidationBands(zones);
  series.attachPrimitive(bands);
  window.showdownLiqBands = bands;
  const lv = data.decision_levels || {};
  const line = (p, color, title, style) => { if (p !== null && p !== undefined)
    series.createPriceLine({ price: Number(p), color, lineWidth: 2, lineStyle: style, axisLabelVisible: true, title }); };
  line(lv.entry_min, "#4ea1ff", "entry min", 2); line(lv.entry_max, "#4ea1ff", "entry max", 2);
  line(lv.sl, "#ef5350", "SL", 0); line(lv.tp1, "#26a69a", "TP1", 0); line(lv.tp2, "#26a69a", "TP2", 1);
  series.setMarkers(data.trade_markers || []);
  chart.timeScale().fitContent();
  window.showdownChart = chart;
})();
