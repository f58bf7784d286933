// The codescale viewer (eval/analysis/viewer.py serves it, or writes it with static data beside it).
// Pages: #/ the run, #/task/ID one task, #/rollout/TASK/ID one rollout. Every string from the run (what a model or a
// command wrote included) becomes a text node: nothing here parses HTML.
"use strict";

(function () {
  const STATIC = document.documentElement.dataset.static === "1";
  const main = document.getElementById("main");
  const crumbs = document.getElementById("crumbs");
  let runName = "";
  const { el, enc, taskHref, rolloutHref, link, pre, details, money, count, secs, grade, status, table } = window.codescaleDom;
  const { selection, wireAll } = window.codescaleBracket;

  function setCrumbs(parts) {
    crumbs.replaceChildren(...[link("#/", runName || "run")].concat(parts).flatMap((p) => [" › ", p]).slice(1));
  }

  // --- data: the JSON API, or script files beside a static page ------------------------------

  const waiting = new Map();
  window.codescaleData = function (key, data) {
    const done = waiting.get(key);
    if (done) {
      waiting.delete(key);
      done(data);
    }
  };

  const hex = (text) => Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");

  function dataFile(kind, ids) {
    if (kind === "run") return "data/run.js";
    return "data/" + hex(ids[0]) + "/" + (kind === "task" ? "task.js" : hex(ids[1]) + ".js");
  }

  async function load(kind, ids) {
    if (!STATIC) {
      const query = kind === "task" ? "?id=" + enc(ids[0]) : kind === "rollout" ? "?task=" + enc(ids[0]) + "&id=" + enc(ids[1]) : "";
      const response = await fetch("api/" + kind + query, { cache: "no-store" });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || response.statusText);
      return body;
    }
    return new Promise((resolve, reject) => {
      const key = JSON.stringify([kind].concat(ids));
      const script = document.createElement("script");
      waiting.set(key, resolve);
      script.src = dataFile(kind, ids);
      script.onload = () => {
        script.remove();
        if (waiting.delete(key)) reject(new Error(script.src + " holds no answer for this page"));
      };
      script.onerror = () => {
        script.remove();
        waiting.delete(key);
        reject(new Error("not in this static copy: " + script.src));
      };
      document.head.append(script);
    });
  }

  // --- the run ------------------------------------------------------------------------------

  async function showRun() {
    const run = await load("run", []);
    runName = run.name;
    setCrumbs([]);
    document.title = "codescale: " + run.name;
    const tasks = run.tasks;
    const graded = tasks.filter((t) => t.resolved !== null);
    const known = tasks.every((t) => t.cost_usd !== null);
    const cost = tasks.reduce((sum, t) => sum + (t.cost_usd || 0), 0);
    const running = tasks.filter((t) => t.status === "running").length;
    main.replaceChildren(
      el("h1", {}, run.name),
      el("p", { class: "meta" }, [run.model, run.strategy, run.run_id && "run " + run.run_id, run.created, run.command]
        .filter(Boolean).join(" · ")),
      el("p", { class: "totals", id: "totals" },
        `${tasks.length} tasks: ${tasks.length - running} finished, ${running} running · ` +
        (graded.length ? `${graded.filter((t) => t.resolved).length} of ${graded.length} graded resolved` : "not graded") +
        ` · ${count(tasks.reduce((s, t) => s + t.tokens, 0))} tokens · ${known ? money(cost) : "cost n/a"}`),
      table(["task", "status", "answer", "its exit", "grade", "rollouts", "tokens", "cost", "time"],
        tasks.map((t) => [
          link(taskHref(t.id), t.id),
          [status(t.status), t.error ? el("span", { class: "error" }, " " + t.error) : null],
          t.final ? link(rolloutHref(t.id, t.final), t.final) : "",
          t.final_status,
          grade(t.resolved, t.grade_error),
          `${t.rollouts}` + (t.running ? ` (${t.running} running)` : "") + ` · ${t.submitted} submitted`,
          count(t.tokens), money(t.cost_usd), secs(t.seconds),
        ]), "tasks"));
    if (running && !STATIC) later(showRun);
  }

  let timer = null;
  function later(page) {
    const hash = location.hash;
    timer = setTimeout(() => {
      if (location.hash === hash) page().catch(fail);
    }, 5000);
  }

  // --- a task -------------------------------------------------------------------------------

  async function showTask(id) {
    const task = await load("task", [id]);
    runName = task.run;
    setCrumbs([el("span", {}, id)]);
    document.title = "codescale: " + id;
    const grades = Object.fromEntries(task.rollouts.map((r) => [r.id, r.resolved]));
    const sections = [
      el("h1", {}, id),
      el("p", { class: "meta" }, status(task.status), " ", task.strategy, task.final ? " · answer " : "",
        task.final ? link(rolloutHref(id, task.final), task.final) : "", " ", grade(task.resolved, task.grade_error),
        task.seconds !== null ? " · " + secs(task.seconds) : "", task.error ? el("span", { class: "error" }, " " + task.error) : ""),
      details("Problem statement", pre(task.problem), false, "problem"),
    ];
    if (task.usage) {
      sections.push(table(["phase", "requests", "tokens", "cost"], Object.entries(task.usage)
        .map(([phase, u]) => [phase, count(u.requests), count(u.tokens), money(u.cost_usd)]), "usage"));
    }
    sections.push(el("h2", {}, "Rollouts"));
    task.generations.forEach((ids, g) => {
      const rows = task.rollouts.filter((r) => r.generation === g);
      sections.push(el("h3", {}, `Generation ${g}` + (g ? " (refined)" : "")), rolloutTable(id, rows, grades));
    });
    const refined = task.rollouts.filter((r) => r.context_from.length);
    if (refined.length) sections.push(el("h2", {}, "Which summaries fed which refined rollout"), feeds(id, refined, grades));
    if (task.selections.length) sections.push(el("h2", {}, "Selections"));
    for (const s of task.selections) sections.push(selection(id, s, grades));
    if (task.base_evidence) sections.push(el("h2", {}, "Execution evidence of the base commit"), evidence(task.base_evidence));
    main.replaceChildren(...sections);
    wireAll();
    if (task.status === "running" && !STATIC) later(() => showTask(id));
  }

  function rolloutTable(task, rows, grades) {
    return table(["rollout", "exit", "steps", "tokens", "cost", "patch", "grade", "summary", "fed by", "evidence"],
      rows.map((r) => [
        [link(rolloutHref(task, r.id), r.id), r.final ? el("span", { class: "badge final" }, "answer") : null],
        [status(r.status), r.error ? el("div", { class: "error" }, r.error) : null],
        count(r.steps), count(r.tokens), money(r.cost_usd), r.patch_lines ? `${r.patch_lines} lines` : "empty",
        [grade(r.resolved), r.reward ? ` reward ${r.reward.reward}` : ""],
        r.summary === null ? "" : details(r.fallback ? "fallback" : "summary", pre(r.summary)),
        r.context_from.map((s) => [link(rolloutHref(task, s), s), " "]),
        r.evidence ? evidenceLine(r.evidence) : "",
      ]), "rollouts");
  }

  function feeds(task, refined, grades) {
    const groups = new Map();  // the same summaries given to several rollouts (a shared context): one row
    for (const r of refined) {
      const key = JSON.stringify(r.context_from);
      if (!groups.has(key)) groups.set(key, { sources: r.context_from, fed: [] });
      groups.get(key).fed.push(r);
    }
    return el("div", { class: "feeds" }, Array.from(groups.values()).map((g) =>
      el("div", { class: "feed" },
        el("div", { class: "sources" }, g.sources.map((s) =>
          el("div", { class: "entrant", "data-rid": s }, link(rolloutHref(task, s), s), " ", grade(grades[s])))),
        el("div", { class: "arrow" }, "→"),
        el("div", { class: "fed" }, g.fed.map((r) =>
          el("div", { class: "entrant", "data-rid": r.id }, link(rolloutHref(task, r.id), r.id), " ", grade(r.resolved)))))));
  }

  function evidenceLine(ev) {
    if (ev.error) return ev.error;
    if (!ev.applied) return "does not apply";
    return ev.checks.map((c) => `${c.key}: ${c.passed}/${c.total}`).join(" · ");
  }

  function evidence(ev) {
    if (ev.error || !ev.applied) return el("p", {}, evidenceLine(ev));
    return table(["check", "passed", "failed tests"], ev.checks.map((c) =>
      [c.key + (ev.timed_out.includes(c.key) ? " (timed out)" : ""), `${c.passed} of ${c.total}`, c.failed.join(", ")]), "evidence");
  }

  // --- a rollout ----------------------------------------------------------------------------

  async function showRollout(task, id) {
    const r = await load("rollout", [task, id]);
    runName = r.run;
    setCrumbs([link(taskHref(task), task), el("span", {}, id)]);
    document.title = `codescale: ${task} ${id}`;
    const sections = [
      el("h1", {}, `${task} · ${id}`),
      el("p", { class: "meta" }, status(r.status), ` generation ${r.generation} · ${r.model} · ${r.steps.length} steps · `,
        `${count(r.tokens)} tokens · ${money(r.cost_usd)} · ${secs(r.seconds)} `, grade(r.resolved, r.grade_error),
        r.final ? el("span", { class: "badge final" }, "answer") : null),
    ];
    if (r.error) sections.push(el("p", { class: "error" }, r.error));
    if (r.failed_tests.length) sections.push(el("p", { class: "error" }, "failed tests: " + r.failed_tests.join(", ")));
    for (const note of r.notes) sections.push(el("p", { class: "note" }, note));
    if (r.context_from.length) {
      sections.push(el("p", {}, "Given the summaries of ", r.context_from.map((s, i) => [i ? ", " : "", link(rolloutHref(task, s), s)])));
    }
    if (r.summary) sections.push(details("Summary" + (r.summary.fallback ? " (fallback, written without a model)" : ""), summary(r.summary), true, "summary"));
    sections.push(details(r.patch ? `Patch (${r.patch.split("\n").length} lines)` : "Patch (empty)", pre(r.patch), false, "patch"));
    if (r.evidence) sections.push(el("h2", {}, "Execution evidence"), evidence(r.evidence));
    if (r.reward) sections.push(el("h2", {}, "Task tests"), el("p", {}, `reward ${r.reward.reward}` + (r.reward.error ? ` · ${r.reward.error}` : "")), pre(r.reward.output));
    sections.push(el("h2", {}, "Opening messages"),
      el("p", { class: r.opening.source === "stored" ? "meta" : "note" },
        r.opening.source === "stored" ? "As sent, stored in the trajectory." : r.opening.note),
      messages(r.opening.messages));
    sections.push(el("h2", {}, "Steps"), el("div", { class: "steps" }, r.steps.map((s, k) => step(r, s, k))));
    main.replaceChildren(...sections);
    if (r.status === "running" && !STATIC) later(() => showRollout(task, id));
  }

  const SECTIONS = [["understanding", "Understanding"], ["hypotheses", "Hypotheses"], ["actions", "Actions"],
    ["evidence", "Evidence"], ["failure_modes", "Failure modes"], ["final_state", "Final state"], ["lessons", "Lessons"]];

  function summary(s) {
    return el("div", {}, SECTIONS.filter(([key]) => s[key]).map(([key, title]) => [el("h4", {}, title), pre(s[key])]),
      s.error ? el("p", { class: "note" }, s.error) : null);
  }

  const ROLES = ["system", "user", "assistant"];

  function messages(list) {
    return el("ol", { class: "messages" }, list.map((m) =>
      el("li", { class: "message " + (ROLES.includes(m.role) ? m.role : "other"), "data-role": m.role },
        el("div", { class: "role" }, m.role), pre(m.content))));
  }

  function sentFor(r, k) {
    // Trajectory.messages(k): the opening messages, then each earlier step's reply and what was sent back for it.
    const sent = r.opening.messages.map((m) => ({ role: m.role, content: m.content }));
    for (const s of r.steps.slice(0, k)) sent.push({ role: "assistant", content: s.response }, { role: "user", content: s.observation });
    return sent;
  }

  function step(r, s, k) {
    const head = `Step ${s.index}` + (s.action === null ? " · no command (format error)" : ` · $ ${s.action.split("\n")[0]}`) +
      (s.returncode !== null ? ` · exit ${s.returncode}` : "") + (s.timed_out ? " · timed out" : "") +
      ` · ${secs(s.seconds)} · ${count(s.tokens)} tokens`;
    const sent = el("details", { class: "sent", "data-step": k },
      el("summary", {}, `Messages as sent (${r.opening.messages.length + 2 * k})`));
    sent.addEventListener("toggle", () => {
      if (sent.open && sent.children.length === 1) sent.append(messages(sentFor(r, k)));
    });
    return el("details", { class: "step", "data-step": k, open: r.steps.length <= 3 || k === r.steps.length - 1 },
      el("summary", {}, head),
      s.thinking ? [el("h4", {}, "Thinking" + (s.extensions ? ` (extended ${s.extensions}×)` : "") + (s.capped ? " (capped)" : "")), pre(s.thinking, "thinking")] : null,
      el("h4", {}, "Reply"), pre(s.response, "response"),
      s.action !== null ? [el("h4", {}, "Command"), pre(s.action, "command")] : null,
      el("h4", {}, (s.action === null ? "Format error" : "Output") + (k < r.steps.length - 1 ? ", as sent back" : "")),
      pre(s.observation, "observation"),
      sent);
  }

  // --- routing ------------------------------------------------------------------------------

  function fail(error) {
    main.replaceChildren(el("p", { class: "error", id: "failure" }, String(error.message || error)));
  }

  function route() {
    clearTimeout(timer);
    const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    let page;
    delete main.dataset.shown;
    if (parts[0] === "task" && parts.length === 2) page = showTask(parts[1]);
    else if (parts[0] === "rollout" && parts.length === 3) page = showRollout(parts[1], parts[2]);
    else page = showRun();
    return page.catch(fail).then(() => {
      main.dataset.shown = location.hash || "#/";  // what the page shows now (tests wait for it)
    });
  }

  window.addEventListener("hashchange", () => {
    window.scrollTo(0, 0);
    route();
  });
  document.getElementById("refresh").addEventListener("click", route);
  route();
})();
