// Position page: the open trade's figures (mark, unrealised P&L, age) re-read every 10 s
// from the page itself, so they stay live without touching the force-exit form.
(function () {
  const card = document.getElementById("open-trade");
  if (!card) return;
  const timer = setInterval(async () => {
    const resp = await fetch(location.href, { credentials: "same-origin" });
    if (!resp.ok) { if (resp.status === 401) { clearInterval(timer); Showdown.sessionEnded(); } return; }
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    const fresh = doc.querySelector("#open-trade table.kv");
    const now = card.querySelector("table.kv");
    if (fresh && now) now.replaceWith(fresh);
    else if (!!fresh !== !!now) location.reload();  // opened or closed meanwhile
  }, 10000);
})();
