/// The status page, served from the binary: one HTML document with its style and script inline (no
/// CDN, no build step). The script is in StatusPage+Script.swift.
enum StatusPage {
    static let html = head + body + "<script>\n" + script + "\n</script>\n</body>\n</html>\n"

    static let head = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>gateway status</title>
        <style>
        :root { --bg: #f6f7f9; --card: #fff; --ink: #1d2430; --muted: #6b7480; --line: #e2e5ea;
          --ok: #1b873f; --warn: #b26b00; --bad: #c62828; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 13px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--ink); }
        header { display: flex; gap: 16px; align-items: baseline; padding: 10px 16px; background: #1d2430; color: #fff; }
        header h1 { font-size: 16px; margin: 0; }
        header .muted { color: #aab3bf; }
        main { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 12px; padding: 12px; }
        section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
        section.wide { grid-column: 1 / -1; }
        h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 4px 0 8px; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: right; padding: 3px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
        th:first-child, td:first-child { text-align: left; }
        td.text, th.text { text-align: left; white-space: normal; }
        th { color: var(--muted); font-weight: 600; }
        .ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
        .muted { color: var(--muted); }
        button { font: inherit; padding: 1px 8px; border: 1px solid var(--line); border-radius: 4px; background: #fff;
          cursor: pointer; }
        button:hover { background: #eef1f5; }
        .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
        .chart svg { width: 100%; height: 180px; background: #fbfcfd; border: 1px solid var(--line); }
        .legend span { margin-right: 12px; white-space: nowrap; }
        .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
        .log { font-family: ui-monospace, monospace; font-size: 12px; max-height: 220px; overflow: auto; }
        .log div { padding: 1px 0; border-bottom: 1px dotted var(--line); }
        .plugin { margin-bottom: 10px; }
        .plugin h3 { font-size: 13px; margin: 4px 0; }
        #note { min-height: 1.4em; }
        </style>
        </head>

        """#

    static let body = #"""
        <body>
        <header>
          <h1 id="name">gateway</h1>
          <span id="state" class="muted">connecting…</span>
          <span id="uptime" class="muted"></span>
          <span id="updated" class="muted"></span>
          <span id="note" class="muted"></span>
        </header>
        <main>
          <section class="wide">
            <h2>Points/s, last 5 minutes</h2>
            <div class="charts">
              <div class="chart"><div>received per listener</div><svg id="chart-received"
                viewBox="0 0 600 180" preserveAspectRatio="none"></svg><div class="legend" id="legend-received"></div></div>
              <div class="chart"><div>written per sink</div><svg id="chart-written"
                viewBox="0 0 600 180" preserveAspectRatio="none"></svg><div class="legend" id="legend-written"></div></div>
            </div>
          </section>
          <section>
            <h2>Listeners</h2>
            <table id="listeners"><thead><tr><th>listener</th><th>received/s</th><th>rejected/s</th>
              <th>received</th><th>rejected</th><th>kernel drops</th></tr></thead><tbody></tbody></table>
          </section>
          <section>
            <h2>Routes</h2>
            <table id="routes"><thead><tr><th>route</th><th>routed/s</th><th>routed</th></tr></thead>
              <tbody></tbody></table>
          </section>
          <section class="wide">
            <h2>Sinks</h2>
            <table id="sinks"><thead><tr><th>sink</th><th>written/s</th><th>written</th><th>queue</th>
              <th class="text">health</th><th>spool batches</th><th>spool points</th><th>spool bytes</th>
              <th>oldest</th><th>replayed</th><th>dead letters</th><th>dropped</th><th></th></tr></thead>
              <tbody></tbody></table>
          </section>
          <section>
            <h2>Plugins</h2>
            <div id="plugins"><span class="muted">none</span></div>
          </section>
          <section>
            <h2>Configuration <button id="reload" title="read gateway.yaml and plugins.d again and apply them">reload now</button></h2>
            <div id="reload-outcome"><span class="muted">not reloaded since start</span></div>
          </section>
          <section>
            <h2>Recent warnings and errors</h2>
            <div class="log" id="log"><span class="muted">none</span></div>
          </section>
        </main>

        """#
}
