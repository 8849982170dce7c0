// Filters the catalog's lists as you type (the server does the same search
// for ?q=, so the page works without JavaScript too).
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("search");
  const items = document.querySelectorAll(".item[data-search]");
  if (!box || items.length === 0) return;
  const nomatch = document.getElementById("nomatch");
  const filter = () => {
    const words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    const counts = {};
    let shown = 0;
    items.forEach((el) => {
      const hay = el.dataset.search;
      const ok = words.every((w) => hay.includes(w));
      el.hidden = !ok;
      if (ok) {
        counts[el.dataset.kind] = (counts[el.dataset.kind] || 0) + 1;
        shown++;
      }
    });
    document.querySelectorAll("[data-count]").forEach((el) => {
      el.textContent = counts[el.dataset.count] || 0;
    });
    if (nomatch) nomatch.hidden = shown > 0;
  };
  box.addEventListener("input", filter);
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement !== box) {
      e.preventDefault();
      box.focus();
    }
  });
});
