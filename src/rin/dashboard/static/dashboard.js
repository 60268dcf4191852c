// RIN dashboard: polls /ui/api/state and redraws. Text only ever enters the page through
// textContent / append(string), never innerHTML, so nothing the gateway reports can run as markup.
"use strict";

(() => {
  const KEY = "rin-dashboard-key";
  const POLL_MS = Number(document.body.dataset.pollMs) || 3000;
  const NEEDS_KEY = document.body.dataset.auth === "key";
  const COLORS = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"];
  const $ = (id) => document.getElementById(id);

  let timer = 0;
  let inflight = false;
  let again = false; // a filter changed while a poll was in flight
  let chart = null;
  let chartShape = "";
  let spend = null; // the data the chart shows, read by its legend

  class Locked extends Error {}

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value != null) node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child != null) node.append(child);
    }
    return node;
  }

  function usd(value, digits) {
    const n = Number(value);
    if (!Number.isFinite(n)) return "–";
    if (digits == null) digits = n !== 0 && Math.abs(n) < 0.01 ? 6 : 2;
    return "$" + n.toFixed(digits);
  }

  function clock(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], {hour12: false}) : "–";
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString([], {hour12: false}) : "–";
  }

  async function api(path, options = {}) {
    const headers = {...(options.headers || {})};
    const key = sessionStorage.getItem(KEY);
    if (key) headers.authorization = "Bearer " + key;
    const resp = await fetch(path, {...options, headers, cache: "no-store"});
    const body = await resp.json().catch(() => null);
    if (resp.status === 401) {
      sessionStorage.removeItem(KEY);
      showLogin(key ? "That key was not accepted." : "");
      throw new Locked();
    }
    if (!resp.ok) {
      const message = body && body.error ? body.error.message : resp.statusText;
      throw new Error(`${resp.status}: ${message}`);
    }
    return body;
  }

  function statePath() {
    const q = new URLSearchParams();
    const pairs = {
      spend_by: $("spend-by").value, days: $("spend-days").value, model: $("filter-model").value,
      user: $("filter-user").value.trim(), status: $("filter-status").value,
    };
    for (const [name, value] of Object.entries(pairs)) if (value) q.set(name, value);
    return "/ui/api/state?" + q.toString();
  }

  function badge(text, kind) {
    return el("span", {class: "badge " + kind}, text);
  }

  function modelStatus(m) {
    if (m.status === "available") return badge("available", "ok");
    if (m.status === "cooling_down") {
      return el("span", {}, badge("cooling down", "warn"), " until " + clock(m.cooling_until));
    }
    return el("span", {}, badge("disabled", "off"), " " + (m.disabled_reason || ""));
  }

  function renderModels(models) {
    $("models").tBodies[0].replaceChildren(...models.map((m) => el("tr", {"data-model": m.model, "data-status": m.status},
      el("td", {}, el("strong", {}, m.name), m.name !== m.model ? el("div", {class: "sub"}, m.model) : null),
      el("td", {class: "mono"}, m.deployment),
      el("td", {}, ...["vision", "tools", "reasoning"].filter((c) => m.capabilities[c]).map((c) => badge(c, "cap"))),
      el("td", {class: "num"}, m.context_length ? m.context_length.toLocaleString("en-US") : "–"),
      el("td", {class: "num"}, m.price.input_per_million != null ? usd(m.price.input_per_million) : "–"),
      el("td", {class: "num"}, m.price.output_per_million != null ? usd(m.price.output_per_million) : "–"),
      el("td", {}, modelStatus(m)),
    )));
    const select = $("filter-model");
    const names = [...new Set(models.map((m) => m.model))];
    const have = [...select.options].slice(1).map((o) => o.value);
    if (names.join("\n") !== have.join("\n")) {
      const chosen = select.value;
      select.replaceChildren(el("option", {value: ""}, "any"), ...names.map((n) => el("option", {value: n}, n)));
      select.value = names.includes(chosen) ? chosen : "";
    }
  }

  function renderBudgets(budgets) {
    $("budgets-empty").hidden = budgets.length > 0;
    $("budgets").replaceChildren(...budgets.map((b) => {
      const limit = Number(b.limit) || 0;
      const share = (v) => (limit > 0 ? Math.min(100, (Number(v) / limit) * 100) : 0);
      const spent = el("span", {class: "spent"});
      const reserved = el("span", {class: "reserved"});
      spent.style.width = share(b.spent) + "%";
      reserved.style.width = Math.min(100 - share(b.spent), share(b.reserved)) + "%";
      const level = share(b.spent) >= 100 ? "full" : share(b.spent) >= 80 ? "high" : "";
      return el("div", {class: "gauge " + level, "data-scope": b.scope},
        el("div", {class: "gauge-head"}, el("strong", {}, b.label),
          el("span", {class: "gauge-spent"}, `${usd(b.spent)} of ${usd(b.limit)}`)),
        el("div", {class: "bar"}, spent, reserved),
        el("div", {class: "sub"}, `reserved ${usd(b.reserved)} · ` +
          (b.resets_at ? `resets ${when(b.resets_at)}` : "no window") +
          (b.enforced ? " · enforced" : " · warns only")));
    }));
  }

  function renderRequests(rows) {
    $("requests-empty").hidden = rows.length > 0;
    $("requests").tBodies[0].replaceChildren(...rows.map((r) => el("tr", {"data-status": r.status, "data-model": r.model},
      el("td", {title: r.created_at}, clock(r.created_at)),
      el("td", {}, r.model, r.fallback_from ? el("div", {class: "sub"}, "fallback from " + r.fallback_from) : null),
      el("td", {class: "user"}, r.user || "–"),
      el("td", {}, badge(r.status, r.status === "success" ? "ok" : r.status === "error" ? "off" : "warn"),
        r.error_type ? el("div", {class: "sub"}, r.error_type) : null),
      el("td", {class: "num"}, `${r.prompt_tokens} + ${r.completion_tokens}`),
      el("td", {class: "num", title: r.cost_source}, usd(r.cost)),
      el("td", {class: "num"}, r.latency_ms != null ? Math.round(r.latency_ms) + " ms" : "–"),
      el("td", {class: "num"}, r.attempts),
    )));
  }

  function facts(values) {
    return Object.entries(values || {}).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`).join(", ");
  }

  function renderSync(sync) {
    let text;
    if (!sync.available) text = "Catalogue sync is not available on this gateway.";
    else if (sync.running) text = "Sync running…";
    else if (sync.state === "failed") {
      text = "Last sync failed: " + (sync.error || "unknown error") +
        (sync.synced_at ? ` (serving the catalogue of ${when(sync.synced_at)})` : "");
    } else if (sync.synced_at) {
      text = `Catalogue synced ${when(sync.synced_at)}` + (facts(sync.facts) ? ` — ${facts(sync.facts)}` : "");
    } else text = "Not synced yet.";
    $("sync-status").textContent = text;
  }

  // Stacked bars: series i is drawn at the sum of itself and every later series, largest first,
  // so each later bar covers the lower part of the one before. The legend shows the real values.
  function renderSpend(data) {
    spend = data;
    $("spend-total").textContent = data ? usd(data.total) : "–";
    const empty = !data || data.series.length === 0;
    $("chart-empty").hidden = !empty;
    $("chart").hidden = empty;
    if (empty) {
      if (chart) chart.destroy();
      chart = null;
      chartShape = "";
      return;
    }
    const xs = data.days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
    const stacked = data.series.map((_, i) => xs.map((_, j) =>
      data.series.slice(i).reduce((sum, s) => sum + s.values[j], 0) || null)); // no bar, not a flat one
    const shape = [data.by, xs.length, ...data.series.map((s) => s.name)].join("\u0000");
    if (chart && shape === chartShape) {
      chart.setData([xs, ...stacked]);
      return;
    }
    if (chart) chart.destroy();
    chartShape = shape;
    const bars = uPlot.paths.bars({size: [0.7, 64]});
    chart = new uPlot({
      width: $("chart").clientWidth || 800,
      height: 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: {
        x: {time: true, range: (u, min, max) => [min - 43200, max + 43200]},
        y: {range: (u, min, max) => [0, (max || 0.01) * 1.1]},
      },
      axes: [{}, {values: (u, ticks) => ticks.map((v) => usd(v)), size: 80}],
      series: [{label: "day (UTC)", value: (u, ts) => (ts == null ? "–" : new Date(ts * 1000).toISOString().slice(0, 10))},
        ...data.series.map((s, i) => ({
          label: s.name,
          stroke: COLORS[i % COLORS.length],
          fill: COLORS[i % COLORS.length],
          paths: bars,
          points: {show: false},
          value: (u, v, si, idx) => usd(idx == null ? spend.series[i].total : spend.series[i].values[idx]),
        }))],
    }, [xs, ...stacked], $("chart"));
  }

  function render(state) {
    renderModels(state.models);
    renderBudgets(state.budgets);
    renderSpend(state.spend);
    renderRequests(state.requests);
    renderSync(state.sync);
    const note = $("ledger-note");
    note.hidden = !(state.ledger.error || !state.ledger.enabled);
    note.textContent = state.ledger.error ? "Spend database unavailable: " + state.ledger.error
      : "Spend logging is off (general_settings.disable_spend_logs).";
    $("live").textContent = "live · updated " + clock(state.generated_at);
    $("live").className = "live ok";
  }

  async function refresh() {
    clearTimeout(timer);
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      const state = await api(statePath());
      $("login").hidden = true;
      $("app").hidden = false; // before drawing: the chart takes its width from the page
      $("lock").hidden = !NEEDS_KEY;
      // a filter changed while this answer was on its way: it is stale, the next one follows at once
      if (!again) render(state);
    } catch (err) {
      if (err instanceof Locked) return;
      $("live").textContent = "offline — retrying (" + err.message + ")";
      $("live").className = "live error";
    } finally {
      inflight = false;
    }
    if (again) {
      again = false;
      refresh();
    } else {
      schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(refresh, POLL_MS);
  }

  function showLogin(message) {
    clearTimeout(timer);
    $("app").hidden = true;
    $("lock").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("live").textContent = "locked";
    $("live").className = "live";
    $("key").focus();
  }

  async function syncNow() {
    const button = $("sync-now");
    const message = $("sync-message");
    button.disabled = true;
    message.className = "";
    message.textContent = "Syncing…";
    try {
      const outcome = await api("/ui/api/sync", {method: "POST", headers: {"x-rin-dashboard": "1"}});
      message.textContent = "Synced" + (facts(outcome.summary) ? ": " + facts(outcome.summary) : ".");
      message.className = "ok";
    } catch (err) {
      if (!(err instanceof Locked)) {
        message.textContent = "Sync failed — " + err.message;
        message.className = "error";
      }
    } finally {
      button.disabled = false;
    }
    refresh();
  }

  function start() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key").value);
      $("key").value = "";
      refresh();
    });
    $("lock").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      showLogin("");
    });
    $("sync-now").addEventListener("click", syncNow);
    for (const id of ["spend-by", "spend-days", "filter-model", "filter-status"]) $(id).addEventListener("change", refresh);
    let typing = 0;
    $("filter-user").addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(refresh, 300);
    });
    document.addEventListener("visibilitychange", () => (document.hidden ? clearTimeout(timer) : refresh()));
    window.addEventListener("resize", () => chart && chart.setSize({width: $("chart").clientWidth, height: 260}));
    if (NEEDS_KEY && !sessionStorage.getItem(KEY)) showLogin("");
    else refresh();
  }

  start();
})();
