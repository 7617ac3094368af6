// Status page: re-read /api/status every 5 s and update the figures in place.
(function () {
  Showdown.statusPolled = true;  // this page's refresh feeds the SAFE MODE banner (site.js)
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? "—").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const lightHtml = (c) => `<span class="light ${esc(c)}" title="${esc(c)}"></span>`;
  async function refresh() {
    const r = await Showdown.api("GET", "/api/status");
    if (!r.ok) { if (r.status === 401) { clearInterval(timer); Showdown.sessionEnded(r.data && r.data.message); } return; }
    const s = r.data;
    $("updated").textContent = s.time;
    $("market-time").hidden = s.market_time === s.time;
    $("market-time-value").textContent = s.market_time;
    const st = $("bot-state"); st.textContent = s.bot_state; st.className = "state state-" + s.bot_state;
    $("risk-mode").textContent = s.risk_mode || "—";
    $("entries").textContent = s.entries.text;
    Showdown.showSafeMode(s.safe_mode);
    const loops = s.crash_loops || [];
    $("crash-loops-card").hidden = !loops.length;
    $("crash-loops").innerHTML = loops.map((c) => `<li><b>${esc(c.child)}</b>: ${esc(c.restarts)} restarts in ${esc(c.minutes)} min (last exit code ${esc(c.last_code)})${c.since ? `, since ${esc(c.since)}` : ""} — see logs/run.log</li>`).join("");
    const ref = s.rules_refusal;
    $("rules-refusal-card").hidden = !ref;
    $("rules-refusal").innerHTML = ref ? `<p>${esc(ref.time)} (${esc(ref.source)}): version <code>${esc((ref.version || "—").slice(0, 12))}</code> refused; <code>${esc((ref.active || "—").slice(0, 12))}</code> stays active.</p><ul>${ref.problems.map((p) => `<li><code>${esc(p)}</code></li>`).join("")}</ul>` : "";
    $("ruleset-version").textContent = s.ruleset ? s.ruleset.version.slice(0, 12) : "—";
    $("pnl-day").textContent = s.pnl.day_usdt; $("pnl-week").textContent = s.pnl.week_usdt;
    $("trades-today").textContent = s.pnl.trades_today;
    $("loops").innerHTML = "<tr><th>loop</th><th>state</th><th>heartbeat</th></tr>" + (s.loops.length ? s.loops.map((b) =>
      `<tr><td>${lightHtml(b.freshness)}${esc(b.component)}</td><td>${esc(b.state)}</td><td class="num">${esc(b.age_s)} s ago</td></tr>`).join("")
      : '<tr><td colspan="3" class="empty">no loop has reported yet</td></tr>');
    $("freshness").innerHTML = s.data_freshness.map((f) =>
      `<tr><td>${lightHtml(f.freshness)}${esc(f.name)}</td><td class="num wrap">${esc(f.as_of || "none in force")}${f.future ? ` <span class="future">(future: ${esc(f.future)})</span>` : ""}</td></tr>`).join("");
    $("orders").innerHTML = "<tr><th>role</th><th>side</th><th>type</th><th class=num>price</th><th class=num>qty</th></tr>" +
      (s.open_orders.length ? s.open_orders.map((o) => `<tr><td>${esc(o.role)}</td><td>${esc(o.side)}</td><td>${esc(o.type)}</td><td class="num">${esc(Showdown.price(o.price || o.stop_price))}</td><td class="num">${esc(Showdown.qty(o.quantity))}</td></tr>`).join("")
        : '<tr><td colspan="5" class="empty">none</td></tr>');
    const p = s.position;
    $("position").innerHTML = p ? `<table class="kv"><tr><th>side</th><td class="act-${esc(p.side)}">${esc(p.side)}</td></tr><tr><th>quantity</th><td class="num">${esc(Showdown.qty(p.quantity))}</td></tr><tr><th>entry</th><td class="num">${esc(Showdown.price(p.entry_price))}</td></tr><tr><th>stop-loss</th><td class="num">${esc(Showdown.price(p.sl_price))}</td></tr></table>` : '<p class="empty">flat</p>';
    const d = s.last_decision;
    $("last-decision").innerHTML = d ? `<p><b class="act-${esc(d.action)}">${esc(d.action.toUpperCase())}</b> ${esc(d.reason || "")}<br><span class="muted">${esc(d.time)} · confidence ${esc(Showdown.fmt(d.confidence, 2))}</span><br><a href="${Showdown.url("/decisions/" + d.id)}">why? (rule trace)</a></p>` : '<p class="empty">no decision yet</p>';
    const rec = s.last_reconciliation;
    $("reconciliation").innerHTML = rec ? `${esc(rec.time)} · ${esc(rec.summary)}` : '<span class="empty">none yet</span>';
  }
  const timer = setInterval(refresh, 5000);
})();
