// scopecount annotate: one image at a time on a canvas; every change is saved to the server.
"use strict";
const PALETTE = ["#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#ffffff", "#999999"];
// The per-run secret from the address `scopecount annotate` printed; every API call sends it.
const TOKEN = new URLSearchParams(location.search).get("token") || "";
// mode: "points", or "paint" for an areas folder (paint.js draws and saves masks then).
const state = { mode: "points", images: [], classes: [], index: 0, cls: 0, img: null, view: { s: 1, x: 0, y: 0 }, objectPx: 12 };
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
let drag = null;

function current() { return state.images[state.index]; }
function colour(label) { const i = state.classes.indexOf(label); return PALETTE[(i < 0 ? 8 : i) % PALETTE.length]; }
// Dots are sized to the objects: at fit zoom a 10 px dot over 5 px eggs hides what it marks.
// objectPx is the typical object size in image pixels (half the median nearest-neighbour
// distance of the folder's points); a dot's radius is about a third of an object on screen,
// never under 2 px (still visible) nor over 7 px.
function radius() { return Math.max(2, Math.min(7, 0.35 * state.objectPx * state.view.s)); }

function objectSize(images) {
  const meds = [];
  for (const im of images) {
    const p = im.points;
    if (p.length < 2 || p.length > 5000) continue;
    const d = p.map((a, i) => Math.min(...p.map((b, j) => i === j ? Infinity : Math.hypot(a[0] - b[0], a[1] - b[1]))));
    d.sort((a, b) => a - b);
    meds.push(d[d.length >> 1]);
  }
  if (!meds.length) return 12;
  meds.sort((a, b) => a - b);
  return Math.max(3, Math.min(60, meds[meds.length >> 1] / 2));
}

// Points closer than `tol` image pixels look like one dot: group them (grid hashing, so a
// frame of thousands of points stays quick) and return the groups of two or more.
function stacks(points, tol = 2.5) {
  const cell = new Map(), key = (x, y) => `${Math.floor(x / tol)},${Math.floor(y / tol)}`;
  points.forEach((p, i) => { const k = key(p[0], p[1]); (cell.get(k) || cell.set(k, []).get(k)).push(i); });
  const parent = points.map((_, i) => i);
  const find = i => { while (parent[i] !== i) i = parent[i] = parent[parent[i]]; return i; };
  points.forEach((p, i) => {
    const cx = Math.floor(p[0] / tol), cy = Math.floor(p[1] / tol);
    for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) {
      for (const j of cell.get(`${cx + dx},${cy + dy}`) || []) {
        if (j > i && Math.hypot(points[j][0] - p[0], points[j][1] - p[1]) <= tol) parent[find(j)] = find(i);
      }
    }
  });
  const groups = new Map();
  points.forEach((_, i) => { const r = find(i); (groups.get(r) || groups.set(r, []).get(r)).push(i); });
  return [...groups.values()].filter(g => g.length > 1);
}

function api(path, init = {}) {
  return fetch(path, { ...init, headers: { ...(init.headers || {}), "X-Scopecount-Token": TOKEN } });
}

async function load() {
  const res = await api("/api/state");
  const st = await res.json();
  if (!res.ok) {
    const flag = document.getElementById("saved");
    flag.textContent = "cannot load: " + st.error; flag.className = "saved error";
    return;
  }
  state.mode = ["paint", "landmarks"].includes(st.mode) ? st.mode : "points";
  state.images = st.images;
  state.classes = st.classes;
  if (state.mode === "paint") Paint.init(st);
  else if (state.mode === "landmarks") Landmarks.init(st);
  else state.objectPx = objectSize(st.images);
  const first = state.images.findIndex(im => !im.done);
  await show(Math.max(0, Math.min(state.index || (first < 0 ? 0 : first), state.images.length - 1)));
}

async function show(i) {
  if (state.mode === "paint" && !(await Paint.leave())) return;  // unsaved paint is saved first
  state.index = (i + state.images.length) % state.images.length;
  const im = current();
  const img = await new Promise(resolve => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.src = "/images/" + encodeURIComponent(im.name) + "?token=" + encodeURIComponent(TOKEN);
  });
  if (im !== current()) return;  // another image was asked for meanwhile
  state.img = img; fit();
  if (state.mode === "paint") await Paint.open(im);
  if (state.mode === "landmarks") Landmarks.open(im);
  render();
}

function fit() {
  const r = canvas.getBoundingClientRect();
  canvas.width = r.width; canvas.height = r.height;
  const im = state.img;
  const s = Math.min(r.width / im.width, r.height / im.height);
  state.view = { s, x: (r.width - im.width * s) / 2, y: (r.height - im.height * s) / 2 };
}

function toImage(ev) {
  const r = canvas.getBoundingClientRect();
  return { x: (ev.clientX - r.left - state.view.x) / state.view.s, y: (ev.clientY - r.top - state.view.y) / state.view.s };
}

function hit(p) {
  const pts = current().points;
  const rr = (radius() + 3) / state.view.s;
  let best = -1, bd = Infinity;
  pts.forEach((q, k) => { const d = Math.hypot(q[0] - p.x, q[1] - p.y); if (d < rr && d < bd) { bd = d; best = k; } });
  return best;
}

function render() {
  if (state.mode === "paint") return Paint.render();
  if (state.mode === "landmarks") return Landmarks.render();
  const v = state.view, im = current();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#111"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(v.s, 0, 0, v.s, v.x, v.y);
  ctx.imageSmoothingEnabled = v.s < 2;
  ctx.drawImage(state.img, 0, 0);
  const r = radius() / v.s;
  for (const [x, y, c] of im.points) {
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = colour(c); ctx.fill();
    ctx.lineWidth = 1.5 / v.s; ctx.strokeStyle = "#000"; ctx.stroke();
  }
  // Stacked points: a white ring and how many, so two clicks on one spot never look like one.
  ctx.font = `bold ${13 / v.s}px system-ui`;
  for (const g of stacks(im.points)) {
    const [x, y] = im.points[g[0]];
    const label = `\u00d7${g.length}`, tx = x + r + 4 / v.s, ty = y - r - 2 / v.s;
    ctx.beginPath(); ctx.arc(x, y, r + 3 / v.s, 0, 2 * Math.PI);
    ctx.lineWidth = 4 / v.s; ctx.strokeStyle = "#000"; ctx.stroke();  // seen on light and dark
    ctx.lineWidth = 2 / v.s; ctx.strokeStyle = "#ff0"; ctx.stroke();
    ctx.lineWidth = 2 / v.s; ctx.lineJoin = "round"; ctx.strokeText(label, tx, ty);
    ctx.fillStyle = "#ff0"; ctx.fillText(label, tx, ty);
  }
  document.getElementById("zoom").textContent = `zoom ${Math.round(v.s * 100)}%`;
  sidebar();
}

function sidebar() {
  const im = current();
  document.getElementById("image-name").textContent = `${im.name} (${state.index + 1}/${state.images.length})`;
  const done = state.images.filter(x => x.done).length;
  document.getElementById("progress").textContent = `done ${done} of ${state.images.length}`;
  // Class names come from files and other tools: they are text, never markup (textContent).
  const ul = document.getElementById("classes");
  ul.replaceChildren();
  state.classes.forEach((c, i) => {
    const li = document.createElement("li");
    li.className = i === state.cls ? "selected" : "";
    li.dataset.cls = c;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = PALETTE[i % PALETTE.length];
    const name = document.createElement("span");
    name.textContent = `${i + 1}. ${c}`;
    li.append(swatch, name);
    li.onclick = () => { state.cls = i; render(); };
    ul.appendChild(li);
  });
  const counts = document.getElementById("counts");
  counts.replaceChildren();
  const line = (label, n, attrs) => {
    const div = document.createElement("div");
    const b = document.createElement("b");
    b.textContent = String(n);
    Object.assign(div.dataset, attrs.data || {});
    if (attrs.id) b.id = attrs.id;
    div.append(document.createTextNode(label + ": "), b);
    counts.appendChild(div);
  };
  state.classes.forEach(c => line(c, im.points.filter(p => p[2] === c).length, { data: { count: c } }));
  line("total", im.points.length, { id: "total" });
  document.getElementById("predicted-note").hidden = !im.predicted;
  document.getElementById("done").textContent = im.done ? "done \u2713 (d: undo)" : "mark done (d)";
}

// Saves of one image go out one after another, each with the revision the previous one
// returned: quick edits never conflict with themselves, only with another tab.
function save(extra = {}) {
  const im = current();
  im.chain = (im.chain || Promise.resolve()).then(() => send(im, extra));
  return im.chain;
}

async function send(im, extra) {
  const body = { image: im.name, points: im.points, revision: im.revision, classes: state.classes, ...extra };
  const flag = document.getElementById("saved");
  let res, out;
  try {
    res = await api("/api/points", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    out = await res.json();
  } catch (err) {
    flag.textContent = "NOT saved: " + err; flag.className = "saved error";
    return;
  }
  if (res.status === 409) {
    im.points = out.points; im.revision = out.revision;
    flag.textContent = "changed in another tab: reloaded"; flag.className = "saved error";
  } else if (!out.ok) {
    flag.textContent = "NOT saved: " + out.error; flag.className = "saved error";
  } else {
    im.revision = out.revision; im.predicted = false;
    if ("done" in extra) im.done = extra.done;
    flag.textContent = "saved"; flag.className = "saved";
  }
  if (im === current()) render();
}

canvas.addEventListener("mousedown", ev => {
  if (state.mode !== "points") return;  // paint.js and landmarks.js have their own
  const p = toImage(ev);
  const k = hit(p);
  drag = { k, start: { x: ev.clientX, y: ev.clientY }, moved: false, view: { ...state.view } };
});
window.addEventListener("mousemove", ev => {
  if (!drag) return;
  const dx = ev.clientX - drag.start.x, dy = ev.clientY - drag.start.y;
  if (Math.hypot(dx, dy) > 3) drag.moved = true;
  if (!drag.moved) return;
  if (drag.k >= 0) {
    const p = toImage(ev), im = current();
    im.points[drag.k][0] = Math.max(0, Math.min(state.img.width, p.x));
    im.points[drag.k][1] = Math.max(0, Math.min(state.img.height, p.y));
  } else {
    state.view.x = drag.view.x + dx; state.view.y = drag.view.y + dy;
  }
  render();
});
window.addEventListener("mouseup", ev => {
  if (!drag) return;
  const d = drag; drag = null;
  const im = current();
  if (d.moved) { if (d.k >= 0) save(); return; }
  if (ev.target !== canvas) return;
  if (d.k >= 0) { im.points.splice(d.k, 1); save(); return; }
  const p = toImage(ev);
  if (p.x < 0 || p.y < 0 || p.x > state.img.width || p.y > state.img.height) return;
  im.points.push([Math.round(p.x * 100) / 100, Math.round(p.y * 100) / 100, state.classes[state.cls]]);
  save();
});
canvas.addEventListener("wheel", ev => {
  ev.preventDefault();
  zoom(ev.deltaY < 0 ? 1.25 : 0.8, ev);
}, { passive: false });

function zoom(f, ev) {
  const r = canvas.getBoundingClientRect();
  const cx = ev ? ev.clientX - r.left : r.width / 2, cy = ev ? ev.clientY - r.top : r.height / 2;
  const v = state.view;
  v.x = cx - (cx - v.x) * f; v.y = cy - (cy - v.y) * f; v.s *= f;
  render();
}

window.addEventListener("keydown", ev => {
  if (state.mode === "paint" && Paint.key(ev)) return;
  if (state.mode === "landmarks" && Landmarks.key(ev)) return;
  if (ev.target.tagName === "INPUT") return;
  const k = ev.key;
  if (k >= "1" && k <= "9" && +k <= state.classes.length) { state.cls = +k - 1; render(); }
  else if (k === "n" || k === "ArrowRight") show(state.index + 1);
  else if (k === "p" || k === "ArrowLeft") show(state.index - 1);
  else if (k === "+" || k === "=") zoom(1.25);
  else if (k === "-") zoom(0.8);
  else if (k === "0") { fit(); render(); }
  else if (k === "d") markDone();
});

async function markDone() {
  const im = current();
  const wasDone = im.done;
  await save({ done: !wasDone });
  if (!wasDone) show(state.index + 1);
}

document.getElementById("prev").onclick = () => show(state.index - 1);
document.getElementById("next").onclick = () => show(state.index + 1);
document.getElementById("done").onclick = markDone;
document.getElementById("new-class").onsubmit = ev => {
  ev.preventDefault();
  const inp = document.getElementById("new-class-name");
  const name = inp.value.trim();
  if (state.mode === "paint") { Paint.addClass(name); inp.value = ""; return; }
  if (name && !state.classes.includes(name)) { state.classes.push(name); state.cls = state.classes.length - 1; }
  inp.value = ""; render(); save();
};
window.addEventListener("resize", () => { if (state.img) { fit(); render(); } });
load();
