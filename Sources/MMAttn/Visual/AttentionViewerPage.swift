/// The HTML, CSS and JavaScript of the attention viewer page (see `AttentionHTML`), written for
/// mmattn: no third-party code, no network, system fonts only.
///
/// The script reads the JSON metadata (`#mmattn-meta`), the model-view thumbnails
/// (`#mmattn-thumbnails`), the optional PNG picture (`#mmattn-picture`) and one zlib stream per
/// layer (`#mmattn-layer-N`), inflating a layer only when it is shown. The head view draws on one
/// canvas only the window of tokens that fits; zoomed out, tokens are grouped into bins of 2^z and
/// a line carries the attention mass from a query bin (mean over its queries) to a key bin (sum
/// over its keys). Lines below 1% are not drawn (0.2% while a token is isolated).
enum AttentionViewerPage {
    static let css = #"""
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; font-size: 14px; color: #1d2330; background: #fff; }
body { margin: 0 auto; padding: 12px 18px 24px; max-width: 1400px; }
body.busy, body.busy canvas { cursor: progress; }
h1 { font-size: 1.25rem; font-weight: 600; margin: 0 0 10px; overflow-wrap: anywhere; white-space: pre-wrap; }
.error { border: 1px solid #c0392b; background: #fdecea; color: #7b1d12; padding: 10px 12px; border-radius: 6px; margin: 8px 0; }
.bar { display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: center; margin-bottom: 10px; }
.group { display: inline-flex; flex-wrap: wrap; gap: 4px; align-items: center; }
select, button { font: inherit; }
button { border: 1px solid #b9c0cc; background: #f5f7fa; border-radius: 5px; padding: 2px 9px; cursor: pointer; }
button:hover { background: #e8ecf2; }
.head-button { display: inline-flex; align-items: center; gap: 5px; }
.head-button .swatch { width: 10px; height: 10px; border-radius: 2px; }
.head-button[aria-pressed="false"] { opacity: 0.45; }
.head-button[aria-pressed="true"] { border-color: #586276; background: #fff; }
.tabs { display: flex; gap: 4px; border-bottom: 1px solid #ccd2dc; margin-bottom: 10px; }
.tabs button { border-radius: 6px 6px 0 0; border-bottom: none; }
.tabs button[aria-selected="true"] { background: #fff; border-color: #8d96a7; font-weight: 600; position: relative; top: 1px; }
.hint { color: #5b6475; margin: 0 0 6px; }
.row { display: flex; gap: 10px; align-items: center; margin: 0 0 6px; flex-wrap: wrap; }
canvas { display: block; }
#head-canvas { width: 100%; border: 1px solid #e1e5ec; border-radius: 4px; }
#head-canvas:focus { outline: 2px solid #6d8fd6; }
#heatmap-canvas { border: 1px solid #e1e5ec; image-rendering: pixelated; }
.info { min-height: 2.6em; margin-top: 8px; color: #2b3242; white-space: pre-wrap; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
#model-grid { display: grid; gap: 3px; align-items: center; justify-content: start; }
#model-grid .label { color: #5b6475; font-size: 12px; text-align: center; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#model-grid canvas { width: 56px; height: 56px; border: 2px solid transparent; cursor: pointer; image-rendering: pixelated; }
#model-grid canvas:hover { border-color: #8d96a7; }
#model-grid canvas.current { border-color: #1d2330; }
footer { margin-top: 12px; color: #5b6475; }
"""#

    static let body = #"""
<div id="error" class="error" role="alert" hidden></div>
<noscript><p class="error">This page draws attention with JavaScript; allow scripts for this file to see it.</p></noscript>
<div class="bar">
<span class="group"><label for="layer">Layer</label> <select id="layer"></select></span>
<span class="group" id="heads" role="group" aria-label="Heads"></span>
<span class="group"><button id="all-heads" type="button" title="Select every head (key A)">All heads</button></span>
<span class="group"><label for="scale">Heatmap scale</label> <select id="scale"><option value="sqrt">square root</option><option value="linear">linear</option><option value="log">logarithmic</option></select></span>
</div>
<nav class="tabs" role="tablist">
<button id="tab-head" type="button" role="tab" aria-selected="true">Head view</button>
<button id="tab-heatmap" type="button" role="tab" aria-selected="false">Heatmap</button>
<button id="tab-model" type="button" role="tab" aria-selected="false">Model view</button>
</nav>
<section id="view-head">
<p class="hint">Queries on the left, keys on the right. Hover a token to isolate its lines; wheel scrolls the side under the pointer, Ctrl+wheel or +/− zooms; ↑/↓ layer, ←/→ head, A all heads.</p>
<div class="row"><span>Tokens per row:</span> <button id="zoom-in" type="button" title="Zoom in (+)">+</button> <span id="zoom-label"></span> <button id="zoom-out" type="button" title="Zoom out (−)">−</button></div>
<canvas id="head-canvas" tabindex="0" aria-label="Head view: attention lines between query and key tokens"></canvas>
<div id="head-info" class="info"></div>
</section>
<section id="view-heatmap" hidden>
<p class="hint">Rows are queries, columns keys; the mean of the selected heads, scaled to its largest weight. Hover for values.</p>
<canvas id="heatmap-canvas" aria-label="Heatmap of the selected heads"></canvas>
<div id="heatmap-info" class="info"></div>
</section>
<section id="view-model" hidden>
<p class="hint">Every layer (rows) and head (columns), each scaled to its own largest weight. Click one to open it in the head view.</p>
<div id="model-grid"></div>
</section>
<footer><span id="status" role="status"></span></footer>
"""#

    static let script = #"""
"use strict";
(() => {
const $ = (id) => document.getElementById(id);
function fail(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  document.body.classList.remove("busy");
}
let meta;
try {
  meta = JSON.parse($("mmattn-meta").textContent);
} catch (error) {
  fail("The attention data of this page is damaged (" + error.message + ").");
  return;
}
if (typeof DecompressionStream !== "function" || typeof Blob !== "function" || typeof Blob.prototype.stream !== "function") {
  fail("This browser cannot read the page's compressed attention data (it has no DecompressionStream). Open the file in a current Chrome, Edge, Firefox or Safari.");
  return;
}

const [L, H, TQ, TK] = meta.shape;
const queryLabels = meta.queries;
const keyLabels = meta.keys || meta.queries;
const queryRegions = meta.queryRegions;
const keyRegions = meta.keys ? meta.keyRegions : meta.queryRegions;
const LABELS = [queryLabels, keyLabels], REGIONS = [queryRegions, keyRegions], COUNTS = [TQ, TK];
const [NOUN, NOUNS] = { image: ["patch", "patches"], video: ["patch", "patches"], audio: ["frame", "frames"], protein: ["residue", "residues"] }[meta.kind] || ["token", "tokens"];

// Level code c >= 2 stands for the centre of its bin: 2^(E + (c-2)>>3) * (1 + ((c-2)&7 + 0.5)/8), at most 1.
const LEVELS = new Float32Array(256);
for (let c = 2; c < 256; c++) {
  const i = c - 2;
  LEVELS[c] = Math.min(1, Math.pow(2, meta.levelExponent + (i >> 3)) * (1 + ((i & 7) + 0.5) / 8));
}

// Colours: one hue per head, evenly spaced; the heatmap ramp runs white -> blue -> ink.
const HEAD_COLOURS = [];
for (let h = 0; h < H; h++) HEAD_COLOURS.push("hsl(" + Math.round((h * 360) / H + 8) % 360 + ", 72%, 42%)");
const RAMP = new Uint8ClampedArray(256 * 3);
for (let i = 0; i < 256; i++) {
  const t = i / 255;
  const [a, b, u] = t < 0.55 ? [[255, 255, 255], [66, 125, 201], t / 0.55] : [[66, 125, 201], [16, 24, 72], (t - 0.55) / 0.45];
  for (let k = 0; k < 3; k++) RAMP[i * 3 + k] = Math.round(a[k] + (b[k] - a[k]) * u);
}

function display(label) {
  // Control characters are shown as their control pictures, so every token stays one visible line.
  return label.replace(/[\u0000-\u001f\u007f]/g, (c) => String.fromCharCode(c === "\u007f" ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}
function shortLabel(side, index) {
  const label = display(LABELS[side][index]);
  return label.length > 40 ? label.slice(0, 39) + "…" : label;
}
function tokenName(side, index) { return NOUN + " " + index + " “" + shortLabel(side, index) + "”"; }
function format(w) { return w >= 0.1 ? w.toFixed(2) : w >= 0.001 ? w.toFixed(3) : w > 0 ? w.toExponential(1) : "0"; }

// ---- Data ----
let busy = 1;
function setBusy(delta) {
  busy += delta;
  document.body.classList.toggle("busy", busy > 0);
}
const parsed = new Promise((resolve) => {
  if (document.readyState !== "loading") resolve();
  else document.addEventListener("DOMContentLoaded", resolve, { once: true });
});
async function inflate(id, waitForParse) {
  if (waitForParse) await parsed;
  const element = $(id);
  if (!element) throw new Error("the page has no data block " + id);
  const text = element.textContent;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
const layerCache = new Map();
function layerData(l) {
  let promise = layerCache.get(l);
  if (promise) {
    layerCache.delete(l);
  } else {
    promise = inflate("mmattn-layer-" + l, l > 0).then((raw) => {
      const rows = H * TQ;
      if (raw.length !== rows * 4 + rows * TK) throw new Error("layer " + l + " holds " + raw.length + " bytes, not " + (rows * 4 + rows * TK));
      const view = new DataView(raw.buffer, raw.byteOffset, rows * 4);
      const fills = new Float32Array(rows);
      for (let r = 0; r < rows; r++) fills[r] = view.getFloat32(r * 4, true);
      return { fills, codes: raw.subarray(rows * 4) };
    });
  }
  layerCache.set(l, promise);
  while (layerCache.size > 4) layerCache.delete(layerCache.keys().next().value);
  return promise;
}
// Sums of one head over a grid: cell (I, J) = sum of p[i][j] over i with rowBin[i] = I, j with colBin[j] = J.
function binSums(data, h, rowBin, rows, colBin, cols) {
  const out = new Float32Array(rows * cols);
  const { fills, codes } = data;
  for (let i = 0; i < TQ; i++) {
    const fill = fills[h * TQ + i], base = (h * TQ + i) * TK, o = rowBin[i] * cols;
    for (let j = 0; j < TK; j++) {
      const c = codes[base + j];
      if (c !== 0) out[o + colBin[j]] += c === 1 ? fill : LEVELS[c];
    }
  }
  return out;
}
function bins(count, size) {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(i / size);
  return out;
}
function spread(count, cells) {
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor((i * cells) / count);
  return out;
}
function value(data, h, i, j) {
  const c = data.codes[(h * TQ + i) * TK + j];
  return c === 1 ? data.fills[h * TQ + i] : LEVELS[c];
}

// ---- State ----
const state = { layer: 0, heads: new Array(H).fill(true), tab: "head", scale: "sqrt" };
let picture = null;
function selectedHeads() {
  const out = [];
  for (let h = 0; h < H; h++) if (state.heads[h]) out.push(h);
  return out;
}

// ---- Controls ----
const layerSelect = $("layer");
meta.layers.forEach((name, l) => layerSelect.add(new Option(name, String(l))));
const headButtons = meta.heads.map((name, h) => {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "head-button";
  button.title = "Head " + name + ": click to toggle, double-click to show it alone";
  const swatch = document.createElement("span");
  swatch.className = "swatch";
  swatch.style.background = HEAD_COLOURS[h];
  button.append(swatch, document.createTextNode(name));
  button.addEventListener("click", () => {
    state.heads[h] = !state.heads[h];
    if (!state.heads.some(Boolean)) state.heads[h] = true;
    update();
  });
  button.addEventListener("dblclick", () => showOnly(h));
  $("heads").append(button);
  return button;
});
function showOnly(h) {
  state.heads.fill(false);
  state.heads[h] = true;
  update();
}
function setLayer(l) {
  state.layer = Math.max(0, Math.min(L - 1, l));
  update();
}
layerSelect.addEventListener("change", () => setLayer(Number(layerSelect.value)));
$("all-heads").addEventListener("click", () => { state.heads.fill(true); update(); });
$("scale").addEventListener("change", () => { state.scale = $("scale").value; update(); });
for (const tab of ["head", "heatmap", "model"]) $("tab-" + tab).addEventListener("click", () => { state.tab = tab; update(); });
$("zoom-in").addEventListener("click", () => zoomBy(-1));
$("zoom-out").addEventListener("click", () => zoomBy(1));
document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLSelectElement || event.altKey || event.metaKey || event.ctrlKey) return;
  const single = selectedHeads().length === 1 ? selectedHeads()[0] : -1;
  switch (event.key) {
    case "ArrowUp": setLayer(state.layer - 1); break;
    case "ArrowDown": setLayer(state.layer + 1); break;
    case "ArrowLeft": showOnly(single < 0 ? H - 1 : (single + H - 1) % H); break;
    case "ArrowRight": showOnly(single < 0 ? 0 : (single + 1) % H); break;
    case "a": case "A": state.heads.fill(true); update(); break;
    case "+": case "=": zoomBy(-1); break;
    case "-": case "_": zoomBy(1); break;
    case "PageUp": scrollBy(-1, head.visible); break;
    case "PageDown": scrollBy(-1, -head.visible); break;
    default: return;
  }
  event.preventDefault();
});

// ---- Update cycle: decode what the view needs, then draw on the next frame ----
let generation = 0;
let frameRequested = false;
function requestDraw() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    draw();
  });
}
function update() {
  const mine = ++generation;
  layerSelect.value = String(state.layer);
  headButtons.forEach((button, h) => button.setAttribute("aria-pressed", String(state.heads[h])));
  for (const tab of ["head", "heatmap", "model"]) {
    $("tab-" + tab).setAttribute("aria-selected", String(state.tab === tab));
    $("view-" + tab).hidden = state.tab !== tab;
  }
  setBusy(1);
  return layerData(state.layer).then((data) => {
    if (mine === generation) {
      current = data;
      currentLayer = state.layer;
      requestDraw();
    }
  }).catch((error) => {
    fail("Could not read layer " + meta.layers[state.layer] + ": " + error.message);
  }).finally(() => new Promise((resolve) => {
    // Busy until the frame that draws this state has run.
    requestAnimationFrame(() => requestAnimationFrame(() => {
      setBusy(-1);
      resolve();
    }));
  }));
}
let current = null, currentLayer = -1;
function draw() {
  if (!current) return;
  if (state.tab === "head") drawHead();
  else if (state.tab === "heatmap") drawHeatmap();
  else drawModel();
  $("status").textContent = "Layer " + meta.layers[currentLayer] + " · " + describeHeads() + " · " + TQ + " × " + TK + " " + NOUNS;
}
function describeHeads() {
  const heads = selectedHeads();
  return heads.length === 1 ? "head " + meta.heads[heads[0]] : heads.length === H ? "all " + H + " heads" : heads.length + " heads";
}
function fitCanvas(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.round(width * ratio), h = Math.round(height * ratio);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  canvas.style.height = height + "px";
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return context;
}

// ---- Head view ----
const head = {
  canvas: $("head-canvas"),
  slot: (queryRegions || keyRegions) ? 30 : 18,
  margin: 22,
  zoom: -1,
  scroll: [0, 0],
  hover: null,
  visible: 1,
  cache: new Map(),
  cacheKey: "",
};
function fitExponent(count) {
  let z = 0;
  while (Math.ceil(count / 2 ** z) > head.visible) z++;
  return z;
}
function binSize(side) { return 2 ** Math.min(head.zoom, fitExponent(COUNTS[side])); }
function binCount(side) { return Math.ceil(COUNTS[side] / binSize(side)); }
function maxZoom() { return Math.max(fitExponent(TQ), fitExponent(TK)); }
function zoomBy(step) {
  const centre = [0, 1].map((side) => (head.scroll[side] + head.visible / 2) * binSize(side));
  head.zoom = Math.max(0, Math.min(maxZoom(), head.zoom + step));
  [0, 1].forEach((side) => { head.scroll[side] = Math.round(centre[side] / binSize(side) - head.visible / 2); });
  head.hover = null;
  clampScroll();
  requestDraw();
}
function clampScroll() {
  for (const side of [0, 1]) head.scroll[side] = Math.max(0, Math.min(binCount(side) - head.visible, head.scroll[side]));
}
function scrollBy(side, slots) {
  for (const s of side < 0 ? [0, 1] : [side]) head.scroll[s] -= slots;
  clampScroll();
  requestDraw();
}
// Per selected head: [query bins, key bins] mass, query bins averaged (rows still sum to 1).
function headMatrix(h) {
  const bq = binSize(0), bk = binSize(1);
  const key = currentLayer + "/" + bq + "/" + bk;
  if (head.cacheKey !== key) {
    head.cache.clear();
    head.cacheKey = key;
  }
  let matrix = head.cache.get(h);
  if (!matrix) {
    const nq = binCount(0), nk = binCount(1);
    matrix = binSums(current, h, bins(TQ, bq), nq, bins(TK, bk), nk);
    for (let I = 0; I < nq; I++) {
      const size = Math.min(bq, TQ - I * bq);
      if (size > 1) for (let J = 0; J < nk; J++) matrix[I * nk + J] /= size;
    }
    head.cache.set(h, matrix);
  }
  return matrix;
}
function headLayout() {
  const width = Math.max(480, head.canvas.clientWidth || 800);
  const slots = Math.max(4, Math.floor((Math.max(320, window.innerHeight - 260) - 2 * head.margin) / head.slot));
  head.visible = Math.min(slots, Math.max(TQ, TK));
  if (head.zoom < 0 || head.zoom > maxZoom()) head.zoom = maxZoom();
  clampScroll();
  const rows = Math.min(head.visible, Math.max(binCount(0), binCount(1)));
  const labelWidth = Math.min(260, Math.floor(width * 0.3));
  return { width, height: rows * head.slot + 2 * head.margin, labelWidth, left: labelWidth + 8, right: width - labelWidth - 8 };
}
function slotLabel(side, I) {
  const b = binSize(side);
  const first = I * b, last = Math.min(COUNTS[side], first + b) - 1;
  return b === 1 ? shortLabel(side, first) : first + "–" + last + " " + shortLabel(side, first) + (last > first ? " …" : "");
}
function drawThumbnail(context, side, index, x, y, alignRight) {
  const regions = REGIONS[side];
  if (!regions || !picture || regions[index * 4] < 0) return 0;
  const [rx, ry, rw, rh] = regions.slice(index * 4, index * 4 + 4);
  const h = head.slot - 4, w = Math.min(2 * h, Math.max(4, Math.round((h * rw) / rh)));
  context.drawImage(picture, rx, ry, rw, rh, alignRight ? x - w : x, y + 2, w, h);
  return w + 4;
}
function drawHead() {
  const layout = headLayout();
  const context = fitCanvas(head.canvas, layout.width, layout.height);
  context.clearRect(0, 0, layout.width, layout.height);
  context.fillStyle = "#fff";
  context.fillRect(0, 0, layout.width, layout.height);
  const heads = selectedHeads();
  const matrices = heads.map(headMatrix);
  const nq = binCount(0), nk = binCount(1);
  const [q0, k0] = head.scroll;
  const qn = Math.min(head.visible, nq - q0), kn = Math.min(head.visible, nk - k0);
  const top = head.margin, slot = head.slot;
  const hover = head.hover;
  const threshold = hover ? 0.002 : 0.01;
  const BUCKETS = 20;
  // Lines, grouped per head and opacity bucket so each group is one stroke.
  heads.forEach((h, index) => {
    const m = matrices[index];
    const paths = [];
    for (let qi = 0; qi < qn; qi++) {
      const I = q0 + qi;
      if (hover && hover.side === 0 && hover.index !== I) continue;
      const y1 = top + (qi + 0.5) * slot;
      for (let ki = 0; ki < kn; ki++) {
        const J = k0 + ki;
        if (hover && hover.side === 1 && hover.index !== J) continue;
        const w = m[I * nk + J];
        if (w < threshold) continue;
        const bucket = Math.min(BUCKETS - 1, Math.floor(Math.sqrt(w) * BUCKETS));
        const path = paths[bucket] || (paths[bucket] = new Path2D());
        path.moveTo(layout.left, y1);
        path.lineTo(layout.right, top + (ki + 0.5) * slot);
      }
    }
    context.strokeStyle = HEAD_COLOURS[h];
    paths.forEach((path, bucket) => {
      if (!path) return;
      const strength = (bucket + 1) / BUCKETS;
      context.globalAlpha = hover ? Math.min(1, 0.15 + strength) : strength * strength * 0.9 + 0.05;
      // Hairlines below half strength: a software rasteriser strokes them several times faster.
      context.lineWidth = strength < 0.5 ? 1 : 1 + 4 * (strength - 0.5);
      context.stroke(path);
    });
  });
  context.globalAlpha = 1;
  // Token columns.
  context.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  context.textBaseline = "middle";
  const mean = (I, J) => {
    let s = 0;
    for (const m of matrices) s += m[I * nk + J];
    return s / matrices.length;
  };
  for (const side of [0, 1]) {
    const first = head.scroll[side], count = side === 0 ? qn : kn;
    context.save();
    context.beginPath();
    context.rect(side === 0 ? 0 : layout.right + 4, 0, layout.labelWidth + 4, layout.height);
    context.clip();
    for (let s = 0; s < count; s++) {
      const I = first + s, y = top + s * slot;
      const isHover = hover && hover.side === side && hover.index === I;
      if (isHover) {
        context.fillStyle = "#e6ecf8";
        context.fillRect(side === 0 ? 0 : layout.right + 4, y, layout.labelWidth + 4, slot);
      }
      const tokenIndex = I * binSize(side);
      let x = side === 0 ? layout.left - 6 : layout.right + 6;
      const offset = drawThumbnail(context, side, tokenIndex, x, y, side === 0);
      x += side === 0 ? -offset : offset;
      context.fillStyle = isHover ? "#0b1020" : "#2b3242";
      context.textAlign = side === 0 ? "right" : "left";
      context.fillText(slotLabel(side, I), x, y + slot / 2);
    }
    context.restore();
  }
  // Isolated token: its weights beside the other column, and the mass outside the window.
  const info = [];
  if (hover && matrices.length) {
    const other = 1 - hover.side, first = head.scroll[other], count = other === 0 ? qn : kn;
    const weight = (J) => (hover.side === 0 ? mean(hover.index, J) : mean(J, hover.index));
    context.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    context.fillStyle = "#0b1020";
    context.textAlign = other === 1 ? "right" : "left";
    for (let s = 0; s < count; s++) {
      const w = weight(first + s);
      if (w >= 0.005) context.fillText(format(w), other === 1 ? layout.right - 4 : layout.left + 4, top + (s + 0.5) * slot);
    }
    let above = 0, below = 0;
    const total = other === 0 ? nq : nk;
    for (let J = 0; J < first; J++) above += weight(J);
    for (let J = first + count; J < total; J++) below += weight(J);
    context.fillStyle = "#5b6475";
    context.textAlign = other === 1 ? "left" : "right";
    const x = other === 1 ? layout.right + 6 : layout.left - 6;
    if (first > 0) context.fillText("▲ " + format(above) + " above", x, head.margin / 2);
    if (first + count < total) context.fillText("▼ " + format(below) + " below", x, layout.height - head.margin / 2);
    const ranked = [];
    for (let J = 0; J < total; J++) ranked.push([weight(J), J]);
    ranked.sort((a, b) => b[0] - a[0]);
    const b = binSize(hover.side);
    info.push((hover.side === 0 ? "Query " : "Key ") + slotLabel(hover.side, hover.index) + (b > 1 ? " (" + b + " " + NOUNS + ")" : "") +
      " — " + (heads.length === 1 ? "head " + meta.heads[heads[0]] : "mean of " + heads.length + " heads") +
      (hover.side === 0 ? ", attends most to:" : ", receives most from:"));
    info.push(ranked.slice(0, 8).filter((r) => r[0] > 0).map((r) => slotLabel(other, r[1]) + " " + format(r[0])).join("   ·   "));
  } else {
    info.push("Hover a " + NOUN + " to isolate its lines and see its largest weights.");
  }
  $("head-info").textContent = info.join("\n");
  $("zoom-label").textContent = binSize(0) === binSize(1) ? String(binSize(0)) : binSize(0) + " / " + binSize(1);
}
function hoverAt(event) {
  const rect = head.canvas.getBoundingClientRect();
  const x = event.clientX - rect.left, y = event.clientY - rect.top;
  const side = x < rect.width / 2 ? 0 : 1;
  const s = Math.floor((y - head.margin) / head.slot);
  const index = head.scroll[side] + s;
  const inside = s >= 0 && s < head.visible && index < binCount(side);
  return inside ? { side, index } : null;
}
head.canvas.addEventListener("mousemove", (event) => {
  const hover = hoverAt(event);
  const same = hover === head.hover || (hover && head.hover && hover.side === head.hover.side && hover.index === head.hover.index);
  if (!same) {
    head.hover = hover;
    requestDraw();
  }
});
head.canvas.addEventListener("mouseleave", () => {
  if (head.hover) {
    head.hover = null;
    requestDraw();
  }
});
head.canvas.addEventListener("wheel", (event) => {
  event.preventDefault();
  if (event.ctrlKey) {
    zoomBy(event.deltaY > 0 ? 1 : -1);
    return;
  }
  const rect = head.canvas.getBoundingClientRect();
  const side = event.clientX - rect.left < rect.width / 2 ? 0 : 1;
  scrollBy(side, event.deltaY > 0 ? -3 : 3);
  head.hover = hoverAt(event);
}, { passive: false });

// ---- Heatmap ----
const heat = { canvas: $("heatmap-canvas"), key: "", values: null, rows: 0, cols: 0, image: document.createElement("canvas") };
function drawHeatmap() {
  const heads = selectedHeads();
  const rows = Math.min(TQ, 640), cols = Math.min(TK, 640);
  const key = currentLayer + "/" + heads.join(",") + "/" + state.scale;
  if (heat.key !== key) {
    const rowBin = spread(TQ, rows), colBin = spread(TK, cols);
    const sum = new Float32Array(rows * cols);
    for (const h of heads) {
      const s = binSums(current, h, rowBin, rows, colBin, cols);
      for (let k = 0; k < s.length; k++) sum[k] += s[k];
    }
    const rowSize = new Float32Array(rows), colSize = new Float32Array(cols);
    for (let i = 0; i < TQ; i++) rowSize[rowBin[i]]++;
    for (let j = 0; j < TK; j++) colSize[colBin[j]]++;
    let largest = 0;
    for (let I = 0; I < rows; I++) for (let J = 0; J < cols; J++) {
      const v = (sum[I * cols + J] /= rowSize[I] * colSize[J] * heads.length);
      if (v > largest) largest = v;
    }
    heat.image.width = cols;
    heat.image.height = rows;
    const imageContext = heat.image.getContext("2d");
    const pixels = imageContext.createImageData(cols, rows);
    const scale = largest > 0 ? 1 / largest : 0;
    for (let k = 0; k < rows * cols; k++) {
      const t = sum[k] * scale;
      const u = state.scale === "linear" ? t : state.scale === "sqrt" ? Math.sqrt(t) : t > 0 ? Math.max(0, 1 + Math.log10(t) / 3) : 0;
      const c = Math.round(u * 255) * 3;
      pixels.data[k * 4] = RAMP[c];
      pixels.data[k * 4 + 1] = RAMP[c + 1];
      pixels.data[k * 4 + 2] = RAMP[c + 2];
      pixels.data[k * 4 + 3] = 255;
    }
    imageContext.putImageData(pixels, 0, 0);
    Object.assign(heat, { key, values: sum, rows, cols, largest });
  }
  const available = Math.max(240, Math.min(heat.canvas.parentElement.clientWidth || 720, 900));
  // Square cells where they fit; a few queries over many keys still get rows of at least 6 pixels.
  let width = available, height = Math.round((available * TQ) / TK);
  if (height > 900) {
    height = 900;
    width = Math.max(40, Math.round((900 * TK) / TQ));
  }
  height = Math.max(height, Math.min(6 * TQ, 300));
  heat.canvas.style.width = width + "px";
  const context = fitCanvas(heat.canvas, width, height);
  context.imageSmoothingEnabled = false;
  context.drawImage(heat.image, 0, 0, width, height);
  $("heatmap-info").textContent = "Layer " + meta.layers[currentLayer] + ", " + (heads.length === 1 ? "head " + meta.heads[heads[0]] : "mean of " + heads.length + " heads") +
    "; largest weight " + format(heat.largest) + (heat.rows < TQ || heat.cols < TK ? "; each cell is the mean over a bin of " + NOUNS : "") + ".";
}
heat.canvas.addEventListener("mousemove", (event) => {
  if (!heat.values || !current) return;
  const rect = heat.canvas.getBoundingClientRect();
  const I = Math.floor(((event.clientY - rect.top) / rect.height) * heat.rows);
  const J = Math.floor(((event.clientX - rect.left) / rect.width) * heat.cols);
  if (I < 0 || J < 0 || I >= heat.rows || J >= heat.cols) return;
  const i = Math.floor((I * TQ) / heat.rows), j = Math.floor((J * TK) / heat.cols);
  const heads = selectedHeads();
  let exact = "";
  if (heat.rows === TQ && heat.cols === TK) {
    let s = 0;
    for (const h of heads) s += value(current, h, i, j);
    exact = format(s / heads.length);
  }
  $("heatmap-info").textContent = "Query " + tokenName(0, i) + " → key " + tokenName(1, j) + ": " +
    (exact || format(heat.values[I * heat.cols + J]) + " (mean of the cell's bin)");
});

// ---- Model view ----
const model = { cells: [] };
async function buildModel() {
  const bytes = await inflate("mmattn-thumbnails", false);
  const rows = meta.thumbnail.rows, cols = meta.thumbnail.cols;
  const grid = $("model-grid");
  grid.style.gridTemplateColumns = "auto repeat(" + H + ", 60px)";
  const label = (text, title) => {
    const span = document.createElement("span");
    span.className = "label";
    span.textContent = text;
    span.title = title;
    return span;
  };
  grid.append(document.createElement("span"));
  for (let h = 0; h < H; h++) grid.append(label(meta.heads[h], "head " + meta.heads[h]));
  for (let l = 0; l < L; l++) {
    grid.append(label(meta.layers[l], "layer " + meta.layers[l]));
    for (let h = 0; h < H; h++) {
      const canvas = document.createElement("canvas");
      canvas.width = cols;
      canvas.height = rows;
      canvas.title = "layer " + meta.layers[l] + ", head " + meta.heads[h] + " (largest weight " + format(meta.thumbnail.max[l * H + h]) + ")";
      const context = canvas.getContext("2d");
      const pixels = context.createImageData(cols, rows);
      const base = (l * H + h) * rows * cols;
      for (let k = 0; k < rows * cols; k++) {
        const c = bytes[base + k] * 3;
        pixels.data[k * 4] = RAMP[c];
        pixels.data[k * 4 + 1] = RAMP[c + 1];
        pixels.data[k * 4 + 2] = RAMP[c + 2];
        pixels.data[k * 4 + 3] = 255;
      }
      context.putImageData(pixels, 0, 0);
      canvas.addEventListener("click", () => {
        state.layer = l;
        state.heads.fill(false);
        state.heads[h] = true;
        state.tab = "head";
        update();
      });
      grid.append(canvas);
      model.cells.push(canvas);
    }
  }
}
function drawModel() {
  const heads = selectedHeads();
  model.cells.forEach((canvas, k) => canvas.classList.toggle("current", Math.floor(k / H) === currentLayer && state.heads[k % H] && heads.length < H));
}

// ---- Start ----
window.addEventListener("resize", requestDraw);
const pictureBlock = $("mmattn-picture");
const pictureReady = pictureBlock ? new Promise((resolve) => {
  const image = new Image();
  image.onload = () => { picture = image; resolve(); };
  image.onerror = () => { fail("The picture of this page could not be decoded; tokens are shown by label only."); resolve(); };
  image.src = "data:image/png;base64," + pictureBlock.textContent;
}) : Promise.resolve();
// The head view first; the model view's grid is built once that is on screen. The page stays
// busy (the count starts at 1) until both are done.
pictureReady.then(update).then(buildModel).then(() => {
  setBusy(-1);
  if (state.tab === "model") requestDraw();
}).catch((error) => fail("Could not read the page's data: " + error.message));
})();
"""#
}
