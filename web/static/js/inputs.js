// Sentiment form: the label follows the slider (same bands as the validator).
(function () {
  const form = document.getElementById("sentiment-form");
  if (!form) return;
  const band = Number(form.dataset.band || 0.5);
  const slider = document.getElementById("sentiment-score");
  const label = (s) => (s <= -band ? "bearish" : s >= band ? "bullish" : "neutral");
  const update = () => {
    const s = Number(slider.value);
    document.getElementById("score-value").textContent = s.toFixed(1);
    document.getElementById("label-value").textContent = label(s);
    document.getElementById("sentiment-label").value = label(s);
  };
  slider.addEventListener("input", update);
  update();
})();
