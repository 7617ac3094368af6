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
  document.querySelectorAll("form[data-confirm]").forEach((f) =>
    f.addEventListener("submit", (e) => { if (!confirm(f.dataset.confirm)) e.preventDefault(); }));
})();
