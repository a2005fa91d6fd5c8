// The script of report.html: the grid's filters, and the message flows, drawn from the data
// block #flow-data (src/report/html/flows.rs) when a section's "message flow" is opened or a link
// points into it. Text goes into the page through textContent and attributes only, never as
// markup.
(function () {
  "use strict";
  // Ladder geometry, in SVG user units (pixels).
  var LEFT = 64, COL = 230, TOP = 8, BOX_H = 26, ROW = 32, CHAR_W = 6.7, LOOP_W = 28;
  var FIRST = TOP + BOX_H + 30;
  // The SVG namespace, taken from the parser rather than spelt out.
  var probe = document.createElement("div");
  probe.innerHTML = "<svg></svg>";
  var SVG_NS = probe.firstChild.namespaceURI;

  var data = null;
  function flows() {
    if (!data) {
      var block = document.getElementById("flow-data");
      data = block ? JSON.parse(block.textContent) : { w: 1, T: [], L: [], F: [] };
    }
    return data;
  }

  // Ids in base 64, w digits each (flows.rs).
  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  function ids(s, w) {
    var out = [];
    for (var i = 0; i < s.length; i += w) {
      var v = 0;
      for (var k = 0; k < w; k++) { v = v * 64 + B64.indexOf(s.charAt(i + k)); }
      out.push(v);
    }
    return out;
  }
  // Line i of the shared text: its tokens joined.
  function line(D, i) {
    return ids(D.L[i], D.w).map(function (t) { return D.T[t]; }).join("");
  }

  function el(tag, attrs, text, ns) {
    var e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (var k in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, k) && attrs[k] !== null && attrs[k] !== "") {
        e.setAttribute(k, attrs[k]);
      }
    }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function svg(tag, attrs, text) { return el(tag, attrs, text, SVG_NS); }

  function truncate(s, max) {
    var chars = Array.from(s);
    if (chars.length <= max) { return s; }
    return chars.slice(0, Math.max(max - 1, 0)).join("") + "\u2026";
  }

  // A message: [number, time ms, from node, to node, transport, start line, start line without
  // version, lines, changed lines, lines a finding points at, flagged, number it came from].
  function message(D, nodes, m) {
    var T = D.T;
    return {
      n: m[0], time: m[1], from: T[nodes[m[2]]], to: T[nodes[m[3]]], fromPos: m[2], toPos: m[3],
      transport: T[m[4]], summary: T[m[5]], short: T[m[6]], lines: ids(m[7], D.w), changed: m[8],
      hits: m[9], flagged: m[10] === 1, ingress: m[11]
    };
  }

  function ladder(T, f, msgs, section, label) {
    var nodes = f.n.map(function (i) { return T[i]; });
    var x = function (i) { return LEFT + COL / 2 + i * COL; };
    var n = msgs.length;
    var width = LEFT + nodes.length * COL + 10, height = FIRST + n * ROW;
    var bottom = FIRST + Math.max(n - 1, 0) * ROW + 14;
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "message flow of " + label });
    nodes.forEach(function (name, i) {
      var g = svg("g", { "class": "node" });
      g.appendChild(svg("title", {}, name));
      g.appendChild(svg("line", { "class": "life", x1: x(i), y1: TOP + BOX_H, x2: x(i), y2: bottom }));
      g.appendChild(svg("rect", { x: x(i) - COL / 2 + 8, y: TOP, width: COL - 16, height: BOX_H }));
      g.appendChild(svg("text", { x: x(i), y: TOP + 17, "text-anchor": "middle" }, truncate(name, Math.floor((COL - 24) / CHAR_W))));
      root.appendChild(g);
    });
    msgs.forEach(function (m, i) {
      var y = FIRST + i * ROW, x1 = x(m.fromPos), x2 = x(m.toPos);
      var cls = ["msg", m.summary.trim().indexOf("SIP/") === 0 ? "resp" : "req"];
      if (m.changed.length) { cls.push("rw"); }
      if (m.flagged) { cls.push("bad"); }
      var a = svg("a", { href: "#m" + section + "-" + m.n, "class": cls.join(" ") });
      a.appendChild(svg("title", {}, "#" + m.n + " " + m.time + " ms " + m.from + " \u2192 " + m.to + " " + m.transport + ": " + m.summary));
      a.appendChild(svg("text", { "class": "t", x: 4, y: y + 4 }, m.time + " ms"));
      var full = "#" + m.n + " " + m.short, lbl;
      if (x1 === x2) {
        var w = LOOP_W;
        a.appendChild(svg("path", { d: "M" + x1 + " " + y + " h" + w + " v12 h-" + w }));
        a.appendChild(svg("polygon", { points: x1 + "," + (y + 12) + " " + (x1 + 8) + "," + (y + 8) + " " + (x1 + 8) + "," + (y + 16) }));
        lbl = svg("text", { "class": "lbl", x: x1 + w + 6, y: y + 10, "text-anchor": "start" }, truncate(full, Math.floor((COL - w - 12) / CHAR_W)));
      } else {
        var span = Math.abs(x1 - x2), d = x2 > x1 ? -9 : 9;
        a.appendChild(svg("rect", { "class": "hitbox", x: Math.min(x1, x2), y: y - 18, width: span, height: 24 }));
        a.appendChild(svg("line", { x1: x1, y1: y, x2: x2, y2: y }));
        a.appendChild(svg("polygon", { points: x2 + "," + y + " " + (x2 + d) + "," + (y - 4) + " " + (x2 + d) + "," + (y + 4) }));
        lbl = svg("text", { "class": "lbl", x: (x1 + x2) / 2, y: y - 6, "text-anchor": "middle" }, truncate(full, Math.max(Math.floor(Math.max(span - 14, 0) / CHAR_W), 4)));
      }
      a.appendChild(lbl);
      root.appendChild(a);
    });
    var box = el("div", { "class": "ladder" });
    box.appendChild(root);
    return box;
  }

  function messageText(D, m, section) {
    var d = el("details", { "class": m.flagged ? "msg flagged" : "msg", id: "m" + section + "-" + m.n });
    var sum = el("summary");
    sum.appendChild(el("span", { "class": "num" }, "#" + m.n));
    sum.appendChild(document.createTextNode(" "));
    sum.appendChild(el("span", { "class": "meta" }, m.time + " ms \u00b7 " + m.from + " \u2192 " + m.to + " \u00b7 " + m.transport));
    sum.appendChild(document.createTextNode(" "));
    sum.appendChild(el("code", {}, m.summary));
    if (m.ingress) {
      var meta = el("span", { "class": "meta" }, "\u00b7 from ");
      meta.appendChild(el("a", { href: "#m" + section + "-" + m.ingress }, "#" + m.ingress));
      meta.appendChild(document.createTextNode(", " + m.changed.length + " line(s) changed"));
      sum.appendChild(document.createTextNode(" "));
      sum.appendChild(meta);
    }
    d.appendChild(sum);
    var pre = el("pre");
    m.lines.forEach(function (s, i) {
      var cls = [];
      if (m.changed.indexOf(i) >= 0) { cls.push("chg"); }
      if (m.hits.indexOf(i) >= 0) { cls.push("hit"); }
      pre.appendChild(el("span", { "class": cls.join(" "), "data-n": i + 1 }, line(D, s)));
    });
    d.appendChild(pre);
    return d;
  }

  // Draws section i's flow into its details.flow element once; returns that element.
  function draw(i) {
    var box = document.querySelector('details.flow[data-s="' + i + '"]');
    if (!box || box.hasAttribute("data-drawn")) { return box; }
    var D = flows(), f = D.F[i];
    if (!f) { return box; }
    box.setAttribute("data-drawn", "");
    var msgs = f.m.map(function (m) { return message(D, f.n, m); });
    var sec = document.getElementById("s" + i);
    var h = sec && sec.querySelector("h3");
    box.appendChild(ladder(D.T, f, msgs, i, h ? h.textContent : ""));
    var bar = el("div", { "class": "toolbar" });
    bar.appendChild(el("button", { type: "button", "data-expand": "s" + i }, "expand all"));
    bar.appendChild(el("button", { type: "button", "data-collapse": "s" + i }, "collapse all"));
    bar.appendChild(el("span", { "class": "muted" }, "dashed: response \u00b7 orange: rewritten by the server (changed lines marked ~) \u00b7 red: a finding points here (line marked \u25b6)"));
    box.appendChild(bar);
    msgs.forEach(function (m) { box.appendChild(messageText(D, m, i)); });
    return box;
  }

  // Follows the address's #fragment: draws the flow a message anchor (#m{section}-{n}) is in,
  // opens every <details> around the target and the target itself, and scrolls to it.
  function follow() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) { return; }
    var m = /^m(\d+)-\d+$/.exec(id);
    if (m) { draw(Number(m[1])); }
    var target = document.getElementById(id);
    if (!target) { return; }
    for (var p = target; p; p = p.parentElement) {
      if (p.tagName === "DETAILS") { p.open = true; }
    }
    document.querySelectorAll(".focus").forEach(function (e) { e.classList.remove("focus"); });
    target.classList.add("focus");
    target.scrollIntoView({ block: "start" });
  }

  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (d.classList && d.classList.contains("flow") && d.open) { draw(Number(d.getAttribute("data-s"))); }
  }, true);
  window.addEventListener("hashchange", follow);
  document.querySelectorAll("details.flow[open]").forEach(function (d) { draw(Number(d.getAttribute("data-s"))); });
  follow();

  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target : e.target.parentElement;
    if (!t || !t.closest) { return; }
    var b = t.closest("button[data-expand],button[data-collapse]");
    if (b) {
      var open = b.hasAttribute("data-expand");
      var sec = document.getElementById(b.getAttribute(open ? "data-expand" : "data-collapse"));
      if (sec) { sec.querySelectorAll("details.msg").forEach(function (d) { d.open = open; }); }
      return;
    }
    // A link to the fragment already in the address fires no hashchange: follow it again.
    var a = t.closest("a");
    if (a && a.getAttribute("href") === location.hash) { follow(); }
  });

  var table = document.getElementById("grid-table");
  var only = document.getElementById("only-notable");
  var filter = document.getElementById("row-filter");
  if (table && only) { only.addEventListener("change", function () { table.classList.toggle("only-notable", only.checked); }); }
  if (table && filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.style.display = (tr.getAttribute("data-label") || "").toLowerCase().indexOf(q) >= 0 ? "" : "none";
      });
    });
  }
})();
