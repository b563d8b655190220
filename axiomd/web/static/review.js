// axiomd review page: grid and version pages. Plain JS, no build step.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
const pollMs = () => 1000 * Number(document.querySelector('meta[name="poll-seconds"]')?.content || 3);

async function api(url, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if ((options.method || "GET") !== "GET") headers["X-CSRF-Token"] = csrf();
  const response = await fetch(url, { credentials: "same-origin", ...options, headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (response.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.reason || response.statusText);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function every(ms, work) {
  const tick = async () => {
    try { await work(); } catch (e) { console.warn(e); }
    setTimeout(tick, ms);
  };
  tick();
}

// ---- the shot's grid -------------------------------------------------------------

function card(v) {
  const href = `/v/${encodeURIComponent(v.asset)}/${v.version}`;
  const thumb = v.outputs.thumbnail
    ? el("img", { src: v.outputs.thumbnail, alt: "", loading: "lazy" })
    : el("div", { class: "nothumb" }, v.status);
  return el("a", { class: "card", href, id: `card-${v.asset}-${v.version}` },
    thumb,
    el("div", { class: "caption" }, `${v.asset} ${v.version}`),
    el("div", {},
      el("span", { class: `badge status-${v.status}` }, v.status), " ",
      el("span", { class: `badge review-${v.review || "none"}` }, v.review || "—")));
}

function grid(container) {
  let shown = "";
  every(pollMs(), async () => {
    const page = await api(`/api/v1/versions?${container.dataset.query}&limit=200`);
    const key = JSON.stringify(page.versions.map(v => [v.asset, v.version, v.status, v.review, v.outputs]));
    if (key === shown) return;
    shown = key;
    container.replaceChildren(...page.versions.map(card));
    if (!page.versions.length) container.append(el("p", { class: "empty" }, "No versions yet."));
  });
}

// ---- one version -------------------------------------------------------------------

function player(root) {
  const fps = Number(root.dataset.fps) || 24;
  const frame = document.getElementById("frame");
  const play = document.getElementById("play");
  const video = () => document.getElementById("proxy");
  const current = () => Math.floor(video().currentTime * fps + 1e-3);
  const show = () => { frame.textContent = String(current()); };
  const step = (n) => {
    if (!video()) return;
    video().pause();
    const target = Math.max(0, current() + n);
    video().currentTime = Math.min((target + 0.5) / fps, video().duration || Infinity);
  };
  const wire = (v) => {
    ["timeupdate", "seeked", "loadeddata"].forEach(e => v.addEventListener(e, show));
    const tick = () => { show(); if (!v.paused) requestAnimationFrame(tick); };
    v.addEventListener("play", () => { play.textContent = "pause"; requestAnimationFrame(tick); });
    v.addEventListener("pause", () => { play.textContent = "play"; show(); });
  };
  if (video()) wire(video());
  play.addEventListener("click", () => {
    if (video()) video().paused ? video().play() : video().pause();
  });
  document.getElementById("prev-frame").addEventListener("click", () => step(-1));
  document.getElementById("next-frame").addEventListener("click", () => step(1));
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT") return;
    if (e.key === "ArrowLeft") step(-1);
    else if (e.key === "ArrowRight") step(1);
    else if (e.key === " ") { e.preventDefault(); play.click(); }
  });
  // The proxy finished while the page was open: put the player in, no reload.
  return (outputs) => {
    const waiting = document.getElementById("noproxy");
    if (!outputs.proxy || !waiting) return;
    const v = el("video", { id: "proxy", src: outputs.proxy, preload: "auto", playsinline: "",
                            poster: outputs.thumbnail });
    waiting.replaceWith(v);
    wire(v);
  };
}

function remark(r) {
  const item = el("li", {}, el("b", {}, r.by), " ");
  if (r.kind === "review") item.append(`${r.from || "-"} → `, el("b", {}, r.to), " ");
  item.append(el("time", {}, r.at.slice(0, 16).replace("T", " ")));
  if (r.text) item.append(el("p", {}, r.text));
  return item;
}

function version(root) {
  const showProxy = player(root);
  const status = document.getElementById("status");
  const review = document.getElementById("review");
  const remarks = document.getElementById("remarks");
  const failure = document.getElementById("review-error");
  const refresh = async () => {
    const v = await api(root.dataset.url);
    status.textContent = v.status;
    status.className = `badge status-${v.status}`;
    review.textContent = v.review || "not reviewable yet";
    review.className = `badge review-${v.review || "none"}`;
    const all = [...v.history, ...v.notes].sort((a, b) => (a.at < b.at ? 1 : -1));
    remarks.replaceChildren(...all.map(remark));
    showProxy(v.outputs);
  };
  const send = async (url, body) => {
    failure.hidden = true;
    try {
      await api(url, { method: "POST", body });
      document.getElementById("note").value = "";
      await refresh();
    } catch (e) {
      failure.textContent = e.message;
      failure.hidden = false;
    }
  };
  document.querySelectorAll("[data-action]").forEach(button => button.addEventListener("click", () =>
    send(`${root.dataset.url}/review`, { action: button.dataset.action,
      note: document.getElementById("note").value || null })));
  document.getElementById("add-note")?.addEventListener("click", () =>
    send(`${root.dataset.url}/notes`, { text: document.getElementById("note").value }));
  every(pollMs(), refresh);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout")?.addEventListener("click", async () => {
    await fetch("/logout", { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() } });
    location.href = "/login";
  });
  const container = document.getElementById("grid");
  if (container) grid(container);
  const root = document.getElementById("version");
  if (root) version(root);
});
