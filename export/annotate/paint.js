// scopecount annotate, paint mode: the masks of an areas training folder, painted over the image.
// The labels are a Uint8Array (a class value per pixel, 0 = unlabelled); an offscreen canvas
// shows them in colour. A save sends them as runs [value, run, ...]; the server checks it all
// again. Uses app.js's globals (state, canvas, ctx, api, current, toImage, TOKEN, PALETTE),
// only from functions app.js calls after it has loaded.
"use strict";
const Paint = (() => {
  const UNDO_STEPS = 30;
  const BACKGROUND_COLOUR = "#4b5cc4";  // background sits under everything: one quiet colour
  const P = {
    ready: false, tool: "brush", value: 0, size: 20, opacity: 0.5, zero: "unlabelled", canAdd: true,
    im: null, w: 0, h: 0, labels: null, undo: [], edits: 0, savedEdits: 0, leaveAnyway: false,
    overlay: null, octx: null, rgba: null, lut: null, stroke: null, pan: null, cursor: null,
    space: false, chain: Promise.resolve(true), guarded: false,
  };
  const $ = id => document.getElementById(id);

  function flag(text, error) { const f = $("saved"); f.textContent = text; f.className = error ? "saved error" : "saved"; }
  // Colours follow the value, not the list position: adding a class recolours nothing.
  function colour(c) { return c.name.toLowerCase() === "background" ? BACKGROUND_COLOUR : PALETTE[(c.value - 1) % PALETTE.length]; }
  function rgb(hex) { return [1, 3, 5].map(i => parseInt(hex.slice(i, i + 2), 16)); }

  function rebuildLut() {
    P.lut = new Uint8ClampedArray(256 * 4);  // value 0 stays transparent
    for (let v = 1; v < 256; v++) P.lut.set([128, 128, 128, 255], v * 4);  // a value no class names
    for (const c of state.classes) P.lut.set([...rgb(colour(c)), 255], c.value * 4);
  }

  // Overlay pixels of the box [x0, x1) x [y0, y1) from the labels (all of them by default).
  function redraw(box = { x0: 0, y0: 0, x1: P.w, y1: P.h }) {
    const x0 = Math.max(0, Math.floor(box.x0)), y0 = Math.max(0, Math.floor(box.y0));
    const x1 = Math.min(P.w, Math.ceil(box.x1)), y1 = Math.min(P.h, Math.ceil(box.y1));
    if (x1 <= x0 || y1 <= y0) return;
    const L = P.labels, D = P.rgba.data, lut = P.lut;
    for (let y = y0; y < y1; y++) {
      for (let i = y * P.w + x0, end = y * P.w + x1; i < end; i++) {
        const k = L[i] * 4, o = i * 4;
        D[o] = lut[k]; D[o + 1] = lut[k + 1]; D[o + 2] = lut[k + 2]; D[o + 3] = lut[k + 3];
      }
    }
    P.octx.putImageData(P.rgba, 0, 0, x0, y0, x1 - x0, y1 - y0);
  }

  function emptyBox() { return { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity }; }
  function grow(b, x0, y0, x1, y1) { b.x0 = Math.min(b.x0, x0); b.y0 = Math.min(b.y0, y0); b.x1 = Math.max(b.x1, x1); b.y1 = Math.max(b.y1, y1); }

  // One disc of the brush at (cx, cy) in image pixels: the pixels whose centres it covers.
  function dab(cx, cy, v, box) {
    const r = Math.max(0.5, P.size / 2), W = P.w, L = P.labels;
    const ya = Math.max(0, Math.floor(cy - r)), yb = Math.min(P.h - 1, Math.ceil(cy + r));
    for (let y = ya; y <= yb; y++) {
      const dy = y + 0.5 - cy;
      if (Math.abs(dy) > r) continue;
      const half = Math.sqrt(r * r - dy * dy);
      const xa = Math.max(0, Math.ceil(cx - half - 0.5)), xb = Math.min(W - 1, Math.floor(cx + half - 0.5));
      if (xa > xb) continue;
      L.fill(v, y * W + xa, y * W + xb + 1);
      grow(box, xa, y, xb + 1, y + 1);
    }
  }

  function line(a, b, v, box) {  // dabs close enough that a quick stroke leaves no gaps
    const n = Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / Math.max(0.5, P.size / 4));
    for (let i = 1; i <= n; i++) dab(a.x + (b.x - a.x) * i / n, a.y + (b.y - a.y) * i / n, v, box);
  }

  // The 4-connected region of the label at (x, y) takes value v (scanline spans).
  function flood(x, y, v, box) {
    const W = P.w, H = P.h, L = P.labels, target = L[y * W + x];
    if (target === v) return;
    const stack = [x, y];
    while (stack.length) {
      const sy = stack.pop(), sx = stack.pop(), row = sy * W;
      if (L[row + sx] !== target) continue;
      let lx = sx, rx = sx;
      while (lx > 0 && L[row + lx - 1] === target) lx--;
      while (rx < W - 1 && L[row + rx + 1] === target) rx++;
      L.fill(v, row + lx, row + rx + 1);
      grow(box, lx, sy, rx + 1, sy + 1);
      for (const ny of [sy - 1, sy + 1]) {
        if (ny < 0 || ny >= H) continue;
        let inside = false;
        for (let xx = lx, nrow = ny * W; xx <= rx; xx++) {
          const hit = L[nrow + xx] === target;
          if (hit && !inside) stack.push(xx, ny);
          inside = hit;
        }
      }
    }
  }

  function encode(L) {
    const out = [];
    let v = L[0], n = 0;
    for (let i = 0; i < L.length; i++) {
      if (L[i] === v) n++; else { out.push(v, n); v = L[i]; n = 1; }
    }
    out.push(v, n);
    return out;
  }

  function decode(rle, w, h) {
    const out = new Uint8Array(w * h);
    let at = 0;
    for (let i = 0; i + 1 < rle.length; i += 2) {
      const n = rle[i + 1];
      if (!(n > 0) || at + n > out.length) return null;
      out.fill(rle[i], at, at + n);
      at += n;
    }
    return at === out.length ? out : null;
  }

  // Closing or reloading the page asks first while there is unsaved paint (only then: a page
  // with a beforeunload handler is kept out of the browser's back-forward cache).
  function warnUnload(ev) { ev.preventDefault(); ev.returnValue = "unsaved paint"; }
  function guardUnload() {
    const dirty = !!P.labels && P.edits !== P.savedEdits;
    if (dirty === P.guarded) return;
    P.guarded = dirty;
    if (dirty) window.addEventListener("beforeunload", warnUnload);
    else window.removeEventListener("beforeunload", warnUnload);
  }

  async function open(im) {
    P.im = null; P.labels = null;
    guardUnload();
    let res, out;
    try {
      res = await api("/api/mask/" + encodeURIComponent(im.name) + "?token=" + encodeURIComponent(TOKEN));
      out = await res.json();
    } catch (err) { flag("cannot load the mask: " + err, true); return; }
    if (im !== current()) return;
    const labels = res.ok ? decode(out.rle, out.width, out.height) : null;
    if (!labels) { flag("cannot paint this image: " + (out.error || "the mask did not decode"), true); return; }
    Object.assign(P, { im, w: out.width, h: out.height, labels, undo: [], edits: 0, savedEdits: 0, leaveAnyway: false });
    guardUnload();
    im.revision = out.revision; im.predicted = out.predicted;
    P.overlay = document.createElement("canvas");
    P.overlay.width = P.w; P.overlay.height = P.h;
    P.octx = P.overlay.getContext("2d");
    P.rgba = P.octx.createImageData(P.w, P.h);
    redraw();
  }

  function draw() {
    const v = state.view;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#111"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!state.img) return;
    ctx.setTransform(v.s, 0, 0, v.s, v.x, v.y);
    ctx.imageSmoothingEnabled = v.s < 2;
    ctx.drawImage(state.img, 0, 0);
    if (P.labels && P.im === current()) {
      ctx.imageSmoothingEnabled = false;  // labels are pixels: no blend across class edges
      ctx.globalAlpha = P.opacity; ctx.drawImage(P.overlay, 0, 0); ctx.globalAlpha = 1;
    }
    if (P.cursor && P.tool !== "fill" && !P.pan) {
      ctx.beginPath(); ctx.arc(P.cursor.x, P.cursor.y, Math.max(0.5, P.size / 2), 0, 2 * Math.PI);
      ctx.lineWidth = 3 / v.s; ctx.strokeStyle = "#000"; ctx.stroke();
      ctx.lineWidth = 1.5 / v.s; ctx.strokeStyle = "#fff"; ctx.stroke();
    }
    $("zoom").textContent = `zoom ${Math.round(v.s * 100)}%`;
  }

  function sidebar() {
    const im = current();
    $("image-name").textContent = `${im.name} (${state.index + 1}/${state.images.length})` + (im.predicted ? " predicted" : "");
    $("progress").textContent = `masks ${state.images.filter(x => x.done).length} of ${state.images.length}`;
    // Class names come from files and models: they are text, never markup (textContent).
    const ul = $("classes");
    ul.replaceChildren();
    state.classes.forEach((c, i) => {
      const li = document.createElement("li");
      li.className = c.value === P.value && P.tool !== "eraser" ? "selected" : "";
      li.dataset.value = String(c.value);
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour(c);
      const name = document.createElement("span");
      name.textContent = `${i + 1}. ${c.name}`;
      li.append(swatch, name);
      if (!c.saved) {  // not in classes.csv yet: it is written with the first save that uses it
        const note = document.createElement("span");
        note.className = "pending"; note.textContent = "new";
        li.append(note);
      }
      li.onclick = () => select(c.value);
      ul.appendChild(li);
    });
    for (const t of ["brush", "eraser", "fill"]) $("tool-" + t).className = P.tool === t ? "selected" : "";
    $("eraser-note").textContent = `eraser paints ${P.zero}` + (P.zero === "background" ? " (a folder of 0/255 masks)" : "");
    $("brush-size-value").textContent = `${P.size} px`;
    $("paint-predicted").hidden = !im.predicted;
  }

  function render() { draw(); sidebar(); guardUnload(); }
  function select(value) { P.value = value; if (P.tool === "eraser") P.tool = "brush"; render(); }
  function setTool(t) { P.tool = t; render(); }
  function setSize(n) { P.size = Math.max(1, Math.min(200, Math.round(n))); $("brush-size").value = String(P.size); render(); }

  function down(ev) {
    if (!P.labels || P.im !== current()) return;
    ev.preventDefault();
    if (ev.button === 1 || ev.button === 2 || P.space) {
      P.pan = { x: ev.clientX, y: ev.clientY, view: { ...state.view } };
      return;
    }
    if (ev.button !== 0) return;
    const p = toImage(ev), box = emptyBox();
    P.undo.push(P.labels.slice());
    if (P.undo.length > UNDO_STEPS) P.undo.shift();
    if (P.tool === "fill") {
      if (p.x >= 0 && p.y >= 0 && p.x < P.w && p.y < P.h) flood(Math.floor(p.x), Math.floor(p.y), P.value, box);
      return finish(box);
    }
    dab(p.x, p.y, P.tool === "eraser" ? 0 : P.value, box);
    P.stroke = { last: p, box };
    redraw(box); draw();
  }

  function move(ev) {
    if (P.pan) {
      state.view.x = P.pan.view.x + ev.clientX - P.pan.x;
      state.view.y = P.pan.view.y + ev.clientY - P.pan.y;
      return draw();
    }
    if (state.mode !== "paint" || !P.labels) return;
    const p = toImage(ev);
    P.cursor = ev.target === canvas ? p : null;
    if (P.stroke) {
      const box = emptyBox();
      line(P.stroke.last, p, P.tool === "eraser" ? 0 : P.value, box);
      P.stroke.last = p;
      if (box.x1 > box.x0) { redraw(box); grow(P.stroke.box, box.x0, box.y0, box.x1, box.y1); }
    }
    draw();
  }

  function up() {
    if (P.pan) { P.pan = null; return; }
    if (!P.stroke) return;
    const box = P.stroke.box;
    P.stroke = null;
    finish(box);
  }

  function finish(box) {  // a click that changed nothing leaves no undo step
    if (box.x1 > box.x0) { P.edits++; P.leaveAnyway = false; redraw(box); } else P.undo.pop();
    render();
  }

  function undo() {
    if (!P.labels || P.stroke || !P.undo.length) return;
    P.labels = P.undo.pop();
    P.edits++;
    redraw(); render();
  }

  function freeValue(used) { for (let v = 1; v < 256; v++) if (!used.has(v)) return v; return 0; }

  // The server's classes, plus the ones added here and not used yet (moved off any value the
  // server gave to another class meanwhile, their painted pixels with them).
  function merge(list) {
    const names = new Set(list.map(c => c.name.toLowerCase())), used = new Set(list.map(c => c.value));
    const out = list.map(c => ({ ...c }));
    for (const c of state.classes) {
      if (c.saved || names.has(c.name.toLowerCase())) continue;
      let v = c.value;
      if (used.has(v)) {
        v = freeValue(used);
        if (!v) continue;
        if (P.labels) for (let i = 0; i < P.labels.length; i++) if (P.labels[i] === c.value) P.labels[i] = v;
        if (P.value === c.value) P.value = v;
      }
      used.add(v);
      out.push({ value: v, name: c.name, saved: false });
    }
    state.classes = out.sort((a, b) => a.value - b.value);
    rebuildLut();
    if (P.labels) redraw();
  }

  function addClass(name) {
    if (!name) return;
    if (name.length > 64) { flag("a class name is at most 64 characters", true); return; }
    const same = state.classes.find(c => c.name.toLowerCase() === name.toLowerCase());
    if (same) { select(same.value); return; }
    const value = freeValue(new Set(state.classes.map(c => c.value)));
    if (!value) { flag("no mask value left (255 classes)", true); return; }
    state.classes.push({ value, name, saved: false });
    state.classes.sort((a, b) => a.value - b.value);
    rebuildLut();
    select(value);
  }

  // Saves go out one after another; each resolves to whether it was written.
  function save() {
    if (!P.labels || P.im !== current()) return Promise.resolve(false);
    const job = { im: P.im, labels: P.labels.slice(), edits: P.edits, w: P.w, h: P.h };
    P.chain = P.chain.then(() => send(job));
    return P.chain;
  }

  async function send({ im, labels, edits, w, h }) {
    const body = { image: im.name, revision: im.revision, width: w, height: h, rle: encode(labels), classes: state.classes.map(c => [c.value, c.name]) };
    flag("saving\u2026", false);
    let res, out;
    try {
      res = await api("/api/mask", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      out = await res.json();
    } catch (err) { flag("NOT saved: " + err, true); return false; }
    if (Array.isArray(out.classes)) merge(out.classes);
    if (res.status === 409) {  // changed in another tab or tool: show what is on disk now
      im.revision = out.revision;
      flag("NOT saved: " + out.error, true);
      if (im === current()) { await open(im); render(); }
      return false;
    }
    if (!out.ok) { flag("NOT saved: " + out.error, true); return false; }
    im.revision = out.revision; im.predicted = false; im.done = true;
    if (P.im === im) { P.savedEdits = edits; guardUnload(); }
    flag("saved", false);
    if (im === current()) render();
    return true;
  }

  // Before another image: unsaved paint is saved; if that fails, a second try leaves anyway.
  async function leave() {
    if (!P.labels || P.edits === P.savedEdits || P.leaveAnyway) return true;
    if (await save()) return true;
    P.leaveAnyway = true;
    flag($("saved").textContent + " (once more to leave without saving)", true);
    return false;
  }

  function key(ev) {
    const k = ev.key, ctrl = ev.ctrlKey || ev.metaKey, typing = ev.target.type === "text";
    if (ctrl && k.toLowerCase() === "s") { ev.preventDefault(); save(); return true; }
    if (ctrl && k.toLowerCase() === "z" && !typing) { ev.preventDefault(); undo(); return true; }
    if (ev.target.tagName === "INPUT" || ctrl || ev.altKey) return ev.target.tagName === "INPUT";
    if (k >= "1" && k <= "9") { const c = state.classes[+k - 1]; if (c) select(c.value); return true; }
    const tools = { b: "brush", e: "eraser", f: "fill" };
    if (tools[k]) { setTool(tools[k]); return true; }
    if (k === "[" || k === "]") { setSize(k === "]" ? P.size * 1.25 + 1 : P.size * 0.8); return true; }
    if (k === " ") { ev.preventDefault(); P.space = true; return true; }
    return k === "d";  // points mode's "done": here a mask on disk is what counts
  }

  function init(st) {
    P.zero = st.zero === "background" ? "background" : "unlabelled";
    P.canAdd = st.can_add !== false;
    if (!state.classes.some(c => c.value === P.value)) {
      const first = state.classes.find(c => c.name.toLowerCase() !== "background") || state.classes[0];
      P.value = first ? first.value : 0;
    }
    rebuildLut();
    if (P.ready) return;
    P.ready = true;
    document.querySelectorAll(".points-only").forEach(e => { e.hidden = true; });
    $("paint-tools").hidden = false;
    $("paint-keys").hidden = false;
    $("new-class").hidden = !P.canAdd;
    canvas.addEventListener("mousedown", down);
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
    canvas.addEventListener("mouseleave", () => { P.cursor = null; draw(); });
    canvas.addEventListener("contextmenu", ev => ev.preventDefault());
    window.addEventListener("keyup", ev => { if (ev.key === " ") P.space = false; });
    $("tool-brush").onclick = () => setTool("brush");
    $("tool-eraser").onclick = () => setTool("eraser");
    $("tool-fill").onclick = () => setTool("fill");
    $("undo").onclick = undo;
    $("save").onclick = () => save();
    $("brush-size").oninput = ev => setSize(+ev.target.value);
    $("opacity").oninput = ev => { P.opacity = ev.target.value / 100; draw(); };
    // Focus left on a control would take the keys (space clicks a button, n moves a slider).
    for (const el of document.querySelectorAll("#paint-tools button, #paint-tools input")) {
      el.addEventListener(el.tagName === "INPUT" ? "change" : "click", () => el.blur());
    }
  }

  return { init, open, render, leave, key, addClass, save, P };
})();
