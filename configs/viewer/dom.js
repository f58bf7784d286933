// How the codescale viewer builds its DOM: every string from a run becomes a text node; nothing here parses HTML.
"use strict";

window.codescaleDom = (function () {
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "open") node.open = true;
      else if (key === "href" || key === "title" || key === "id" || key.startsWith("data-")) node.setAttribute(key, String(value));
      else throw new Error("el: unexpected property " + key);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const enc = encodeURIComponent;
  const taskHref = (id) => "#/task/" + enc(id);
  const rolloutHref = (task, id) => "#/rollout/" + enc(task) + "/" + enc(id);
  const link = (href, text, cls) => el("a", { href: href, class: cls }, text);
  const pre = (text, cls) => el("pre", { class: cls || "" }, text === null || text === undefined ? "" : text);
  const details = (summary, body, open, cls) => el("details", { open: open, class: cls }, el("summary", {}, summary), body);

  function money(cost) {
    return cost === null || cost === undefined ? "n/a" : "$" + cost.toFixed(cost < 1 ? 4 : 2);
  }
  const count = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString("en-US"));
  const secs = (s) => (s === null || s === undefined ? "" : s.toFixed(1) + " s");

  function grade(resolved, extra) {
    if (resolved === true) return el("span", { class: "badge ok" }, "resolved");
    if (resolved === false) return el("span", { class: "badge bad", title: extra || "" }, "unresolved");
    return el("span", { class: "badge none" }, "ungraded");
  }

  function status(value) {
    const cls = value === "submitted" || value === "done" ? "ok" : value === "running" ? "running" : "warn";
    return el("span", { class: "badge " + cls }, value || "");
  }

  function table(headings, rows, cls) {
    return el("table", { class: cls || "" },
      el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
  }

  return { el, enc, taskHref, rolloutHref, link, pre, details, money, count, secs, grade, status, table };
})();
