extension StatusPage {
    /// The page's script: reads `/api/v1/events` (one status a second), derives rates from the counters'
    /// differences, keeps 5 minutes of them for the charts, and fetches the plugins' own answers every
    /// 5 seconds. Everything is written with textContent (names and log lines are never parsed as HTML).
    static let script = #"""
        "use strict";
        const HISTORY_SECONDS = 300;
        const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
        let previous = null;
        const history = { received: {}, written: {} };
        const pluginViews = {};

        function el(tag, attrs, ...children) {
          const node = document.createElement(tag);
          for (const [key, value] of Object.entries(attrs || {})) {
            if (key === "class") node.className = value; else node.setAttribute(key, value);
          }
          for (const child of children) {
            if (child === null || child === undefined) continue;
            node.append(child instanceof Node ? child : String(child));
          }
          return node;
        }
        function number(n) { return n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"); }
        function rate(n) { return n === null || n === undefined ? "–" : (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1)); }
        function bytes(n) {
          if (n === null || n === undefined) return "–";
          const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
          while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
          return (i ? n.toFixed(1) : n) + " " + units[i];
        }
        function age(seconds) {
          if (!seconds) return "–";
          if (seconds < 120) return Math.round(seconds) + " s";
          if (seconds < 7200) return Math.round(seconds / 60) + " min";
          return (seconds / 3600).toFixed(1) + " h";
        }
        function sum(values) { return Object.values(values || {}).reduce((a, b) => a + b, 0); }
        function healthClass(text) {
          if (!text) return "muted";
          if (text.startsWith("healthy")) return "ok";
          if (text.startsWith("retrying")) return "warn";
          return "bad";
        }
        function perSecond(now, before, seconds) {
          if (before === undefined || before === null || now === undefined || now === null || seconds <= 0) return null;
          return Math.max(0, (now - before) / seconds);
        }
        function fill(id, rows) { const body = document.querySelector("#" + id + " tbody"); body.replaceChildren(...rows); }

        function token() {
          let value = sessionStorage.getItem("gateway-token");
          if (value === null) {
            value = window.prompt("The listener's token (actions need it; leave empty if it has none):") || "";
            sessionStorage.setItem("gateway-token", value);
          }
          return value;
        }
        document.addEventListener("DOMContentLoaded", () => {
          const button = document.getElementById("reload");
          if (button) button.onclick = () => action("/api/v1/reload", "reload");
        });

        async function action(path, what) {
          const headers = {};
          const value = token();
          if (value) headers["Authorization"] = "Token " + value;
          const note = document.getElementById("note");
          try {
            const answer = await fetch(path, { method: "POST", headers });
            if (answer.status === 401) sessionStorage.removeItem("gateway-token");
            note.textContent = what + ": HTTP " + answer.status + (answer.ok ? "" : " " + (await answer.text()).slice(0, 200));
          } catch (error) { note.textContent = what + ": " + error; }
        }

        function record(series, name, time, value) {
          if (value === null) return;
          const points = series[name] || (series[name] = []);
          points.push([time, value]);
          while (points.length && points[0][0] < time - HISTORY_SECONDS) points.shift();
        }
        function drawChart(id, series) {
          const svg = document.getElementById("chart-" + id);
          const legend = document.getElementById("legend-" + id);
          const names = Object.keys(series).sort();
          const now = Date.now() / 1000;
          let top = 1;
          for (const name of names) for (const [, v] of series[name]) top = Math.max(top, v);
          const ns = "http://www.w3.org/2000/svg";
          const parts = [];
          for (let i = 1; i < 4; i++) {
            const line = document.createElementNS(ns, "line");
            const y = 10 + (160 * i) / 4;
            line.setAttribute("x1", 0); line.setAttribute("x2", 600); line.setAttribute("y1", y); line.setAttribute("y2", y);
            line.setAttribute("stroke", "#e2e5ea");
            parts.push(line);
          }
          const label = document.createElementNS(ns, "text");
          label.setAttribute("x", 4); label.setAttribute("y", 12); label.setAttribute("font-size", 11);
          label.setAttribute("fill", "#6b7480");
          label.textContent = rate(top) + "/s";
          parts.push(label);
          legend.replaceChildren();
          names.forEach((name, index) => {
            const color = COLORS[index % COLORS.length];
            const path = document.createElementNS(ns, "polyline");
            const coordinates = series[name].map(([t, v]) =>
              ((600 * (t - (now - HISTORY_SECONDS))) / HISTORY_SECONDS).toFixed(1) + "," + (170 - (160 * v) / top).toFixed(1));
            path.setAttribute("points", coordinates.join(" "));
            path.setAttribute("fill", "none"); path.setAttribute("stroke", color); path.setAttribute("stroke-width", 1.5);
            path.setAttribute("data-series", name);
            parts.push(path);
            const last = series[name].length ? series[name][series[name].length - 1][1] : null;
            legend.append(el("span", {}, el("i", { style: "background:" + color }), name + " " + rate(last) + "/s"));
          });
          svg.replaceChildren(...parts);
        }

        function render(status) {
          const time = Date.now() / 1000;
          const seconds = previous ? time - previous.time : 0;
          const before = previous ? previous.status : null;
          document.getElementById("name").textContent = status.name;
          const state = document.getElementById("state");
          state.textContent = status.status === "pass" ? "running" : status.status;
          state.className = status.status === "pass" ? "ok" : "warn";
          document.getElementById("uptime").textContent = "up " + age(status.uptime_seconds);
          document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();

          const listenerRows = Object.keys(status.listeners).sort().map((name) => {
            const now = status.listeners[name];
            const old = before && before.listeners[name] ? before.listeners[name] : null;
            const received = old ? perSecond(now.points_received || 0, old.points_received || 0, seconds) : null;
            const rejected = old ? perSecond(sum(now.points_rejected), sum(old.points_rejected), seconds) : null;
            if (previous) record(history.received, name, time, received);
            return el("tr", { "data-listener": name }, el("td", {}, name),
              el("td", { class: "received-rate" }, rate(received)), el("td", { class: "rejected-rate" }, rate(rejected)),
              el("td", { class: "received" }, number(now.points_received || 0)),
              el("td", {}, number(sum(now.points_rejected))),
              el("td", { class: now.udp_kernel_drops ? "bad" : "" }, now.udp_kernel_drops === undefined ? "–" : number(now.udp_kernel_drops)));
          });
          fill("listeners", listenerRows);

          const routeRows = Object.keys(status.routes).sort().map((name) => {
            const old = before ? before.routes[name] : undefined;
            return el("tr", { "data-route": name }, el("td", {}, name),
              el("td", {}, rate(perSecond(status.routes[name], old, seconds))), el("td", {}, number(status.routes[name])));
          });
          routeRows.push(el("tr", { "data-route": "" }, el("td", { class: "muted" }, "unrouted"),
            el("td", { class: status.points_unrouted ? "warn" : "" },
              rate(before ? perSecond(status.points_unrouted, before.points_unrouted, seconds) : null)),
            el("td", {}, number(status.points_unrouted))));
          fill("routes", routeRows);

          const sinkRows = Object.keys(status.sinks).sort().map((name) => {
            const now = status.sinks[name];
            const old = before && before.sinks[name] ? before.sinks[name] : null;
            const written = old ? perSecond(now.points_written || 0, old.points_written || 0, seconds) : null;
            if (previous) record(history.written, name, time, written);
            const spool = now.spool || {};
            const queue = number(now.sink_queue_points || 0) + (now.sink_queue_capacity ? " / " + number(now.sink_queue_capacity) : "")
              + (now.sink_queue_max_bytes ? " (" + bytes(now.sink_queue_bytes || 0) + " of " + bytes(now.sink_queue_max_bytes) + ")" : "");
            const replay = spool.type === "influx2" || (now.health !== undefined && spool.points !== undefined && spool.type !== "spool")
              ? el("button", { title: "replay this sink's spool now" }, "replay now") : null;
            if (replay) replay.onclick = () => action("/api/v1/spool/" + encodeURIComponent(name) + "/replay", "replay " + name);
            return el("tr", { "data-sink": name }, el("td", {}, name),
              el("td", { class: "written-rate" }, rate(written)), el("td", { class: "written" }, number(now.points_written || 0)),
              el("td", { class: "queue" }, queue),
              el("td", { class: "text health " + healthClass(now.health) }, now.health || "–"),
              el("td", { class: "spool-batches" }, number(spool.batches)), el("td", { class: "spool-points" }, number(spool.points)),
              el("td", { class: "spool-bytes" }, bytes(spool.bytes)), el("td", {}, age(spool.oldest_age_seconds)),
              el("td", { class: "replayed" }, number(now.points_replayed || 0)),
              el("td", { class: (now.points_dead_lettered || spool.dead_letters) ? "bad" : "" },
                number((now.points_dead_lettered || 0)) + (spool.dead_letters ? " (" + number(spool.dead_letters) + " kept)" : "")),
              el("td", { class: sum(now.points_dropped) ? "bad" : "" }, number(sum(now.points_dropped))),
              el("td", {}, replay));
          });
          fill("sinks", sinkRows);

          drawChart("received", history.received);
          drawChart("written", history.written);
          renderPlugins(status.plugins || {});
          renderLog(status.recent_log || []);
          renderReload(status.reload);
          previous = { time, status };
        }

        function renderReload(outcome) {
          const box = document.getElementById("reload-outcome");
          if (!outcome) return;
          const lines = [el("div", { class: outcome.result === "refused" ? "bad" : "ok", "data-reload": outcome.result },
            outcome.result + " (" + outcome.origin + ", " + outcome.at + ")")];
          (outcome.errors || []).forEach((error) => lines.push(el("div", { class: "bad" }, error)));
          ["sinks", "listeners", "plugins"].forEach((kind) => {
            const changes = outcome[kind];
            if (!changes) return;
            const parts = ["added", "removed", "changed"].filter((key) => changes[key].length)
              .map((key) => key + " " + changes[key].join(", "));
            if (parts.length) lines.push(el("div", {}, kind + ": " + parts.join("; ")));
          });
          (outcome.needs_restart || []).forEach((key) => lines.push(el("div", { class: "warn" }, key + ": needs a restart")));
          (outcome.failures || []).forEach((failure) => lines.push(el("div", { class: "bad" }, failure)));
          box.replaceChildren(...lines);
        }

        function renderLog(entries) {
          const box = document.getElementById("log");
          if (!entries.length) { box.replaceChildren(el("span", { class: "muted" }, "none")); return; }
          box.replaceChildren(...entries.slice().reverse().map((entry) =>
            el("div", { class: entry.level === "warning" ? "warn" : "bad" },
              entry.time + " " + entry.level + " " + entry.message + (entry.metadata ? " " + entry.metadata : ""))));
        }

        async function fetchJSON(path) {
          try { const answer = await fetch(path); return answer.ok ? await answer.json() : null; } catch (error) { return null; }
        }
        async function refreshPluginViews(plugins) {
          for (const [name, plugin] of Object.entries(plugins)) {
            if (!plugin.enabled) continue;
            const base = "/api/v1/" + encodeURIComponent(name);
            if (plugin.type === "proc") {
              pluginViews[name] = { usage: await fetchJSON(base + "/usage"), alarms: await fetchJSON(base + "/alarms") };
            } else if (plugin.type === "dwmon") {
              pluginViews[name] = { checks: await fetchJSON(base + "/checks") };
            } else if (plugin.type === "jobdir") {
              pluginViews[name] = { processors: await fetchJSON(base + "/processors") };
            }
          }
        }
        function renderPlugins(plugins) {
          const box = document.getElementById("plugins");
          const names = Object.keys(plugins).sort();
          if (!names.length) { box.replaceChildren(el("span", { class: "muted" }, "none")); return; }
          box.replaceChildren(...names.map((name) => {
            const plugin = plugins[name];
            const view = pluginViews[name] || {};
            const part = el("div", { class: "plugin", "data-plugin": name }, el("h3", {}, name + " ",
              el("span", { class: "muted" }, plugin.type + (plugin.enabled ? "" : " (disabled)"))));
            if (plugin.type === "proc") {
              const counts = plugin.alarms || {};
              part.append(el("div", {}, "alarms: ", el("span", { class: "bad" }, "RED " + (counts.RED || 0)), " ",
                el("span", { class: "warn" }, "AMBER " + (counts.AMBER || 0)), " · passes " + number(plugin.passes)));
              for (const alarm of ((view.alarms || {}).alarms || []).filter((a) => a.level !== "GREEN").slice(0, 8)) {
                part.append(el("div", { class: alarm.level === "RED" ? "bad" : "warn" }, alarm.level + " " + alarm.host + " " + alarm.process));
              }
              const processes = Object.entries((view.usage || {}).processes || {})
                .sort((a, b) => Number(b[1].cpu_percent || 0) - Number(a[1].cpu_percent || 0)).slice(0, 5);
              if (processes.length) {
                part.append(el("table", {}, el("tr", {}, el("th", {}, "top process"), el("th", {}, "cpu %"), el("th", {}, "mem %")),
                  ...processes.map(([process, usage]) => el("tr", {}, el("td", {}, process),
                    el("td", {}, Number(usage.cpu_percent || 0).toFixed(1)), el("td", {}, Number(usage.mem_percent || 0).toFixed(1))))));
              }
            } else if (plugin.type === "dwmon") {
              const latest = {};
              for (const check of ((view.checks || {}).checks || [])) {
                const key = check.checker;
                if (!latest[key] || latest[key].minute_epoch < check.minute_epoch) latest[key] = check;
              }
              const rows = (plugin.checkers || []).map((checker) => {
                const check = latest[checker];
                const run = el("button", {}, "run now");
                run.onclick = () => action("/api/v1/" + encodeURIComponent(name) + "/checkers/" + encodeURIComponent(checker) + "/run", "run " + checker);
                const lastRun = (plugin.last_runs || {})[checker];
                return el("tr", { "data-checker": checker }, el("td", {}, checker),
                  el("td", { class: check ? (check.status === "GOOD" ? "ok" : "bad") : "muted" }, check ? check.status : "–"),
                  el("td", {}, check ? number(check.event_count) + " in [" + check.min_required + ", " + check.max_allowed + "]" : "–"),
                  el("td", {}, check ? check.lookback_seconds + " s window" : ""),
                  el("td", { class: lastRun && lastRun.error ? "bad" : "" }, lastRun && lastRun.error ? lastRun.error : ""), el("td", {}, run));
              });
              part.append(el("table", {}, el("tr", {}, el("th", {}, "checker"), el("th", {}, "latest"), el("th", {}, "count"),
                el("th", {}, "window"), el("th", {}, ""), el("th", {}, "")), ...rows));
            } else if (plugin.type === "jobdir") {
              const jobs = plugin.jobs || {};
              part.append(el("div", {}, "jobs: " + Object.keys(jobs).sort().map((k) => k + " " + jobs[k]).join(", ") +
                " · waiting for a processor " + number(plugin.waiting_for_processor || 0) +
                " · oldest waiting " + (plugin.oldest_waiting_seconds === undefined ? "none" : age(plugin.oldest_waiting_seconds))));
              const dead = plugin.processors_dead || [];
              part.append(el("div", { class: dead.length ? "bad" : "muted" }, "dead processors: " + (dead.length ? dead.join(", ") : "none")));
              const processors = ((view.processors || {}).processors || []);
              if (processors.length) {
                part.append(el("table", {}, el("tr", {}, el("th", {}, "processor"), el("th", {}, "queued"), el("th", {}, "running"), el("th", {}, "")),
                  ...processors.map((p) => el("tr", {}, el("td", {}, p.name), el("td", {}, number(p.queued)), el("td", {}, number(p.running)),
                    el("td", { class: p.alive ? "ok" : "bad" }, p.alive ? "alive" : "dead")))));
              }
            }
            return part;
          }));
        }

        let lastStatus = null;
        function connect() {
          const source = new EventSource("/api/v1/events");
          source.addEventListener("status", (event) => { lastStatus = JSON.parse(event.data); render(lastStatus); });
          source.onerror = () => {
            const state = document.getElementById("state");
            state.textContent = "disconnected, retrying…"; state.className = "bad";
          };
        }
        connect();
        setInterval(async () => { if (lastStatus) await refreshPluginViews(lastStatus.plugins || {}); }, 5000);
        setTimeout(async () => { if (lastStatus) await refreshPluginViews(lastStatus.plugins || {}); }, 1200);
        """#
}
