// Rules editor: CodeMirror (YAML, line numbers) over the form's textarea; the problems
// the server listed for this file are marked on their lines (and in the gutter).
(function () {
  const ta = document.getElementById("rules-text");
  if (!ta || typeof CodeMirror === "undefined") return;
  const file = ta.dataset.file;
  const cm = CodeMirror.fromTextArea(ta, {
    mode: "yaml", lineNumbers: true, theme: "material-darker", indentUnit: 2, tabSize: 2,
    readOnly: ta.hasAttribute("readonly"), gutters: ["CodeMirror-linenumbers", "problem-gutter"],
    extraKeys: { Tab: (c) => c.replaceSelection("  ") },  // YAML: spaces, never tabs
  });
  window.rulesEditor = cm;  // for tests and the console
  let first = null;
  document.querySelectorAll("#rules-problems li[data-file]").forEach((li) => {
    if (li.dataset.file !== file) return;
    const line = Math.max(0, Number(li.dataset.line) - 1);
    const msg = li.textContent;
    cm.addLineClass(line, "background", "cm-error-line");
    const mark = document.createElement("span");
    mark.className = "problem-mark"; mark.textContent = "●"; mark.title = msg;
    cm.setGutterMarker(line, "problem-gutter", mark);
    li.classList.add("jump");
    li.addEventListener("click", () => { cm.setCursor({ line, ch: Math.max(0, Number(li.dataset.col) - 1) }); cm.focus(); });
    if (first === null) first = line;
  });
  if (first !== null) cm.scrollIntoView({ line: first, ch: 0 }, 120);
})();
