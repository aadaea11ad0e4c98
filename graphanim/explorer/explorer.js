(function () {
  "use strict";
  // One explorer: everything below is scoped to the root element this script sits in. No globals
  // are read or written (a notebook may hold several explorers, and hosts such as VS Code define
  // their own module loaders).
  var script = document.currentScript;
  var root = script && script.closest("[data-graphanim-explorer]");
  if (!root || root.getAttribute("data-started")) { return; }
  root.setAttribute("data-started", "1");
  var data = JSON.parse(root.querySelector("script.ga-data").textContent);
  var svg = root.querySelector("svg");
  var view = root.querySelector(".ga-view");
  var caption = root.querySelector("[role=status]");
  var inspector = root.querySelector("[role=region]");
  var counter = root.querySelector(".ga-counter");
  var slider = root.querySelector(".ga-slider");
  var search = root.querySelector("input[type=search]");
  var playBtn = root.querySelector("[data-do=play]");
  var frames = data.frames, N = frames.length;
  var byId = {}, nodeEls = {}, edgeEls = [], selected = null, step = 0, timer = null;

  data.nodes.forEach(function (n) { byId[n.id] = n; });
  svg.querySelectorAll("[data-node]").forEach(function (el) {
    nodeEls[el.getAttribute("data-node")] = el;
  });
  svg.querySelectorAll("[data-edge]").forEach(function (el) {
    edgeEls[+el.getAttribute("data-edge")] = el;
  });
  // a node or edge may be drawn in several groups (an edge's label is drawn above the nodes):
  // each state class goes on all of them
  var parts = {};
  svg.querySelectorAll("[data-part]").forEach(function (el) {
    var id = el.getAttribute("data-part");
    (parts[id] = parts[id] || []).push(el);
  });
  function groups(id, main) { return main ? [main].concat(parts[id] || []) : []; }

  function setClass(el, name, on) { if (el) { el.classList.toggle(name, !!on); } }

  // -- stepping ---------------------------------------------------------------------------------
  // Each node and edge stores the frames at which its value, gradient or done state switches;
  // inverted here into one list of switches per frame, so a step touches only what changes and
  // a jump applies the switches in between (a switch applied twice is undone).
  var flips = [], classOf = { v: "ga-nov", g: "ga-nog", d: "ga-done" };
  for (var k0 = 0; k0 < N; k0++) { flips.push([]); }
  data.nodes.forEach(function (n) {
    groups(n.id, nodeEls[n.id]).forEach(function (e) {
      ["v", "g", "d"].forEach(function (key) {
        (n[key] || []).forEach(function (k) { flips[k].push([e, classOf[key]]); });
      });
    });
  });
  data.edges.forEach(function (ed, i) {
    groups("e" + i, edgeEls[i]).forEach(function (e) {
      (ed.g || []).forEach(function (k) { flips[k].push([e, "ga-nog"]); });
    });
  });
  function initialState() {  // before frame 0: nothing shown, nothing done
    data.nodes.forEach(function (n) {
      groups(n.id, nodeEls[n.id]).forEach(function (e) {
        e.classList.add("ga-nov", "ga-nog"); e.classList.remove("ga-done");
      });
    });
    edgeEls.forEach(function (e, i) {
      groups("e" + i, e).forEach(function (g) { g.classList.add("ga-nog"); });
    });
  }
  function applyFlips(k) {
    flips[k].forEach(function (f) { f[0].classList.toggle(f[1]); });
  }
  var sumText = {}, shownAt = -1, lit = [];
  function setSums(k) {
    // the sums in force at frame k: the latest change at or before k for each node
    var now = {};
    for (var i = 0; i <= k; i++) {
      var s = frames[i].sums;
      if (s) { Object.keys(s).forEach(function (id) { now[id] = s[id]; }); }
    }
    Object.keys(Object.assign({}, sumText, now)).forEach(function (id) {
      var t = now[id] || "", e = nodeEls[id] && nodeEls[id].querySelector(".ga-sum");
      if (!e || (sumText[id] || "") === t) { return; }
      e.textContent = t;
      e.classList.toggle("ga-hidden", !t);
    });
    sumText = now;
  }

  function show(k) {
    k = Math.max(0, Math.min(N - 1, k));
    if (shownAt < 0) { initialState(); applyFlips(0); shownAt = 0; }
    while (shownAt < k) { shownAt++; applyFlips(shownAt); }
    while (shownAt > k) { applyFlips(shownAt); shownAt--; }
    step = k;
    var f = frames[step];
    lit.forEach(function (x) { x[0].classList.remove(x[1]); });
    lit = [];
    function light(id, e, cls) {
      groups(id, e).forEach(function (g) { g.classList.add(cls); lit.push([g, cls]); });
    }
    (f.active || []).forEach(function (id) { light(id, nodeEls[id], "ga-active"); });
    (f.saved || []).forEach(function (id) { light(id, nodeEls[id], "ga-saved"); });
    (f.edges || []).forEach(function (i) { light("e" + i, edgeEls[i], "ga-active"); });
    setSums(step);
    caption.textContent = f.caption + (f.note ? "\n" + f.note : "");
    counter.textContent = (step + 1) + " / " + N;
    slider.value = String(step);
    slider.setAttribute("aria-valuetext", "step " + (step + 1) + " of " + N);
  }

  function play() {
    if (timer) { stop(); return; }
    if (step >= N - 1) { show(0); }
    timer = setInterval(function () {
      if (step >= N - 1) { stop(); } else { show(step + 1); }
    }, 900);
    playBtn.setAttribute("aria-label", "pause");
    playBtn.textContent = "❚❚";
  }
  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    playBtn.setAttribute("aria-label", "play");
    playBtn.textContent = "▶";
  }
  var actions = {
    first: function () { stop(); show(0); },
    back: function () { stop(); show(step - 1); },
    play: play,
    forward: function () { stop(); show(step + 1); },
    last: function () { stop(); show(N - 1); },
    zoomin: function () { zoomAt(1 / 1.25); },
    zoomout: function () { zoomAt(1.25); },
    fit: function () { fit(); }
  };
  root.querySelectorAll("[data-do]").forEach(function (b) {
    b.addEventListener("click", function () { actions[b.getAttribute("data-do")](); });
  });
  slider.max = String(N - 1);
  slider.addEventListener("input", function () { stop(); show(+slider.value); });

  // -- the inspector ----------------------------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function tensorBlock(title, t) {
    var box = el("div", "ga-tensor");
    box.appendChild(el("h4", null, title));
    if (!t) { box.appendChild(el("p", "ga-none", "none")); return box; }
    if (!t.rows && !t.stats) { box.appendChild(el("p", "ga-number", t.text)); return box; }
    if (t.rows) {
      var table = el("table", "ga-numbers");
      t.rows.forEach(function (row) {
        var tr = el("tr");
        row.forEach(function (v) { tr.appendChild(el("td", null, String(v))); });
        table.appendChild(tr);
      });
      box.appendChild(table);
      return box;
    }
    var s = t.stats, dl = el("dl", "ga-stats");
    ["min", "mean", "max", "std", "norm", "nan", "inf", "count"].forEach(function (k) {
      if (s[k] === undefined) { return; }
      dl.appendChild(el("dt", null, k));
      dl.appendChild(el("dd", null, String(s[k])));
    });
    box.appendChild(dl);
    if (t.heat) { box.appendChild(heatmap(t.heat)); }
    return box;
  }
  function heatmap(grid) {
    var rows = grid.length, cols = grid[0].length, cell = Math.max(3, Math.floor(192 / cols));
    var c = el("canvas", "ga-heat");
    c.width = cols * cell; c.height = rows * cell;
    c.setAttribute("role", "img");
    c.setAttribute("aria-label", "heatmap, " + rows + " by " + cols + " cells");
    var g = c.getContext("2d");
    for (var i = 0; i < rows; i++) {
      for (var j = 0; j < cols; j++) {
        var v = grid[i][j];
        // blue (low) to white to red (high); bad cells (NaN/inf) black
        g.fillStyle = v < 0 ? "#000" : "rgb(" + Math.min(255, 2 * v) + "," +
          (255 - Math.abs(255 - 2 * v)) + "," + Math.min(255, 2 * (255 - v)) + ")";
        g.fillRect(j * cell, i * cell, cell, cell);
      }
    }
    return c;
  }
  function inspect(id) {
    if (selected && nodeEls[selected]) { nodeEls[selected].removeAttribute("aria-current"); }
    selected = id;
    inspector.textContent = "";
    if (!id) {
      inspector.appendChild(el("p", "ga-hint", "Click a node (or focus it and press Enter)."));
      return;
    }
    if (nodeEls[id]) { nodeEls[id].setAttribute("aria-current", "true"); }
    var n = byId[id];
    inspector.appendChild(el("h3", null, n.name));
    var dl = el("dl", "ga-facts");
    var shape = n.kind === "op" ? null : (n.shape ? n.shape.join("×") : "scalar");
    [["kind", n.kind], ["op", n.op], ["shape", shape], ["dtype", n.dtype],
     ["module", n.module]].forEach(function (kv) {
      if (!kv[1]) { return; }
      dl.appendChild(el("dt", null, kv[0]));
      dl.appendChild(el("dd", null, kv[1]));
    });
    inspector.appendChild(dl);
    if (n.kind === "op") {
      inspector.appendChild(el("h4", null, "saved for backward"));
      inspector.appendChild(el("p", null, n.saved && n.saved.length ? n.saved.join(", ") :
        "nothing (its backward needs no forward values)"));
      return;
    }
    inspector.appendChild(tensorBlock("value", n.value));
    inspector.appendChild(tensorBlock("gradient", n.grad));
    var why = n.why || lastStep(n);
    if (why) {
      inspector.appendChild(el("h4", null, "chain rule"));
      inspector.appendChild(el("pre", "ga-why", why));
    }
  }
  // Where the whole chain rule was too long to send, its last step: the gradient is the sum of
  // what flows back along each use (upstream gradient × local derivative, per edge).
  var usesOf = {}, resultOf = {};
  data.edges.forEach(function (e) {
    (usesOf[e.src] = usesOf[e.src] || []).push(e);
    if (byId[e.src] && byId[e.src].kind === "op") { resultOf[e.src] = byId[e.dst]; }
  });
  var outName = data.outputs.length === 1 ? byId[data.outputs[0]].name : "L";
  function lastStep(n) {
    if (!n.grad) { return ""; }
    var uses = (usesOf[n.id] || []).filter(function (e) { return e.grad !== null; });
    var lhs = "∂" + outName + "/∂" + n.name + " = ";
    if (!uses.length) { return lhs + n.grad.text; }
    var terms = uses.slice(0, 4).map(function (e) {
      var via = (resultOf[e.dst] || byId[e.dst]).name;
      return "∂" + outName + "/∂" + via + "·∂" + via + "/∂" + n.name;
    });
    var more = uses.length > 4 ? " + …" : "";
    var nums = uses.slice(0, 4).map(function (e) { return e.grad; });
    return lhs + terms.join(" + ") + more + " = " + nums.join(" + ") + more + " = " + n.grad.text;
  }
  Object.keys(nodeEls).forEach(function (id) {
    var e = nodeEls[id];
    e.addEventListener("click", function (ev) { ev.stopPropagation(); inspect(id); });
    e.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); inspect(id); }
    });
  });

  // -- pan and zoom (the viewBox is the camera) -------------------------------------------------
  var vb0 = svg.viewBox.baseVal, full = [vb0.x, vb0.y, vb0.width, vb0.height], cam = full.slice();
  var sizes = [];  // distinct label sizes (svg units), each with a class that hides it
  svg.querySelectorAll("text[data-fs]").forEach(function (t) {
    var s = t.getAttribute("data-fs");
    if (sizes.indexOf(s) < 0) { sizes.push(s); }
  });
  function setCam(c) {
    cam = c;
    svg.setAttribute("viewBox", c.map(function (v) { return v.toFixed(2); }).join(" "));
    var scale = Math.min(view.clientWidth / c[2], view.clientHeight / c[3]) || 1;
    sizes.forEach(function (s) {
      var hide = +s * scale < 6;  // a label under ~6 px on screen is noise: hide it
      if (hidden[s] !== hide) {
        hidden[s] = hide;
        root.classList.toggle("ga-hide-" + s.replace(".", "_"), hide);
      }
    });
  }
  var hidden = {};
  function fit() { setCam(full.slice()); }
  function toSvg(clientX, clientY) {
    var r = svg.getBoundingClientRect(), s = Math.max(cam[2] / r.width, cam[3] / r.height);
    var ox = (r.width - cam[2] / s) / 2, oy = (r.height - cam[3] / s) / 2;
    return [cam[0] + (clientX - r.left - ox) * s, cam[1] + (clientY - r.top - oy) * s];
  }
  function zoomAt(factor, px, py) {
    if (px === undefined) { px = cam[0] + cam[2] / 2; py = cam[1] + cam[3] / 2; }
    var w = Math.max(full[2] / 400, Math.min(full[2] * 8, cam[2] * factor));
    var k = w / cam[2];
    setCam([px - (px - cam[0]) * k, py - (py - cam[1]) * k, cam[2] * k, cam[3] * k]);
  }
  function centreOn(id) {
    var e = nodeEls[id];
    if (!e) { return; }
    var b = e.getBBox(), w = Math.min(cam[2], Math.max(full[2] / 4, b.width * 8));
    var h = w * cam[3] / cam[2];
    setCam([b.x + b.width / 2 - w / 2, b.y + b.height / 2 - h / 2, w, h]);
  }
  view.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var p = toSvg(ev.clientX, ev.clientY);
    zoomAt(ev.deltaY > 0 ? 1.15 : 1 / 1.15, p[0], p[1]);
  }, { passive: false });
  var drag = null;
  view.addEventListener("pointerdown", function (ev) {
    if (ev.target.closest("[data-node]")) { return; }
    drag = { x: ev.clientX, y: ev.clientY, cam: cam.slice() };
    view.setPointerCapture(ev.pointerId);
  });
  view.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    var r = svg.getBoundingClientRect(), s = Math.max(drag.cam[2] / r.width, drag.cam[3] / r.height);
    setCam([drag.cam[0] - (ev.clientX - drag.x) * s, drag.cam[1] - (ev.clientY - drag.y) * s,
            drag.cam[2], drag.cam[3]]);
  });
  view.addEventListener("pointerup", function () { drag = null; });

  // -- search -----------------------------------------------------------------------------------
  function find(q) {
    q = q.trim().toLowerCase();
    if (!q) { return null; }
    var exact = null, part = null;
    data.nodes.forEach(function (n) {
      var name = n.name.toLowerCase();
      if (!nodeEls[n.id] || isHidden(n.id)) { return; }
      if (!exact && name === q) { exact = n.id; }
      if (!part && name.indexOf(q) >= 0) { part = n.id; }
    });
    return exact || part;
  }
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") {
      var id = find(search.value);
      search.setAttribute("aria-invalid", id ? "false" : "true");
      if (id) { centreOn(id); inspect(id); nodeEls[id].focus(); }
    } else if (ev.key === "Escape") {
      search.value = ""; search.blur(); ev.stopPropagation(); inspect(null);
    }
  });

  // -- module groups ----------------------------------------------------------------------------
  var collapsed = {};
  function isHidden(id) { return nodeEls[id] && nodeEls[id].classList.contains("ga-hidden"); }
  function inside(path) {
    var ids = {};
    data.nodes.forEach(function (n) {
      var m = n.module || "";
      if (m === path || m.indexOf(path + ".") === 0) { ids[n.id] = 1; }
    });
    return ids;
  }
  function refreshModules() {
    var hidden = {};
    Object.keys(collapsed).forEach(function (p) { Object.assign(hidden, inside(p)); });
    Object.keys(nodeEls).forEach(function (id) {
      groups(id, nodeEls[id]).forEach(function (g) { setClass(g, "ga-hidden", hidden[id]); });
    });
    data.edges.forEach(function (e, i) {
      groups("e" + i, edgeEls[i]).forEach(function (g) {
        setClass(g, "ga-hidden", hidden[e.src] || hidden[e.dst]);
      });
    });
    svg.querySelectorAll("[data-module]").forEach(function (m) {
      var p = m.getAttribute("data-module"), outer = false;
      Object.keys(collapsed).forEach(function (q) {
        if (p !== q && p.indexOf(q + ".") === 0) { outer = true; }
      });
      setClass(m, "ga-collapsed", collapsed[p] && !outer);
      setClass(m, "ga-hidden", outer);
    });
  }
  root.querySelectorAll("[data-collapse]").forEach(function (b) {
    b.addEventListener("click", function () {
      var p = b.getAttribute("data-collapse");
      if (collapsed[p]) { delete collapsed[p]; } else { collapsed[p] = 1; }
      var on = !!collapsed[p];
      b.setAttribute("aria-expanded", on ? "false" : "true");
      b.setAttribute("aria-label", (on ? "expand " : "collapse ") + p);
      b.textContent = (on ? "▸ " : "▾ ") + p;
      refreshModules();
    });
  });

  // -- keyboard ---------------------------------------------------------------------------------
  root.addEventListener("keydown", function (ev) {
    if (ev.target === search || ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    var k = ev.key, handled = true;
    if (k === "ArrowRight") { actions.forward(); }
    else if (k === "ArrowLeft") { actions.back(); }
    else if (k === "Home") { actions.first(); }
    else if (k === "End") { actions.last(); }
    else if (k === "+" || k === "=") { actions.zoomin(); }
    else if (k === "-") { actions.zoomout(); }
    else if (k === "0") { actions.fit(); }
    else if (k === "/") { search.focus(); }
    else if (k === "Escape") { inspect(null); }
    else { handled = false; }
    if (handled && ev.target !== slider) { ev.preventDefault(); }
  });

  fit();
  inspect(null);
  show(0);
  root.setAttribute("data-ready", "1");  // interactive (tests and benchmarks wait for this)
})();
