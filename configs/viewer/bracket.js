// A selection drawn as a bracket: one column per round, a box per match (its entrants with their tallies, the votes
// in each order shown, tie-breaks), then the chosen; wires from each winner to its next match.
"use strict";

window.codescaleBracket = (function () {
  const { el, link, pre, details, rolloutHref, grade, money, count } = window.codescaleDom;
  const SVG = "http://www.w3.org/2000/svg";

  function stageTitle(s) {
    const how = s.method === "rtv" ? "tournament" : "random pick";
    if (s.stage === "final") return `Final selection: ${how}, seed ${s.seed}`;
    const from = s.stage.replace("context-g", "");
    return `PDR context for generation ${Number(from) + 1}: ${how} of generation ${from} down to ${s.stop_at}, seed ${s.seed}`;
  }

  function selection(task, s, grades) {
    const parts = [el("h3", {}, stageTitle(s))];
    const dropped = Object.entries(s.dropped);
    if (dropped.length) {
      parts.push(el("p", { class: "dropped" }, "Left out before the bracket: ",
        dropped.map(([rid, why], i) => [i ? "; " : "", link(rolloutHref(task, rid), rid), ` (${why})`])));
    }
    parts.push(el("p", { class: "meta" }, `${s.candidates.length} entered · chose `,
      s.winners.map((rid, i) => [i ? ", " : "", link(rolloutHref(task, rid), rid)]),
      ` · ${count(s.tokens)} judge tokens · ${money(s.cost_usd)}`));
    if (s.rounds.length) parts.push(bracket(task, s, grades));
    return el("section", { class: "selection", "data-stage": s.stage }, parts);
  }

  function bracket(task, s, grades) {
    const box = el("div", { class: "bracket" });
    const wires = document.createElementNS(SVG, "svg");
    wires.setAttribute("class", "wires");
    box.append(wires);
    for (const round of s.rounds) {
      box.append(el("div", { class: "round" }, el("h4", {}, `Round ${round.index + 1}`),
        el("div", { class: "slots" }, round.matches.map((m) => match(task, m, grades)))));
    }
    box.append(el("div", { class: "round chosen" }, el("h4", {}, "Chosen"),
      el("div", { class: "slots" }, s.winners.map((rid) => el("div", { class: "match" }, entrant(task, rid, grades, true, null))))));
    box.addEventListener("toggle", () => wire(box), true);
    return box;
  }

  function entrant(task, rid, grades, won, tally) {
    return el("div", { class: "entrant" + (won ? " win" : ""), "data-rid": rid },
      link(rolloutHref(task, rid), rid), " ", grade(grades[rid]),
      tally === null ? null : el("span", { class: "tally", title: "votes" }, String(tally)));
  }

  function match(task, m, grades) {
    const box = el("div", { class: "match" + (m.bye ? " bye" : "") },
      m.candidates.map((rid) => entrant(task, rid, grades, m.winners.includes(rid), m.bye ? null : m.tally[rid] || 0)));
    if (m.bye) {
      box.append(el("div", { class: "how" }, "bye: no opponent left"));
      return box;
    }
    for (const o of m.orderings) {
      box.append(el("div", { class: "ordering" }, "shown ", o.order.join(" · "), ": ",
        o.order.map((rid) => `${o.choices[rid]}`).join("–"), o.invalid ? ` (${o.invalid} invalid)` : ""));
    }
    const standing = Object.entries(m.standing);
    if (standing.length) box.append(el("div", { class: "how" }, "standing votes from evidence: ",
      standing.map(([rid, n]) => `${rid} +${n}`).join(", ")));
    if (m.identical) box.append(el("div", { class: "how" }, "identical outcomes: the tie rule picked, no judge request"));
    else if (!m.judged) box.append(el("div", { class: "how" }, "decided without the judge"));
    if (m.tie_break) box.append(el("div", { class: "how tie" }, m.tie_break === "revote" ? "tie: voted again" : `tie broken by rule: ${m.tie_break}`));
    if (m.note) box.append(el("div", { class: "how tie" }, m.note));
    if (m.votes.length) {
      box.append(details(`${m.votes.length} votes`, m.votes.map((v, i) => el("div", { class: "vote" },
        el("div", { class: "meta" }, `#${i + 1} shown ${v.order.join(" · ")} → ` +
          (v.choice || (v.failed ? "request failed" : v.empty ? "empty reply" : "invalid"))),
        pre(v.response))), false, "votes"));
    }
    return box;
  }

  function wire(box) {
    const wires = box.querySelector("svg.wires");
    const origin = box.getBoundingClientRect();
    wires.setAttribute("width", box.scrollWidth);
    wires.setAttribute("height", box.scrollHeight);
    wires.replaceChildren();
    const rounds = Array.from(box.querySelectorAll(":scope > .round"));
    for (let r = 1; r < rounds.length; r++) {
      const winners = Array.from(rounds[r - 1].querySelectorAll(".entrant.win"));
      for (const target of rounds[r].querySelectorAll(".entrant")) {
        const source = winners.find((w) => w.dataset.rid === target.dataset.rid);
        if (!source) continue;
        const a = source.closest(".match").getBoundingClientRect(), b = target.closest(".match").getBoundingClientRect();
        const sy = source.getBoundingClientRect(), ty = target.getBoundingClientRect();
        const x1 = a.right - origin.left + box.scrollLeft, y1 = sy.top + sy.height / 2 - origin.top;
        const x2 = b.left - origin.left + box.scrollLeft, y2 = ty.top + ty.height / 2 - origin.top;
        const mid = (x1 + x2) / 2;
        const path = document.createElementNS(SVG, "path");
        path.setAttribute("d", `M${x1},${y1} H${mid} V${y2} H${x2}`);
        wires.append(path);
      }
    }
  }

  function wireAll() {
    for (const box of document.querySelectorAll(".bracket")) wire(box);
  }
  window.addEventListener("resize", wireAll);

  return { selection, wireAll };
})();
