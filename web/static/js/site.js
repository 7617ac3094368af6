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
    fmt(x, d = 2) { return x === null || x === undefined ? "—" : Number(x).toLocaleString("en-US", { maximumFractionDigits: d }); },
  };
  // The SAFE MODE banner follows the worker on every page, without a reload: shown when it
  // enters SAFE MODE, gone when it leaves. The Status page feeds it from its own 5 s refresh
  // (status.js sets statusPolled); any other signed-in page reads /api/status itself.
  Showdown.showSafeMode = function (safe) {
    const slot = document.getElementById("safe-mode-slot");
    let banner = document.getElementById("safe-mode-banner");
    if (!safe) { if (banner) banner.remove(); return; }
    if (!banner && slot) {  // the same markup as base.html renders
      banner = document.createElement("div");
      banner.className = "flash error safe-mode-banner"; banner.id = "safe-mode-banner"; banner.setAttribute("role", "alert");
      banner.innerHTML = '<strong>SAFE MODE (<span class="safe-mode-reason"></span>).</strong> <span class="safe-mode-text"></span>; '
        + "no new entries, the open position stays protected.";
      if (slot.dataset.controlUrl) {
        const a = document.createElement("a"); a.href = slot.dataset.controlUrl; a.textContent = "Control";
        banner.append(" ", a);
      }
      slot.before(banner);
    }
    if (!banner) return;
    banner.querySelector(".safe-mode-reason").textContent = safe.reason;
    banner.querySelector(".safe-mode-text").textContent = safe.text;
  };
  if (document.getElementById("safe-mode-slot")) {
    setInterval(async () => {
      if (Showdown.statusPolled || document.hidden) return;
      const r = await Showdown.api("GET", "/api/status");
      if (r.ok && r.data) Showdown.showSafeMode(r.data.safe_mode);
    }, 5000);
  }
  document.querySelectorAll("form[data-confirm]").forEach((f) =>
    f.addEventListener("submit", (e) => { if (!confirm(f.dataset.confirm)) e.preventDefault(); }));
})();
