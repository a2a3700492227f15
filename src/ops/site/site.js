// The lineage site: lays the graph out in layers (each declaration one
// layer right of everything it reads), draws it as SVG, and shows a
// declaration's contract, columns, quality rules, runs, quality trend and
// status when it is clicked. Its data is window.BPLC, from data.js.
"use strict";

(function () {
  const data = window.BPLC;
  const SVG = "http://www.w3.org/2000/svg";
  const W = 230, H = 46, GAP_X = 420, GAP_Y = 86, PAD = 24;
  const byName = new Map(data.nodes.map((n) => [n.name, n]));

  document.getElementById("project").textContent = data.project + " lineage";
  document.getElementById("as-of").textContent = data.as_of ? "status as of " + data.as_of : "no runs yet";

  // Layers, then order within a layer by the mean position of what each
  // node reads (a few sweeps), so edges cross less.
  const layers = [];
  for (const n of data.nodes) (layers[n.layer] = layers[n.layer] || []).push(n);
  const parents = new Map(data.nodes.map((n) => [n.name, []]));
  for (const e of data.edges) parents.get(e.to).push(e.from);
  const pos = new Map();
  layers.forEach((l) => l.forEach((n, i) => pos.set(n.name, i)));
  for (let sweep = 0; sweep < 4; sweep++) {
    for (const l of layers.slice(1)) {
      const key = (n) => {
        const ps = parents.get(n.name);
        return ps.length ? ps.reduce((s, p) => s + pos.get(p), 0) / ps.length : pos.get(n.name);
      };
      l.sort((a, b) => key(a) - key(b) || a.name.localeCompare(b.name));
      l.forEach((n, i) => pos.set(n.name, i));
    }
  }
  const at = new Map();
  layers.forEach((l, x) => l.forEach((n, y) => at.set(n.name, { x: PAD + x * GAP_X, y: PAD + y * GAP_Y })));

  const svg = document.getElementById("graph");
  const tallest = Math.max(...layers.map((l) => l.length));
  svg.setAttribute("width", PAD * 2 + (layers.length - 1) * GAP_X + W);
  svg.setAttribute("height", PAD * 2 + (tallest - 1) * GAP_Y + H);
  const el = (name, attrs, parent) => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    parent.appendChild(e);
    return e;
  };

  // Each edge is a curve from the right of what is read to the left of its
  // reader. The labels of the edges into one reader sit at different points
  // along their curves, so they do not cover each other.
  const incoming = new Map();
  for (const e of data.edges) (incoming.get(e.to) || incoming.set(e.to, []).get(e.to)).push(e);
  for (const list of incoming.values()) {
    list.sort((p, q) => at.get(p.from).y - at.get(q.from).y || p.label.localeCompare(q.label));
    list.forEach((e, k) => { e.t = 0.3 + (0.45 * k) / Math.max(1, list.length - 1); });
  }
  for (const e of data.edges) {
    const a = at.get(e.from), b = at.get(e.to);
    const g = el("g", { class: "edge " + (e.label.startsWith("bind") ? "bind" : "input") }, svg);
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    el("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }, g);
    // The point at e.t on the cubic curve.
    const t = e.t, u = 1 - t;
    const x = u * u * u * x1 + 3 * u * u * t * mx + 3 * u * t * t * mx + t * t * t * x2;
    const y = (u * u * u + 3 * u * u * t) * y1 + (3 * u * t * t + t * t * t) * y2;
    el("text", { x, y: y - 3, "text-anchor": "middle" }, g).textContent = e.label;
  }

  const groups = new Map();
  for (const n of data.nodes) {
    const p = at.get(n.name);
    const g = el("g", {
      class: "node " + n.kind + (n.alerts > 0 ? " alert" : ""),
      "data-name": n.name,
      transform: `translate(${p.x},${p.y})`,
      tabindex: 0,
    }, svg);
    el("rect", { width: W, height: H }, g);
    el("text", { x: 10, y: 19 }, g).textContent = n.name;
    const states = n.status.map(([s, c]) => c + " " + s).join(", ");
    el("text", { x: 10, y: 35, class: "kind" }, g).textContent = n.kind + (states ? " · " + states : "");
    g.addEventListener("click", () => select(n.name));
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") select(n.name); });
    groups.set(n.name, g);
  }

  const fill = (id, rows) => {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    for (const r of rows) {
      const tr = document.createElement("tr");
      for (const c of r) {
        const td = document.createElement("td");
        td.textContent = c == null ? "" : String(c);
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  };

  function select(name) {
    const n = byName.get(name);
    if (!n) return;
    for (const [k, g] of groups) g.classList.toggle("selected", k === name);
    document.getElementById("detail").hidden = false;
    document.getElementById("detail-name").textContent = n.name;
    document.getElementById("detail-kind").textContent = n.kind;
    const status = document.getElementById("status");
    status.replaceChildren();
    if (!n.status.length) status.textContent = n.kind === "dataset" ? "nothing computed yet" : "read, not computed";
    for (const [s, c] of n.status) {
      const span = document.createElement("span");
      span.className = "state " + s;
      span.textContent = c + " " + s;
      status.appendChild(span);
    }
    if (n.alerts) status.append(" " + n.alerts + " need attention");
    document.getElementById("contract").textContent = n.contract;
    fill("columns", n.columns);
    const quality = document.getElementById("quality");
    quality.replaceChildren(...n.quality.map(([name, severity, text]) => {
      const li = document.createElement("li");
      li.textContent = `${name}: ${text} (${severity})`;
      return li;
    }));
    fill("runs", n.runs.map((r) => [r.run_id, r.status, r.partitions, r.rows, r.finished]));
    const trend = document.getElementById("trend");
    trend.replaceChildren();
    const max = Math.max(1, ...n.trend.map(([, p, f]) => p + f));
    n.trend.forEach(([run, passed, failed], i) => {
      const x = i * 14;
      const hp = (passed / max) * 36, hf = (failed / max) * 36;
      el("rect", { x, y: 38 - hp - hf, width: 10, height: hf, fill: "#c8323c" }, trend).appendChild(
        Object.assign(document.createElementNS(SVG, "title"), { textContent: `${run}: ${failed} failed` }));
      el("rect", { x, y: 38 - hp, width: 10, height: hp, fill: "#2f9a52" }, trend);
    });
    trend.setAttribute("width", Math.max(14, n.trend.length * 14));
    document.getElementById("trend-note").textContent = n.trend.length
      ? "checks passed (green) and failed (red) per run, oldest first"
      : "no finished runs";
    if (location.hash !== "#" + encodeURIComponent(name)) history.replaceState(null, "", "#" + encodeURIComponent(name));
  }

  const search = document.getElementById("search");
  const matches = () => {
    const q = search.value.trim().toLowerCase();
    return data.nodes.filter((n) => !q || n.name.toLowerCase().includes(q));
  };
  search.addEventListener("input", () => {
    const hit = new Set(matches().map((n) => n.name));
    for (const [k, g] of groups) g.classList.toggle("dim", !hit.has(k));
  });
  search.addEventListener("keydown", (ev) => {
    const first = matches()[0];
    if (ev.key === "Enter" && first) select(first.name);
  });

  const fromHash = () => {
    if (location.hash.length > 1) select(decodeURIComponent(location.hash.slice(1)));
  };
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
