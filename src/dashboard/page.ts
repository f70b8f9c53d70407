/**
 * The dashboard's HTML shell, style sheet and icon, served as they are. The shell has no data in it: the
 * script (client.ts) fetches JSON and inserts every value as text. No inline script or style: the
 * Content-Security-Policy forbids both.
 */

export function pageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>delayed dashboard</title>
<link rel="stylesheet" href="app.css">
<link rel="icon" href="favicon.svg" type="image/svg+xml">
<script src="app.js" defer></script>
</head>
<body>
<header>
  <strong class="brand">delayed</strong>
  <nav id="nav"></nav>
  <span id="live" class="muted"></span>
  <form id="token-form" hidden>
    <label>Token <input id="token" type="password" autocomplete="off" size="18"></label>
    <button type="submit">Use</button>
    <button type="button" id="token-forget">Forget</button>
  </form>
</header>
<main id="main"><p class="muted">Loading…</p></main>
<footer id="footer" class="muted"></footer>
</body>
</html>
`;
}

export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2d6cdf"/><path d="M4 4h4a4 4 0 0 1 0 8H4z" fill="#fff"/></svg>';

export const PAGE_CSS = `
:root { --fg: #1d2330; --muted: #6b7385; --line: #dde1e8; --bg: #f6f7f9; --card: #fff; --accent: #2d6cdf; --bad: #c62f2f; --ok: #1d8a4c; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4e7ee; --muted: #9aa3b5; --line: #323846; --bg: #161a22; --card: #1e232d; --accent: #6d9bf0; --bad: #f07070; --ok: #5cc98a; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.2em; align-items: center; padding: .6em 1.2em; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.brand { color: var(--accent); font-size: 1.1em; }
nav a { margin-right: 1em; color: var(--fg); text-decoration: none; padding: .2em 0; }
nav a.current { border-bottom: 2px solid var(--accent); font-weight: 600; }
#token-form { margin-left: auto; display: flex; gap: .4em; align-items: center; }
main { padding: 1.2em; max-width: 1400px; }
footer { padding: 1em 1.2em 2em; font-size: .9em; }
h2 { font-size: 1.15em; margin: 1.2em 0 .5em; }
.muted { color: var(--muted); }
.bad { color: var(--bad); }
.ok { color: var(--ok); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: .8em; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .7em .9em; }
.card .label { color: var(--muted); font-size: .85em; }
.card .value { font-size: 1.5em; font-variant-numeric: tabular-nums; }
.queue { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1em; margin-bottom: 1.2em; }
.queue h2 { margin-top: 0; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .85em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.actions { white-space: nowrap; }
td pre, .pre { margin: 0; white-space: pre-wrap; word-break: break-all; font: 12px/1.35 ui-monospace, monospace; max-height: 8em; overflow: auto; }
.chart { width: 100%; height: 130px; display: block; margin-top: .8em; }
.chart rect.ok { fill: var(--accent); }
.chart rect.failed { fill: var(--bad); }
.chart line { stroke: var(--line); }
.chart-caption { display: flex; justify-content: space-between; color: var(--muted); font-size: .85em; }
button { font: inherit; padding: .15em .6em; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); cursor: pointer; }
button.danger { color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
input { font: inherit; padding: .15em .4em; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
.pager { display: flex; gap: .8em; align-items: center; margin: .6em 0; }
#notice { margin: 0 0 1em; padding: .5em .8em; border-radius: 4px; background: var(--card); border: 1px solid var(--line); }
.later { list-style: none; padding: 0; margin: .3em 0 0; }
.later li { display: inline; margin-right: 1.2em; }
`;
