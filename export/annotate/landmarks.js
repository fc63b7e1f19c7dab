// scopecount annotate, landmark mode: numbered landmarks, the same anatomical point in every
// image. A click places the next landmark still to place (or the one picked in the list), a drag
// moves one, s skips one that is missing from this wing; every change is saved at once. Uses
// app.js's globals (state, canvas, ctx, api, current, toImage, PALETTE, render, show, fit),
// only from functions app.js calls after it has loaded.
"use strict";
const Landmarks = (() => {
  const L = { sel: 0, drag: null, saves: 0 };
  const $ = id => document.getElementById(id);
  function flag(text, error) { const f = $("saved"); f.textContent = text; f.className = error ? "saved error" : "saved"; }
  function n() { return state.classes.length; }
  function radius() { return 6; }  // screen pixels: landmarks are few and far apart
  // The landmark a click places: the picked one if it is still to place, else the first after it.
  function next(im) {
    const pts = im.landmarks;
    for (let k = 0; k < n(); k++) { const i = (L.sel + k) % n(); if (!pts[i]) return i; }
    return -1;
  }

  function init(st) {
    $("paint-tools").hidden = true;
    $("landmark-tools").hidden = false;
    for (const el of document.querySelectorAll(".points-only")) el.hidden = true;
    $("new-class").hidden = true;
    $("classes-title").textContent = "Landmarks";
    canvas.addEventListener("mousedown", down);
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  }

  function open(im) { L.sel = 0; L.sel = Math.max(0, next(im)); }

  function hit(p) {
    const rr = (radius() + 3) / state.view.s;
    let best = -1, bd = Infinity;
    current().landmarks.forEach((q, k) => {
      if (!q) return;
      const d = Math.hypot(q[0] - p.x, q[1] - p.y);
      if (d < rr && d < bd) { bd = d; best = k; }
    });
    return best;
  }

  function down(ev) {
    if (state.mode !== "landmarks" || ev.button !== 0) return;
    const p = toImage(ev);
    L.drag = { k: hit(p), start: { x: ev.clientX, y: ev.clientY }, moved: false, view: { ...state.view } };
  }
  function move(ev) {
    const d = L.drag;
    if (!d) return;
    const dx = ev.clientX - d.start.x, dy = ev.clientY - d.start.y;
    if (Math.hypot(dx, dy) > 3) d.moved = true;
    if (!d.moved) return;
    if (d.k >= 0) {
      const p = toImage(ev);
      current().landmarks[d.k] = clampPoint(p);
    } else { state.view.x = d.view.x + dx; state.view.y = d.view.y + dy; }
    render();
  }
  function up(ev) {
    const d = L.drag;
    L.drag = null;
    if (!d) return;
    const im = current();
    if (d.moved) { if (d.k >= 0) { L.sel = d.k; save(); } return; }
    if (ev.target !== canvas) return;
    if (d.k >= 0) { L.sel = d.k; render(); return; }  // a click on a landmark picks it
    const p = toImage(ev);
    if (p.x < 0 || p.y < 0 || p.x >= state.img.width || p.y >= state.img.height) return;
    const k = im.landmarks[L.sel] ? next(im) : L.sel;
    if (k < 0) { flag("every landmark is placed: drag one to move it, or pick it in the list"); return; }
    im.landmarks[k] = clampPoint(p);
    L.sel = k;
    L.sel = Math.max(0, next(im));
    save();
  }
  function clampPoint(p) {
    const x = Math.max(0, Math.min(state.img.width - 0.01, p.x));
    const y = Math.max(0, Math.min(state.img.height - 0.01, p.y));
    return [Math.round(x * 100) / 100, Math.round(y * 100) / 100];
  }

  function render() {
    const v = state.view, im = current();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#111"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(v.s, 0, 0, v.s, v.x, v.y);
    ctx.imageSmoothingEnabled = v.s < 2;
    ctx.drawImage(state.img, 0, 0);
    const pts = im.landmarks, r = radius() / v.s;
    ctx.lineWidth = 1.5 / v.s; ctx.strokeStyle = "rgba(255,255,255,0.7)";
    for (let k = 1; k < pts.length; k++) {
      if (!pts[k - 1] || !pts[k]) continue;
      ctx.beginPath(); ctx.moveTo(...pts[k - 1]); ctx.lineTo(...pts[k]); ctx.stroke();
    }
    ctx.font = `bold ${13 / v.s}px system-ui`;
    pts.forEach((q, k) => {
      if (!q) return;
      ctx.beginPath(); ctx.arc(q[0], q[1], r, 0, 2 * Math.PI);
      ctx.fillStyle = PALETTE[k % PALETTE.length]; ctx.fill();
      ctx.lineWidth = (k === L.sel ? 3 : 1.5) / v.s; ctx.strokeStyle = k === L.sel ? "#fff" : "#000"; ctx.stroke();
      const label = String(k + 1), tx = q[0] + r + 3 / v.s, ty = q[1] - r - 2 / v.s;
      ctx.lineWidth = 3 / v.s; ctx.strokeStyle = "#000"; ctx.strokeText(label, tx, ty);
      ctx.fillStyle = "#fff"; ctx.fillText(label, tx, ty);
    });
    $("zoom").textContent = `zoom ${Math.round(v.s * 100)}%`;
    sidebar();
  }

  function sidebar() {
    const im = current();
    $("image-name").textContent = `${im.name} (${state.index + 1}/${state.images.length})`;
    const done = state.images.filter(x => x.done).length;
    $("progress").textContent = `done ${done} of ${state.images.length}`;
    // Landmark names come from files: text, never markup (textContent).
    const ul = $("classes");
    ul.replaceChildren();
    state.classes.forEach((c, i) => {
      const li = document.createElement("li");
      li.className = i === L.sel ? "selected" : "";
      li.dataset.landmark = String(i + 1);
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = PALETTE[i % PALETTE.length];
      const name = document.createElement("span");
      name.textContent = `${i + 1}. ${c}` + (im.landmarks[i] ? " \u2713" : "");
      li.append(swatch, name);
      li.onclick = () => { L.sel = i; render(); };
      ul.appendChild(li);
    });
    const k = im.landmarks[L.sel] ? next(im) : L.sel;
    $("next-landmark").textContent = k < 0 ? "all placed" : `${k + 1}. ${state.classes[k]}`;
    $("landmark-predicted").hidden = !im.predicted;
    $("landmark-done").textContent = im.done ? "done \u2713 (d: undo)" : "mark done (d)";
  }

  function save(extra = {}) {
    const im = current();
    im.chain = (im.chain || Promise.resolve()).then(() => send(im, extra));
    return im.chain;
  }

  async function send(im, extra) {
    const body = { image: im.name, landmarks: im.landmarks, revision: im.revision, ...extra };
    let res, out;
    try {
      res = await api("/api/landmarks", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      out = await res.json();
    } catch (err) { flag("NOT saved: " + err, true); return; }
    if (res.status === 409 && out.landmarks) {
      im.landmarks = out.landmarks; im.revision = out.revision;
      flag("changed in another tab: reloaded", true);
    } else if (!out.ok) {
      flag("NOT saved: " + out.error, true);
    } else {
      im.revision = out.revision; im.predicted = false; L.saves++;
      if ("done" in extra) im.done = extra.done;
      flag("saved");
    }
    if (im === current()) render();
  }

  async function markDone() {
    const im = current(), wasDone = im.done;
    await save({ done: !wasDone });
    if (!wasDone) show(state.index + 1);
  }

  // Keys of this mode; true when handled (app.js then does nothing more with it).
  function key(ev) {
    if (ev.target.tagName === "INPUT") return false;
    const im = current();
    if (ev.key === "s") {
      const k = im.landmarks[L.sel] ? next(im) : L.sel;
      if (k >= 0) { im.landmarks[k] = null; L.sel = (k + 1) % n(); render(); save(); }
      return true;
    }
    if (ev.key === "Delete" || ev.key === "Backspace") {
      if (im.landmarks[L.sel]) { im.landmarks[L.sel] = null; save(); render(); }
      return true;
    }
    if (ev.key === "d") { markDone(); return true; }
    return false;
  }

  $("landmark-done").onclick = () => markDone();
  $("landmark-skip").onclick = () => key({ key: "s", target: document.body });
  return { init, open, render, key, L };
})();
