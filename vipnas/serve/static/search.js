// The search page: a search folder's candidates as an SVG scatter (score against MACs or latency), the Pareto front
// highlighted; a click shows the candidate's figure, numbers and the vipnas extract command.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = {left: 64, right: 20, top: 16, bottom: 48};
let search = null;
let selected = null;

function svg(name, attributes = {}, text = null) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== null) element.textContent = text;
  return element;
}

function ticks(low, high, count = 5) {
  const step = (high - low) / count || 1;
  return Array.from({length: count + 1}, (_, i) => low + i * step);
}

function costOf(row, axis) {
  return axis === "macs" ? row.macs / 1e6 : row.latency_ms;
}

function drawScatter() {
  const plot = document.getElementById("scatter");
  const axis = document.getElementById("axis").value;
  const width = Number(plot.getAttribute("width"));
  const height = Number(plot.getAttribute("height"));
  plot.replaceChildren();
  const rows = search.candidates.filter((row) => costOf(row, axis) !== null);
  if (!rows.length) {
    plot.append(svg("text", {x: 20, y: 40}, "no candidate has a latency: choose MACs"));
    return;
  }
  const xs = rows.map((row) => costOf(row, axis));
  const ys = rows.map((row) => row.score);
  const pad = (low, high) => [low - (high - low) * 0.05 || low - 1, high + (high - low) * 0.05 || high + 1];
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const x = (value) => MARGIN.left + ((value - x0) / (x1 - x0)) * (width - MARGIN.left - MARGIN.right);
  const y = (value) => height - MARGIN.bottom - ((value - y0) / (y1 - y0)) * (height - MARGIN.top - MARGIN.bottom);
  const grid = svg("g", {class: "grid"});
  for (const value of ticks(x0, x1)) {
    grid.append(svg("line", {x1: x(value), x2: x(value), y1: MARGIN.top, y2: height - MARGIN.bottom}));
    grid.append(svg("text", {x: x(value), y: height - MARGIN.bottom + 16, "text-anchor": "middle"}, value.toFixed(2)));
  }
  for (const value of ticks(y0, y1)) {
    grid.append(svg("line", {x1: MARGIN.left, x2: width - MARGIN.right, y1: y(value), y2: y(value)}));
    grid.append(svg("text", {x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end"}, value.toFixed(3)));
  }
  const xLabel = (axis === "macs" ? "M MACs" : "latency (ms)") + (search.kind === "temporal" ? " per frame" : "");
  grid.append(svg("text", {x: (width + MARGIN.left) / 2, y: height - 8, "text-anchor": "middle", class: "label"}, xLabel));
  grid.append(svg("text", {x: 14, y: height / 2, transform: `rotate(-90 14 ${height / 2})`, "text-anchor": "middle",
    class: "label"}, search.objective));
  plot.append(grid);
  const flag = axis === "macs" ? "pareto_macs" : "pareto_latency";
  const front = rows.filter((row) => row[flag]).sort((a, b) => costOf(a, axis) - costOf(b, axis));
  plot.append(svg("polyline", {class: "front", points: front.map((r) => `${x(costOf(r, axis))},${y(r.score)}`).join(" ")}));
  const ordered = [...rows.filter((row) => !row[flag]), ...front];  // front on top
  for (const row of ordered) {
    const classes = ["point", row[flag] ? "pareto" : "", row.index === search.best ? "best" : "",
      row.index === selected ? "selected" : ""].filter(Boolean).join(" ");
    const point = svg("circle", {cx: x(costOf(row, axis)), cy: y(row.score), r: row[flag] ? 6 : 4.5, class: classes,
      "data-index": row.index, tabindex: 0});
    const latency = row.latency_ms === null ? "" : `, ${row.latency_ms.toFixed(2)} ms`;
    point.append(svg("title", {}, `candidate ${row.index}: ${search.objective} ${row.score.toFixed(4)}, ` +
      `${(row.macs / 1e6).toFixed(3)} M MACs${latency}${row[flag] ? " (Pareto front)" : ""}`));
    point.addEventListener("click", () => selectCandidate(row.index));
    point.addEventListener("keydown", (event) => { if (event.key === "Enter") selectCandidate(row.index); });
    plot.append(point);
  }
}

function numberRows(detail) {
  const rows = [[detail.objective, detail.score.toFixed(4)], ["MACs", `${(detail.macs / 1e6).toFixed(3)} M`],
    ["params", detail.params.toLocaleString("en")]];
  if (detail.latency_ms !== null) rows.push(["latency", `${detail.latency_ms.toFixed(2)} ms`]);
  for (const [name, value] of Object.entries(detail.metrics)) {
    if (name !== detail.objective && !name.endsWith("_all") || name === "Total_all") rows.push([name, value.toFixed(4)]);
  }
  return rows.map(([name, value]) => {
    const row = document.createElement("tr");
    const head = document.createElement("th");
    head.textContent = name;
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(head, cell);
    return row;
  });
}

function frameRows(frames) {
  const head = document.createElement("tr");
  head.innerHTML = "<th>frame</th><th>fusion</th><th>op</th><th>M MACs</th><th>params</th>";
  return [head, ...frames.map((frame) => {
    const row = document.createElement("tr");
    for (const value of [frame.frame, frame.fusion || "–", frame.op || "–", (frame.macs / 1e6).toFixed(3),
      frame.params.toLocaleString("en")]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    return row;
  })];
}

async function selectCandidate(index) {
  selected = index;
  drawScatter();
  const $ = (id) => document.getElementById(id);
  const base = `/api/searches/${search.id}/candidates/${index}`;
  try {
    const detail = await jsonOf(await fetch(base));
    $("arch-title").textContent = `candidate ${index}${index === search.best ? " (best)" : ""}`;
    $("arch-numbers").replaceChildren(...numberRows(detail));
    $("arch-figure").src = `${base}/figure.png`;
    $("arch-figure-link").href = `${base}/figure.png`;
    $("arch-describe").textContent = detail.describe;
    $("arch-frames").hidden = !detail.frames;
    if (detail.frames) $("arch-frames").replaceChildren(...frameRows(detail.frames));
    $("extract-command").textContent = detail.command || "";
    $("extract-command").hidden = !detail.command;
    $("copy-command").hidden = !detail.command;
    $("arch-download").href = `${base}/arch.json`;
    $("arch-note").textContent = detail.note || (detail.supernet ? `supernet: ${detail.supernet} (by digest)` : "");
    $("arch-panel").hidden = false;
  } catch (failure) {
    $("search-error").textContent = failure.message;
  }
}

async function loadSearch(id) {
  const $ = (name) => document.getElementById(name);
  $("search-error").textContent = "";
  $("arch-panel").hidden = true;
  selected = null;
  if (!id) {
    $("search-header").textContent = "no search folder found under the run folders (vipnas search and vipnas demo write them)";
    $("scatter").replaceChildren();
    return;
  }
  try {
    search = await jsonOf(await fetch(`/api/searches/${id}`));
  } catch (failure) {
    $("search-error").textContent = failure.message;
    return;
  }
  const latency = $("axis").querySelector("option[value=latency_ms]");
  latency.disabled = !search.latency;
  if (!search.latency) $("axis").value = "macs";
  const strategy = search.strategy ? `${search.strategy} ` : "";
  $("search-header").textContent = `${search.kind} ${strategy}search, ${search.candidates.length} candidates, ` +
    `${search.objective} against cost${search.macs_per}; budget ${search.budget}. Click a point.`;
  drawScatter();
}

async function loadSearches() {
  const data = await jsonOf(await fetch("/api/searches"));
  const select = document.getElementById("search-folder");
  fill(select, data.searches.map((item) => option(item.id, item.label)));
  await loadSearch(select.value);
}

function initSearchPage() {
  document.getElementById("search-folder").addEventListener("change", (event) => loadSearch(event.target.value));
  document.getElementById("axis").addEventListener("change", () => search && drawScatter());
  document.getElementById("copy-command").addEventListener("click", async () => {
    const text = document.getElementById("extract-command").textContent;
    try { await navigator.clipboard.writeText(text); } catch (error) { /* not allowed: the text stays selectable */ }
  });
  return loadSearches();
}
