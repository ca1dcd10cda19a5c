// maskner's HTML view (src/view/mod.rs describes the page data). Every piece of record text
// reaches the page through textContent or setAttribute, never as markup.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("maskner-data").textContent);
  const app = document.getElementById("app");
  const panel = document.getElementById("panel");

  // One colour per group, the same on every page; groups outside the built-in taxonomies get
  // one from a hash of their name.
  const COLOURS = {
    DISEASE: "#f7a8a8", THERAPEUTIC_OR_PREVENTIVE_PROCEDURE: "#a8d8f7", GENE: "#c6b3f2",
    BIO: "#b5e7a0", BODY_PART_OR_ORGAN_COMPONENT: "#f7cfa0", ORGANISM_FUNCTION: "#e7d6a8",
    MEASURE: "#d2d2d8", PERSON: "#ffd966", LOCATION: "#9fe2d5", ORGANIZATION: "#f2b3d9",
    ENT: "#f5b58f", OBJECT: "#c9dca0", LANGUAGE: "#a9c4eb", COLOR: "#e8b9a6",
    SOCIAL_CIRCUMSTANCES: "#d9c2e8", GRAMMAR_CONSTRUCT: "#e4e4e4", LEGAL: "#c7d3a2",
    POLITICS: "#e3a9b9", SOFTWARE: "#a7d0c4", OTHER: "#eeeeee", UNTAGGED_ENTITY: "#f0f0f0",
  };
  function colour(group) {
    if (Object.prototype.hasOwnProperty.call(COLOURS, group)) return COLOURS[group];
    let h = 0;
    for (const c of String(group)) h = (h * 31 + c.codePointAt(0)) % 360;
    return "hsl(" + h + ", 65%, 80%)";
  }

  // el("tag", {class, data-x, ...}, children...): strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "style") for (const [p, x] of Object.entries(v)) node.style.setProperty(p, x);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const fmt = (x, d) => (typeof x === "number" ? x.toFixed(d === undefined ? 4 : d) : "");
  const idText = (id) => (id === null || id === undefined ? "" : typeof id === "string" ? id : JSON.stringify(id));

  // ---------------------------------------------------------------- tag records
  // Offsets are Unicode scalar values, as in the JSON output; JS strings count UTF-16 units,
  // so the text is cut as an array of code points.
  function markedText(rec) {
    const chars = Array.from(rec.text || "");
    const ents = (rec.entities || []).map((e, i) => ({ e, i })).sort((a, b) => a.e.start - b.e.start);
    const covered = (s, t) => ents.some(({ e }) => s < e.end && e.start < t);
    const phrases = (rec.phrases || []).filter((p) => !covered(p.start, p.end)).sort((a, b) => a.start - b.start);
    const spans = [];
    for (const { e, i } of ents) spans.push({ start: e.start, end: e.end, ent: e, index: i });
    for (const p of phrases) spans.push({ start: p.start, end: p.end, phrase: p });
    spans.sort((a, b) => a.start - b.start || b.end - a.end);
    const out = el("div", { class: "text", dir: "auto" });
    let at = 0;
    for (const s of spans) {
      if (s.start < at || s.end > chars.length || s.end <= s.start) continue;
      if (s.start > at) out.append(chars.slice(at, s.start).join(""));
      const piece = chars.slice(s.start, s.end).join("");
      if (s.ent) out.append(entityMark(rec, s.ent, s.index, piece));
      else out.append(el("span", { class: "phrase", title: "phrase tagged " + s.phrase.tag + " (no entity)", "data-tag": s.phrase.tag }, piece));
      at = s.end;
    }
    if (at < chars.length) out.append(chars.slice(at).join(""));
    return out;
  }

  function entityMark(rec, e, index, piece) {
    const second = e.second || null;
    const chip = second ? e.subtype + " / " + second.subtype : e.subtype;
    const mark = el("mark", {
      class: "ent" + (second ? " dual" : ""), tabindex: 0, role: "button",
      "data-group": e.group, "data-subtype": e.subtype, "data-start": e.start, "data-end": e.end,
      "data-second": second ? second.group : null, "data-index": index,
      title: e.group + (second ? " / " + second.group : "") + " — score " + fmt(e.score) + ", " + e.member,
      style: { "--c": colour(e.group), "--c2": second ? colour(second.group) : "transparent" },
      // the chip is drawn by CSS from data-label, so the text copies and reads as the input
      "data-label": chip,
    }, el("span", { class: "word" }, piece));
    const open = () => openPanel(rec, e, mark);
    mark.addEventListener("click", open);
    mark.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); }
    });
    return mark;
  }

  function recordNode(rec, open) {
    if (rec.error !== undefined && rec.text === undefined) {
      return el("div", { class: "record error", role: "note", "data-id": idText(rec.id) }, "#" + idText(rec.id) + ": " + rec.error);
    }
    const groups = new Set((rec.entities || []).map((e) => e.group));
    const node = el("details", { class: "record", open, "data-groups": Array.from(groups).join(" ") },
      el("summary", {}, "#" + idText(rec.id) + " · " + (rec.entities || []).length + " entit" + ((rec.entities || []).length === 1 ? "y" : "ies") + " · ",
        el("span", { class: "sum-text" }, Array.from(rec.text || "").slice(0, 90).join("") + (Array.from(rec.text || "").length > 90 ? "…" : ""))),
      markedText(rec));
    node.groups = groups;
    return node;
  }

  // ---------------------------------------------------------------- the entity panel
  let lastMark = null;
  function closePanel() {
    panel.hidden = true;
    document.body.classList.remove("panel-open");
    if (lastMark) { lastMark.classList.remove("selected"); lastMark.focus(); }
  }
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !panel.hidden) closePanel(); });

  // A page's explanation is compact (src/view/mod.rs, compact_explanations); the server sends
  // the --explain JSON. Both end up in the --explain shape.
  function expand(x) {
    if (!x || !x.d) return x;
    const names = DATA.names || [];
    const list = (items, at) => (items || []).map(([i, logit, labels, counts]) =>
      (labels === undefined ? { token: names[i], logit, at } : { token: names[i], logit, at, labels, counts }));
    const dist = (items) => (items || []).map(([i, confidence, stypes]) => ({ e: names[i], confidence, stypes }));
    return Object.assign({}, x, {
      distribution: dist(x.distribution), cs_only: dist(x.cs_only), ci_only: dist(x.ci_only),
      cs_descriptors: list(x.d.cs, "mask"), ci_descriptors: list(x.d.cls, "cls").concat(list(x.d.mask, "mask")),
    });
  }

  function signature(member, d) {
    if (d.labels !== undefined) return [d.labels, d.counts];
    const table = (DATA.signatures || {})[member] || {};
    return table[d.token] || ["", ""];
  }

  function descriptorTable(member, descs, caption) {
    const rows = descs.map((d) => {
      const [labels, counts] = signature(member, d);
      const ls = String(labels).split("/").filter(Boolean);
      const cs = String(counts).split("/");
      // the first labels carry most of the counts; all of them are in the cell's title
      const shown = ls.slice(0, 4).map((l, k) => [k ? " " : "", el("b", {}, l), cs[k] ? "\u00a0" + cs[k] : ""]);
      const more = ls.length > 4 ? " +" + (ls.length - 4) + " more" : "";
      const full = ls.map((l, k) => l + (cs[k] ? " " + cs[k] : "")).join(", ");
      return el("tr", { class: "desc", "data-token": d.token, "data-at": d.at || "mask", "data-labels": labels },
        el("td", { class: "token" }, d.token), el("td", { class: "num" }, fmt(d.logit)), el("td", { class: "labels", title: full }, shown, more));
    });
    return [el("h4", {}, caption + " (" + descs.length + ")"),
      descs.length ? el("table", { class: "descs" }, el("thead", {}, el("tr", {}, el("th", {}, "descriptor"), el("th", {}, "logit"), el("th", {}, "entity labels (counts)"))), el("tbody", {}, rows))
        : el("p", { class: "muted" }, "none")];
  }

  function bars(dist) {
    const top = (dist || []).filter((g) => g.confidence > 0).slice(0, 8);
    return el("div", { class: "bars", role: "img", "aria-label": "pooled distribution" },
      top.map((g) => {
        const group = String(g.e).split("[")[0];
        return [el("span", { class: "name", title: g.e }, g.e), el("div", { class: "bar", style: { width: Math.max(0.5, g.confidence * 100) + "%", "--c": colour(group) } }), el("span", { class: "val" }, fmt(g.confidence))];
      }));
  }

  function subtypes(dist) {
    const top = (dist || [])[0];
    if (!top || !top.stypes) return null;
    const parts = Object.entries(top.stypes).slice(0, 3).map(([k, v]) => k + " " + fmt(v, 2));
    return el("p", { class: "muted stypes" }, "subtypes of " + top.e + ": " + parts.join(" · "));
  }

  function memberSection(member, ex, decided) {
    const sec = el("section", { class: "member", "data-member": member },
      el("h3", {}, member + (decided ? " (decided)" : "")));
    if (ex.label !== undefined) {
      sec.append(el("dl", { class: "kv" }, el("dt", {}, "model label"), el("dd", {}, ex.label), el("dt", {}, "score"), el("dd", {}, fmt(ex.score))));
      return sec;
    }
    const tops = (d) => (d || []).slice(0, 3).map((g) => g.e + " " + fmt(g.confidence, 2)).join(" · ");
    sec.append(el("dl", { class: "kv" }, el("dt", {}, "vote"), el("dd", {}, ex.top || ""),
      el("dt", {}, "in context alone"), el("dd", { class: "cs-only" }, tops(ex.cs_only)),
      el("dt", {}, "out of context alone"), el("dd", { class: "ci-only" }, tops(ex.ci_only))),
      el("h4", {}, "pooled distribution (CS + CI)"), bars(ex.distribution),
      subtypes(ex.distribution));
    const ci = ex.ci_descriptors || [];
    sec.append(...descriptorTable(member, ex.cs_descriptors || [], "in context: [MASK] of the CS prompt"));
    sec.append(...descriptorTable(member, ci.filter((d) => d.at === "cls"), "out of context: [CLS] of the CI prompt"));
    sec.append(...descriptorTable(member, ci.filter((d) => d.at !== "cls"), "out of context: [MASK] of the CI prompt"));
    return sec;
  }

  function openPanel(rec, e, mark) {
    if (lastMark) lastMark.classList.remove("selected");
    lastMark = mark;
    mark.classList.add("selected");
    const ex = e.explanation ? Object.fromEntries(Object.entries(e.explanation).map(([m, x]) => [m, expand(x)])) : null;
    const members = ex ? Object.keys(ex) : [];
    const others = members.filter((m) => m !== e.member);
    const votes = others.map((m) => [el("dt", {}, m + " voted"), el("dd", {}, ex[m].top || ex[m].label || "")]);
    const parts = [
      el("button", { class: "close", type: "button", "aria-label": "close" }, "×"),
      el("h2", { id: "panel-title" }, e.word),
      el("dl", { class: "kv" },
        el("dt", {}, "group"), el("dd", {}, el("span", { class: "tagchip", style: { "--c": colour(e.group) } }, e.group)),
        el("dt", {}, "subtype"), el("dd", { class: "subtype" }, e.subtype),
        e.second ? [el("dt", {}, "second"), el("dd", { class: "second" }, e.second.group + " / " + e.second.subtype)] : null,
        el("dt", {}, "score"), el("dd", {}, fmt(e.score)),
        el("dt", {}, "decided by"), el("dd", { class: "decided" }, e.member),
        votes,
        el("dt", {}, "characters"), el("dd", {}, e.start + "–" + e.end + " of record #" + idText(rec.id))),
      ex ? members.map((m) => memberSection(m, ex[m], m === e.member))
        : el("p", { class: "muted" }, "Descriptors are shown when the page is made with --explain.")];
    panel.replaceChildren(...parts.flat(Infinity));
    panel.querySelector(".close").addEventListener("click", closePanel);
    panel.hidden = false;
    document.body.classList.add("panel-open");
    panel.querySelector(".close").focus();
  }

  // ---------------------------------------------------------------- legend and filter
  function legend(records, onFilter) {
    const counts = new Map();
    for (const r of records) for (const e of r.entities || []) counts.set(e.group, (counts.get(e.group) || 0) + 1);
    const active = new Set();
    const box = el("div", { class: "legend", role: "group", "aria-label": "filter by group" });
    for (const [g, n] of Array.from(counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) {
      const b = el("button", { type: "button", "aria-pressed": "false", "data-group": g, style: { "--c": colour(g) } }, g + " " + n);
      b.addEventListener("click", () => {
        if (active.has(g)) active.delete(g); else active.add(g);
        b.setAttribute("aria-pressed", String(active.has(g)));
        onFilter(active);
      });
      box.append(b);
    }
    return box;
  }

  function applyFilter(active) {
    document.body.classList.toggle("filtering", active.size > 0);
    for (const r of app.querySelectorAll(".record")) r.classList.toggle("match", !!r.groups && Array.from(active).some((g) => r.groups.has(g)));
    for (const m of app.querySelectorAll("mark.ent")) m.classList.toggle("match", active.has(m.dataset.group));
  }

  function toolbar(records) {
    const count = records.length;
    const ents = records.reduce((n, r) => n + (r.entities || []).length, 0);
    const errors = records.filter((r) => r.error !== undefined && r.text === undefined).length;
    const phrases = el("input", { type: "checkbox", id: "show-phrases", checked: true });
    phrases.addEventListener("change", () => document.body.classList.toggle("hide-phrases", !phrases.checked));
    const expand = el("button", { type: "button", id: "expand-all" }, "expand all");
    expand.addEventListener("click", () => app.querySelectorAll("details.record").forEach((d) => { d.open = true; }));
    const collapse = el("button", { type: "button", id: "collapse-all" }, "collapse all");
    collapse.addEventListener("click", () => app.querySelectorAll("details.record").forEach((d) => { d.open = false; }));
    return el("div", { class: "toolbar" },
      el("span", { class: "muted" }, count + " record" + (count === 1 ? "" : "s") + ", " + ents + " entit" + (ents === 1 ? "y" : "ies") +
        (errors ? ", " + errors + " error" + (errors === 1 ? "" : "s") : "") + (DATA.members ? " · members: " + DATA.members.join(", ") : "")),
      expand, collapse, el("label", {}, phrases, " untyped phrases"),
      DATA.explain === false ? el("span", { class: "muted" }, "(no --explain: entity details only)") : null);
  }

  function renderTag(records) {
    const summary = document.getElementById("summary");
    summary.replaceChildren(toolbar(records), legend(records, applyFilter));
    const open = records.length <= 20;
    const frag = document.createDocumentFragment();
    for (const r of records) frag.append(recordNode(r, open));
    app.replaceChildren(frag);
  }

  // ---------------------------------------------------------------- fill-mask
  function predictionTable(title, preds, cls) {
    return el("div", { class: "col" + (cls ? " cls" : "") }, el("h4", {}, title),
      el("table", { class: "descs" }, el("tbody", {}, (preds || []).map((p, k) =>
        el("tr", { "data-token": p.token }, el("td", { class: "num" }, String(k + 1)), el("td", { class: "token" }, p.token), el("td", { class: "num" }, fmt(p.score)))))));
  }

  function renderFill(records) {
    const summary = document.getElementById("summary");
    summary.replaceChildren(el("div", { class: "muted" }, records.length + " text" + (records.length === 1 ? "" : "s") + " · model " + DATA.model +
      " · logits; a token in both a [MASK] list and the [CLS] list is highlighted"));
    const frag = document.createDocumentFragment();
    for (const r of records) {
      if (r.error !== undefined) {
        frag.append(el("div", { class: "record error", role: "note" }, (r.text === undefined || r.text === null ? "" : r.text + ": ") + r.error));
        continue;
      }
      const cls = new Set((r.cls || []).map((p) => p.token));
      const cols = (r.masks || []).map((m, k) => predictionTable("[MASK] " + (k + 1) + " (word piece " + m.position + ")", m.predictions));
      cols.push(predictionTable("[CLS]", r.cls, true));
      const sec = el("section", { class: "fill" }, el("div", { class: "text", dir: "auto" }, r.text), el("div", { class: "cols" }, cols));
      const masked = new Set((r.masks || []).flatMap((m) => m.predictions.map((p) => p.token)));
      for (const tr of sec.querySelectorAll("tr[data-token]")) {
        if (cls.has(tr.dataset.token) && masked.has(tr.dataset.token)) tr.classList.add("same");
      }
      frag.append(sec);
    }
    app.replaceChildren(frag);
  }

  // ---------------------------------------------------------------- demo (maskner serve)
  function renderDemo() {
    let apiKey = null; // kept in memory only
    const message = el("div", { id: "message", role: "alert", hidden: true });
    const say = (kind, text) => { message.className = kind; message.textContent = text; message.hidden = !text; };
    const text = el("textarea", { id: "text", "aria-label": "text to tag", placeholder: "Type or paste text; mark phrases as word:__entity__ or let maskner find them." },
      "Imatinib mesylate is used to treat chronic myeloid leukemia in Boston .");
    const mode = el("select", { id: "mode", "aria-label": "phrase selection" },
      el("option", { value: "detect" }, "detect"), el("option", { value: "auto" }, "auto"), el("option", { value: "markers" }, "markers"));
    const button = el("button", { type: "button", id: "tag" }, "tag");
    const keyBox = el("span", { id: "key-box", hidden: true }, el("label", {}, "API key ", el("input", { type: "password", id: "api-key", autocomplete: "off" })));
    const members = el("span", { id: "members", class: "muted" }, "members: …");
    const result = el("div", { id: "result" });
    app.replaceChildren(el("div", { class: "demo" }, el("div", { class: "row" }, members), text,
      el("div", { class: "row" }, el("label", {}, "phrases ", mode), button, keyBox), message, result));

    async function call(method, path, body) {
      const headers = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const key = document.getElementById("api-key").value || apiKey;
      if (key) { apiKey = key; headers.Authorization = "Bearer " + key; }
      const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      let json = null;
      try { json = await resp.json(); } catch (_) { json = null; }
      return { resp, json, sentKey: Boolean(key) };
    }
    function failure(resp, json, sentKey) {
      if (resp.status === 401) {
        keyBox.hidden = false;
        return sentKey ? "The server did not accept this API key: check it and try again."
          : "This server requires an API key: enter it and try again.";
      }
      const why = json && typeof json.error === "string" ? json.error : resp.statusText || "no details";
      const hint = { 413: "the text is too large", 422: "the text could not be tagged", 429: "the server is busy, try again shortly", 503: "the server is busy or timed out" }[resp.status];
      return "The server answered " + resp.status + (hint ? " (" + hint + ")" : "") + ": " + why;
    }
    async function loadInfo() {
      try {
        const { resp, json, sentKey } = await call("GET", "/v1/info");
        if (!resp.ok) { members.textContent = "members: unavailable (" + failure(resp, json, sentKey) + ")"; return; }
        DATA.members = (json.members || []).map((m) => m.name);
        members.textContent = "members: " + (json.members || []).map((m) => m.name + " (" + m.kind + ", " + m.model + ")").join(", ");
      } catch (err) { members.textContent = "members: unavailable (" + err + ")"; }
    }
    button.addEventListener("click", async () => {
      say("info", "tagging…");
      button.disabled = true;
      try {
        const { resp, json, sentKey } = await call("POST", "/v1/ner", { text: text.value, explain: true, mode: mode.value });
        if (!resp.ok) {
          say("error", failure(resp, json, sentKey));
          if (resp.status === 401) return;
          result.replaceChildren();
          return;
        }
        say("", "");
        if (members.textContent.startsWith("members: unavailable")) loadInfo();
        result.replaceChildren(toolbar([json]), legend([json], applyFilter), recordNode(json, true));
      } catch (err) {
        say("error", "The server could not be reached: " + err);
      } finally {
        button.disabled = false;
      }
    });
    loadInfo();
  }

  document.title = DATA.title || "maskner";
  document.getElementById("title").textContent = DATA.title || "maskner";
  const started = performance.now();
  if (DATA.kind === "tag") renderTag(DATA.records || []);
  else if (DATA.kind === "fill") renderFill(DATA.records || []);
  else if (DATA.kind === "demo") renderDemo();
  document.body.dataset.renderMs = String(Math.round(performance.now() - started));
  document.body.dataset.ready = "1";
})();
