// Shared helpers: the CSRF token for fetch(), the site's URL prefix, number formatting.
(function () {
  const meta = (n) => (document.querySelector(`meta[name="${n}"]`) || {}).content || "";
  window.Showdown = {
    root: meta("script-root"),
    csrf: meta("csrf-token"),
    url(path) { return this.root + path; },
    async api(method, path, body) {
      const opts = { method, headers: { "X-CSRFToken": this.csrf, "Accept": "application/json" }, credentials: "same-origin" };
      if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = typeof body === "string" ? body : JSON.stringify(body); }
      const resp = await fetch(this.url(path), opts);
      let data = null;
      try { data = await resp.json(); } catch (e) { data = { error: "bad_response", message: resp.statusText }; }
      return { ok: resp.ok, status: resp.status, data };
    },
    // prices to the tick (0.1), quantities to the step (0.001), as engine/format.py does
    price(x) { return x === null || x === undefined || x === "" ? "—" : Number(x).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 }); },
    qty(x) { return x === null || x === undefined || x === "" ? "—" : Number(x).toLocaleString("en-US", { minimumFractionDigits: 3, maximumFractionDigits: 3 }); },
    fmt(x, d = 2) { return x === null || x === undefined ? "—" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d }); },
  };
  // The SAFE MODE banner follows the worker on every page, without a reload: shown when it
  // enters SAFE MODE, gone when it leaves. The Status page feeds it from its own 5 s refresh
  // (status.js sets statusPolled); any other signed-in page reads /api/status itself.
  Showdown.showSafeMode = function (safe) {
    const slot = document.getElementById("safe-mode-slot");
    let banner = document.getElementById("safe-mode-banner");
    if (banner && (!safe || banner.dataset.reason !== safe.reason)) { banner.remove(); banner = null; }
    if (!safe || banner || !slot) return;
    banner = document.createElement("div");  // the same banner as base.html renders
    banner.className = "flash error safe-mode-banner"; banner.id = "safe-mode-banner"; banner.setAttribute("role", "alert");
    banner.dataset.reason = safe.reason;
    const strong = document.createElement("strong"); strong.textContent = `SAFE MODE (${safe.reason}).`;
    banner.append(strong, ` ${safe.text}; no new entries, the open position stays protected.`);
    if (slot.dataset.controlUrl) {
      const a = document.createElement("a"); a.href = slot.dataset.controlUrl; a.textContent = "Control";
      banner.append(" ", a);
    }
    slot.before(banner);
  };
  // A poll answered 401: the session ended (sign-out elsewhere, password or role change).
  // Say so on the open page, with the way back in, and stop polling.
  Showdown.sessionEnded = function (message) {
    Showdown.ended = true;
    if (document.getElementById("session-ended")) return;
    const box = document.createElement("div");
    box.className = "flash error"; box.id = "session-ended"; box.setAttribute("role", "alert");
    box.textContent = (message || "your session has ended; sign in again").replace(/^./, (c) => c.toUpperCase()) + " ";
    const a = document.createElement("a"); a.href = Showdown.url("/login"); a.textContent = "Sign in";
    box.append(a);
    document.querySelector("main").prepend(box);
  };
  if (document.getElementById("safe-mode-slot")) {
    const timer = setInterval(async () => {
      if (Showdown.statusPolled || document.hidden) return;
      const r = await Showdown.api("GET", "/api/status");
      if (r.status === 401) { clearInterval(timer); Showdown.sessionEnded(r.data && r.data.message); return; }
      if (r.ok && r.data) Showdown.showSafeMode(r.data.safe_mode);
    }, 5000);
  }
  document.querySelectorAll("form[data-confirm]").forEach((f) =>
    f.addEventListener("submit", (e) => { if (!confirm(f.dataset.confirm)) e.preventDefault(); }));
})();
