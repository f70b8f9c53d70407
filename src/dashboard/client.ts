/**
 * The dashboard's script, served as `app.js`: plain browser JavaScript, no framework, no build step. It polls
 * the handler's JSON API (at most once per `refreshMs`, only while the tab is visible) and builds the page
 * with DOM calls: every value goes in through text nodes (`el` turns strings into text nodes, never HTML), so
 * a payload holding `<script>` shows as those characters. Routes live in the URL hash: #/queues,
 * #/workers/<queue>, #/dead/<queue>, #/scheduled/<queue>, #/task/<queue>/<id>.
 */
export const CLIENT_JS = String.raw`'use strict';
(function () {
  var TOKEN_KEY = 'delayed-dashboard-token';
  var PAGE = 50;
  var config = null;
  var timer = null;
  var mounted = null;
  var notice = '';
  var deadOffset = 0;
  // The Scheduled page: the cursors of the pages before this one (Earlier pops), this page's, the schedules' offset.
  var laterBack = [];
  var laterCursor = '';
  var schedulesOffset = 0;
  // Find a task: where the last search stopped (its answer's more.cursor) and how many requests it made.
  var findCursor = '';
  var findRounds = 1;
  var main = document.getElementById('main');
  var live = document.getElementById('live');

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (attrs[k] === null || attrs[k] === undefined || attrs[k] === false) continue;
      if (k === 'onclick') node.addEventListener('click', attrs[k]);
      else if (k === 'text') node.textContent = String(attrs[k]);
      else node.setAttribute(k, String(attrs[k]));
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) node.setAttribute(k, String(attrs[k]));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function fmt(n) { return n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US'); }
  function rate(n) { return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2); }
  function dur(ms) {
    if (ms === null || ms === undefined) return '-';
    var a = Math.abs(ms), s = ms < 0 ? '-' : '';
    if (a < 1000) return s + Math.round(a) + 'ms';
    if (a < 60000) return s + (a / 1000).toFixed(1) + 's';
    if (a < 3600000) return s + Math.floor(a / 60000) + 'm' + String(Math.floor((a % 60000) / 1000)).padStart(2, '0') + 's';
    return s + Math.floor(a / 3600000) + 'h' + String(Math.floor((a % 3600000) / 60000)).padStart(2, '0') + 'm';
  }
  // A due time on Redis' clock, shown in local time with how far it is from the read ('now' is Redis' too).
  function when(at, now) {
    return new Date(at).toLocaleString() + (at >= now ? ' (in ' + dur(at - now) + ')' : ' (' + dur(now - at) + ' overdue)');
  }
  function api(path, init) {
    return fetch('api/' + path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) { var e = new Error(body.error || ('HTTP ' + r.status)); e.status = r.status; throw e; }
        return body;
      });
    });
  }
  function q(name) { return encodeURIComponent(name); }
  function route() {
    var h = location.hash.replace(/^#\/?/, '').split('/').map(function (p) { try { return decodeURIComponent(p); } catch (e) { return ''; } });
    var names = config.queues.map(function (x) { return x.name; });
    var page = ['queues', 'workers', 'dead', 'scheduled', 'task'].indexOf(h[0]) >= 0 ? h[0] : 'queues';
    return { page: page, queue: names.indexOf(h[1]) >= 0 ? h[1] : names[0], arg: h.slice(2).join('/') };
  }

  function drawNav(r) {
    var nav = clear(document.getElementById('nav'));
    [['queues', 'Queues'], ['workers', 'Workers'], ['dead', 'Dead letters'], ['scheduled', 'Scheduled'], ['task', 'Find a task']].forEach(function (p) {
      var href = p[0] === 'queues' ? '#/queues' : '#/' + p[0] + '/' + q(r.queue);
      nav.appendChild(el('a', { href: href, class: r.page === p[0] ? 'current' : null, 'data-page': p[0] }, [p[1]]));
    });
    if (config.queues.length > 1 && r.page !== 'queues') {
      var select = el('select', { 'aria-label': 'queue' }, config.queues.map(function (x) { return el('option', { value: x.name, selected: x.name === r.queue ? 'selected' : null }, [x.name]); }));
      select.addEventListener('change', function () { location.hash = '#/' + r.page + '/' + q(select.value); });
      nav.appendChild(select);
    }
  }
  function card(label, value, field, raw) {
    return el('div', { class: 'card' }, [el('div', { class: 'label' }, [label]), el('div', { class: 'value', 'data-field': field, 'data-value': raw }, [value])]);
  }

  // ---- Queues: the figures and the throughput chart ----
  function chart(history) {
    var BUCKET = 5000, BARS = 60, W = 600, H = 110;
    var last = history.length ? history[history.length - 1].at : 0;
    var bars = [];
    for (var i = 0; i < BARS; i++) bars.push({ ok: 0, failed: 0 });
    var total = 0;
    history.forEach(function (s) {
      var b = BARS - 1 - Math.floor((last - s.at) / BUCKET);
      if (b < 0) return;
      bars[b].ok += s.succeeded; bars[b].failed += s.failed; total += s.succeeded + s.failed;
    });
    var max = Math.max(1, Math.max.apply(null, bars.map(function (b) { return b.ok + b.failed; })));
    var root = svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'none', role: 'img', 'data-total': total });
    root.appendChild(svg('title', {}, 'Tasks finished per 5 s over the last 5 minutes (' + total + ' in all)'));
    root.appendChild(svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
    bars.forEach(function (b, i) {
      var x = i * (W / BARS) + 1, w = W / BARS - 2;
      var hOk = (b.ok / max) * (H - 4), hBad = (b.failed / max) * (H - 4);
      if (hOk > 0) root.appendChild(svg('rect', { class: 'ok', x: x, y: H - hOk - hBad, width: w, height: hOk }));
      if (hBad > 0) root.appendChild(svg('rect', { class: 'failed', x: x, y: H - hBad, width: w, height: hBad }));
    });
    return el('div', {}, [
      el('div', { class: 'chart-caption' }, [el('span', {}, ['Finished per 5 s (failed in red), highest ' + (total ? max : 0)]), el('span', {}, [fmt(total) + ' in the last 5 min'])]),
      root,
      el('div', { class: 'chart-caption' }, [el('span', {}, ['5 min ago']), el('span', {}, ['now'])]),
    ]);
  }
  function renderQueues(box, body) {
    clear(box);
    body.queues.forEach(function (s) {
      var t = s.throughput;
      var next = s.next ? s.next.name + ' ' + s.next.id : 'none';
      box.appendChild(el('section', { class: 'queue', 'data-queue': s.name }, [
        el('h2', {}, [el('a', { href: '#/workers/' + q(s.name) }, [s.name]), el('span', { class: 'muted' }, ['  prefix ' + s.prefix])]),
        el('div', { class: 'cards' }, [
          card('Waiting', fmt(s.waiting), 'waiting', s.waiting),
          card('In flight', fmt(s.inFlight), 'inFlight', s.inFlight),
          card('Dead letters', fmt(s.deadLetters), 'deadLetters', s.deadLetters),
          card('Scheduled', fmt(s.scheduled), 'scheduled', s.scheduled),
          card('Next due', s.nextDueAt === null ? '-' : when(s.nextDueAt, s.at), 'nextDueAt', s.nextDueAt),
          card('Schedules', fmt(s.schedules), 'schedules', s.schedules),
          card('Workers', fmt(s.workersAlive) + (s.workersExpired ? ' (+' + s.workersExpired + ' expired)' : ''), 'workersAlive', s.workersAlive),
          card('Oldest lease renewal', s.oldestLeaseAgeMs === null ? '-' : dur(s.oldestLeaseAgeMs) + ' ago', 'oldestLeaseAgeMs', s.oldestLeaseAgeMs),
          card('Partitions', fmt(s.partitions), 'partitions', s.partitions),
          card('Throughput', t ? rate(t.perSecond) + '/s' : 'measuring…', 'throughput', t ? t.perSecond : null),
          card('Done (live workers)', fmt(s.totals.succeeded) + ' ok, ' + fmt(s.totals.failed) + ' failed', 'totals', s.totals.succeeded + s.totals.failed),
          card('State', s.paused ? 'paused' : 'running', 'paused', s.paused),
        ]),
        config.allowActions ? el('p', {}, [el('button', { type: 'button', 'data-action': s.paused ? 'resume' : 'pause', onclick: function () { pauseQueue(s.name, !s.paused); } }, [s.paused ? 'Resume' : 'Pause'])]) : null,
        el('p', { class: 'muted' }, ['Next: ', el('span', { 'data-field': 'next' }, [next])]),
        chart(s.history),
      ]));
    });
  }

  // ---- Workers ----
  function renderWorkers(box, body) {
    clear(box);
    box.appendChild(el('h2', {}, ['Workers of ' + body.name + ' (' + body.workers.length + ', ' + fmt(body.inFlight) + ' tasks in flight)']));
    if (!body.workers.length) { box.appendChild(el('p', { class: 'muted' }, ['No worker is registered.'])); return; }
    var rows = body.workers.map(function (w) {
      var tasks = w.tasks.map(function (t) { return el('div', { 'data-task': t.id }, [t.name + ' ' + t.id + (t.attempt ? ' (attempt ' + t.attempt + ')' : '') + ' · ' + (t.orphaned ? 'its worker died' : 'running for ' + dur(t.forMs)) + (t.progress === undefined ? '' : ' · progress ' + JSON.stringify(t.progress))]); });
      if (w.inFlight > w.tasks.length) tasks.push(el('div', { class: 'muted' }, ['… ' + (w.inFlight - w.tasks.length) + ' more']));
      return el('tr', { 'data-worker': w.id }, [
        el('td', {}, [w.id]),
        el('td', { class: w.alive ? 'ok' : 'bad' }, [w.alive ? 'alive' : 'lease expired']),
        el('td', {}, [w.host || '?']), el('td', { class: 'num' }, [w.pid === null ? '?' : String(w.pid)]), el('td', {}, [w.kind || '?']),
        el('td', { class: 'num', 'data-field': 'busy' }, [w.inFlight + '/' + (w.concurrency === null ? '?' : w.concurrency)]),
        el('td', { class: 'num' }, [w.leaseAgeMs === null ? '-' : dur(w.leaseAgeMs) + ' ago']),
        el('td', { class: 'num' }, [w.alive ? dur(w.leaseLeftMs) : 'ended ' + dur(-w.leaseLeftMs) + ' ago']),
        el('td', { class: 'num' }, [w.counts ? fmt(w.counts.succeeded) + ' / ' + fmt(w.counts.failed) : '-']),
        el('td', {}, tasks.length ? tasks : [el('span', { class: 'muted' }, ['idle'])]),
      ]);
    });
    var head = ['Worker', 'State', 'Host', 'PID', 'Kind', 'Busy', 'Lease renewed', 'Lease left', 'OK / failed', 'Tasks (elapsed)'];
    box.appendChild(el('table', {}, [el('thead', {}, [el('tr', {}, head.map(function (h) { return el('th', {}, [h]); }))]), el('tbody', {}, rows)]));
  }

  // ---- Dead letters, with the actions ----
  function failure(l) {
    var how = l.signal ? 'signal ' + l.signal : l.exitCode !== null ? 'exit code ' + l.exitCode : '';
    return how;
  }
  // True (and asks for it) when no token is stored: an action without one would only be refused.
  function needToken() {
    return !sessionStorage.getItem(TOKEN_KEY) && (setNotice('Enter the dashboard token (top right) to act.'), document.getElementById('token').focus(), true);
  }
  function action(queue, what, letter) {
    if (needToken()) return;
    if ((what === 'delete' || what === 'requeue-all') && !window.confirm(what === 'delete' ? 'Delete this dead letter?' : 'Requeue every dead letter of ' + queue + '?')) return;
    var body = letter ? { partition: letter.partition, index: letter.index, digest: letter.digest } : {};
    post(queue, 'dead/' + what, body, function (r) {
      setNotice(what === 'requeue-all' ? 'Requeued ' + r.requeued + ' task(s)' + (r.skipped ? ', ' + r.skipped + ' unreadable left' : '') + '.' : (what === 'requeue' ? 'Requeued ' : 'Deleted ') + letter.name + ' ' + letter.id + '.');
    });
  }
  // A scheduled task, now: to the back of the waiting line (lua/run-now.lua).
  function runNow(queue, task) {
    if (needToken()) return;
    post(queue, 'scheduled/run-now', { partition: task.partition, dueAt: task.dueAt, digest: task.digest }, function () {
      setNotice('Enqueued ' + task.name + ' ' + task.id + ' to run now.');
    });
  }
  function post(queue, path, body, done, reload) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    api('queues/' + q(queue) + '/' + path, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token }, body: JSON.stringify(body) })
      .then(function (r) {
        done(r);
        if (reload) mounted = null;
        refresh();
      }, function (e) {
        if (e.status === 401) sessionStorage.removeItem(TOKEN_KEY);
        setNotice((e.status === 401 ? 'The token was refused: ' : 'Failed: ') + e.message);
      });
  }
  function renderDead(box, body, r) {
    clear(box);
    var canAct = config.allowActions;
    var from = body.total === 0 ? 0 : body.offset + 1, to = body.offset + body.letters.length;
    box.appendChild(el('h2', {}, ['Dead letters of ' + r.queue + ': ', el('span', { 'data-field': 'deadTotal', 'data-value': body.total }, [fmt(body.total)])]));
    box.appendChild(el('div', { class: 'pager' }, [
      el('button', { type: 'button', disabled: body.offset === 0 ? 'disabled' : null, onclick: function () { deadOffset = Math.max(0, deadOffset - PAGE); refresh(); } }, ['Newer']),
      el('span', {}, [fmt(from) + '–' + fmt(to) + ' of ' + fmt(body.total)]),
      el('button', { type: 'button', disabled: to >= body.total ? 'disabled' : null, onclick: function () { deadOffset += PAGE; refresh(); } }, ['Older']),
      canAct && body.total > 0 ? el('button', { type: 'button', 'data-action': 'requeue-all', onclick: function () { action(r.queue, 'requeue-all'); } }, ['Requeue all']) : null,
    ]));
    if (!body.letters.length) { box.appendChild(el('p', { class: 'muted' }, ['No dead letters here. (A queue keeps them only with the deadLetters option.)'])); return; }
    var head = ['Failed at', 'Task', 'Id', 'Reason', 'Message', 'Signal / exit', 'Attempts', 'Arguments'].concat(canAct ? ['Actions'] : []);
    var rows = body.letters.map(function (l) {
      return el('tr', { 'data-id': l.id }, [
        el('td', {}, [new Date(l.at).toLocaleString()]), el('td', {}, [l.name]), el('td', {}, [l.id]), el('td', {}, [l.reason]),
        el('td', { 'data-field': 'message' }, [el('div', { class: 'pre' }, [l.message])]),
        el('td', {}, [failure(l)]), el('td', { class: 'num' }, [l.attempts === null ? '?' : String(l.attempts)]),
        el('td', { 'data-field': 'args' }, [el('pre', {}, [l.args + (l.argsTruncated ? ' …' : '')])]),
        canAct ? el('td', { class: 'actions' }, [
          el('button', { type: 'button', 'data-action': 'requeue', onclick: function () { action(r.queue, 'requeue', l); } }, ['Requeue']), ' ',
          el('button', { type: 'button', class: 'danger', 'data-action': 'delete', onclick: function () { action(r.queue, 'delete', l); } }, ['Delete']),
        ]) : null,
      ]);
    });
    box.appendChild(el('table', {}, [el('thead', {}, [el('tr', {}, head.map(function (h) { return el('th', {}, [h]); }))]), el('tbody', {}, rows)]));
  }

  // ---- Scheduled and retrying tasks, repeating schedules ----
  function renderScheduled(box, body, r) {
    clear(box);
    var t = body.tasks, s = body.schedules;
    box.appendChild(el('h2', {}, ['Scheduled and retrying tasks of ' + r.queue + ': ', el('span', { 'data-field': 'scheduledTotal', 'data-value': t.total }, [fmt(t.total)])]));
    box.appendChild(el('div', { class: 'pager' }, [
      el('button', { type: 'button', disabled: laterBack.length ? null : 'disabled', onclick: function () { laterCursor = laterBack.pop() || ''; refresh(); } }, ['Earlier']),
      el('span', {}, [fmt(t.tasks.length) + ' shown of ' + fmt(t.total)]),
      el('button', { type: 'button', disabled: t.next ? null : 'disabled', onclick: function () { laterBack.push(laterCursor); laterCursor = t.next.join(','); refresh(); } }, ['Later']),
    ]));
    if (!t.tasks.length) box.appendChild(el('p', { class: 'muted' }, ['No task waits for its due time.']));
    else box.appendChild(el('table', {}, [
      el('thead', {}, [el('tr', {}, ['Due', 'Task', 'Id', 'Attempt', 'Failures', 'Arguments'].concat(config.allowActions ? [''] : []).map(function (h) { return el('th', {}, [h]); }))]),
      el('tbody', {}, t.tasks.map(function (x) {
        return el('tr', { 'data-id': x.id }, [
          el('td', { 'data-field': 'due' }, [when(x.dueAt, t.at)]), el('td', {}, [x.name]), el('td', {}, [x.id]),
          el('td', { class: 'num' }, [String(x.attempt)]), el('td', { class: 'num' }, [String(x.failures) + (x.failures ? ' (retry)' : '')]),
          el('td', { 'data-field': 'args' }, [el('pre', {}, [x.args + (x.argsTruncated ? ' …' : '')])]),
          config.allowActions ? el('td', {}, [el('button', { type: 'button', 'data-action': 'run-now', onclick: function () { runNow(r.queue, x); } }, ['Run now'])]) : null,
        ]);
      })),
    ]));
    box.appendChild(el('h2', {}, ['Repeating schedules: ', el('span', { 'data-field': 'schedulesTotal', 'data-value': s.total }, [fmt(s.total)])]));
    if (s.total > s.schedules.length || s.offset > 0) box.appendChild(el('div', { class: 'pager' }, [
      el('button', { type: 'button', disabled: s.offset === 0 ? 'disabled' : null, onclick: function () { schedulesOffset = Math.max(0, schedulesOffset - PAGE); refresh(); } }, ['Earlier']),
      el('span', {}, [fmt(s.offset + 1) + '–' + fmt(s.offset + s.schedules.length) + ' of ' + fmt(s.total)]),
      el('button', { type: 'button', disabled: s.offset + s.schedules.length >= s.total ? 'disabled' : null, onclick: function () { schedulesOffset += PAGE; refresh(); } }, ['Later']),
    ]));
    if (!s.schedules.length) { box.appendChild(el('p', { class: 'muted' }, ['No repeating schedule is registered.'])); return; }
    box.appendChild(el('table', {}, [
      el('thead', {}, [el('tr', {}, ['Id', 'Every', 'Time zone', 'Task', 'Next due', 'Running tick (overlap skip)'].map(function (h) { return el('th', {}, [h]); }))]),
      el('tbody', {}, s.schedules.map(function (x) {
        var run = x.running ? (x.running.tick === null ? x.running.occurrence : new Date(x.running.tick).toLocaleString()) + (x.running.holdUntil === null ? '' : ', holds until ' + new Date(x.running.holdUntil).toLocaleString()) : '-';
        return el('tr', { 'data-schedule': x.id }, [
          el('td', {}, [x.id]), el('td', {}, [x.cron !== null ? x.cron : x.everyMs !== null ? dur(x.everyMs) : '?']), el('td', {}, [x.cron !== null ? x.tz || 'UTC' : '-']),
          el('td', {}, [x.task || '?']), el('td', { 'data-field': 'nextDue' }, [when(x.nextDueAt, s.at)]), el('td', {}, [run]),
        ]);
      })),
    ]));
    box.appendChild(el('p', { class: 'muted' }, ['The last tick of a schedule is not stored; an overlap \'skip\' schedule names the occurrence that runs now.']));
  }

  // ---- A task by id ----
  function renderTask(box, body, r) {
    clear(box);
    if (!body) { box.appendChild(el('p', { class: 'muted' }, ['Enter a task id.'])); return; }
    var head = body.state === 'unknown' ? (body.more ? 'Not found yet: ' : 'Not found: ') + body.id : body.id + (body.name ? ' (' + body.name + ', attempt ' + body.attempt + ')' : '') + ': ' + body.state;
    box.appendChild(el('p', { 'data-field': 'state', 'data-value': body.state }, [head]));
    var lines = [];
    if (body.state === 'scheduled') lines.push('Due ' + new Date(body.dueAt).toLocaleString() + '.');
    if (body.state === 'waiting') lines.push('Waiting for a worker.');
    if (body.state === 'running') {
      lines.push('Running on ' + body.workerId + (body.host ? ' (' + body.host + ', pid ' + body.pid + ')' : '') + (body.since ? ' since ' + new Date(body.since).toLocaleString() : '') + '.');
      if (body.progress !== undefined) lines.push('Progress: ' + JSON.stringify(body.progress));
      if (body.cancelling) lines.push('Cancel requested: its worker stops it at its next lease renewal.');
    }
    if (body.state === 'succeeded') lines.push('Succeeded at ' + new Date(body.finishedAt).toLocaleString() + '; result: ' + JSON.stringify(body.value));
    if (body.state === 'failed') lines.push('Failed (' + body.reason + ') at ' + new Date(body.failedAt).toLocaleString() + ': ' + body.message);
    if (body.state !== 'unknown') lines.push('Partition ' + body.partition + '.');
    lines.forEach(function (line) { box.appendChild(el('p', { class: 'pre' }, [line])); });
    var n = fmt(findRounds * config.findScan);
    if (body.more) box.appendChild(el('p', { 'data-field': 'searched', 'data-value': findRounds * config.findScan }, ['Not running, no kept result, and not among the first ' + n + ' waiting (newest first), ' + n + ' scheduled and ' + n + ' dead-letter entries of partition ' + body.more.partitions.join(', ') + ': ', el('button', { type: 'button', 'data-action': 'search-further', onclick: function () { findCursor = body.more.cursor; findRounds++; refresh(); } }, ['Search further'])]));
    var live = body.state === 'scheduled' || body.state === 'waiting' || (body.state === 'running' && !body.cancelling);
    if (config.allowActions && live) box.appendChild(el('p', {}, [el('button', { type: 'button', 'data-action': 'cancel', onclick: function () { cancelTask(r.queue, body.id); } }, ['Cancel'])]));
    box.appendChild(el('p', { class: 'muted' }, ['Looked up once per request, reading the running tasks and kept results, and at most ' + fmt(config.findScan) + ' waiting, scheduled and dead-letter entries per partition; Find again to refresh.']));
  }
  function cancelTask(queue, id) {
    if (needToken() || !window.confirm('Cancel task ' + id + '?')) return;
    post(queue, 'cancel', { id: id }, function (res) {
      findCursor = ''; findRounds = 1;
      setNotice(res.result === 'removed' ? 'Cancelled ' + id + ': it will not run.' : res.result === 'stopping' ? 'Cancelling ' + id + ': its worker stops it at its next lease renewal.' : 'Not found: ' + id + ' (it may have finished).');
    }, true);
  }
  function pauseQueue(queue, pause) {
    if (needToken()) return;
    post(queue, pause ? 'pause' : 'resume', {}, function () {
      setNotice(pause ? 'Paused ' + queue + ': workers take nothing new and finish what they run.' : 'Resumed ' + queue + '.');
    });
  }

  // ---- pages: a skeleton made once per route, its data refreshed every tick ----
  function mount(r) {
    clear(main);
    var noticeBox = el('p', { id: 'notice', hidden: notice ? null : 'hidden' }, [notice]);
    var box = el('div', { id: 'content' });
    main.appendChild(noticeBox);
    if (r.page === 'task') {
      var input = el('input', { id: 'task-id', placeholder: 'task id', size: 30, value: r.arg });
      var form = el('form', { id: 'task-form' }, [input, ' ', el('button', { type: 'submit' }, ['Find'])]);
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        var hash = '#/task/' + q(r.queue) + '/' + q(input.value.trim());
        findCursor = ''; findRounds = 1;
        if (location.hash === hash) { mounted = null; refresh(); } else location.hash = hash;
      });
      main.appendChild(el('h2', {}, ['Find a task in ' + r.queue]));
      main.appendChild(form);
    }
    main.appendChild(box);
    var load = {
      queues: function () { return api('queues').then(function (b) { renderQueues(box, b); }); },
      workers: function () { return api('queues/' + q(r.queue) + '/workers').then(function (b) { renderWorkers(box, b); }); },
      dead: function () { return api('queues/' + q(r.queue) + '/dead?offset=' + deadOffset + '&limit=' + PAGE).then(function (b) { renderDead(box, b, r); }); },
      scheduled: function () { return api('queues/' + q(r.queue) + '/scheduled?cursor=' + laterCursor + '&limit=' + PAGE + '&schedulesOffset=' + schedulesOffset).then(function (b) { renderScheduled(box, b, r); }); },
      task: function () { return r.arg ? api('queues/' + q(r.queue) + '/tasks/' + q(r.arg) + (findCursor ? '?cursor=' + q(findCursor) : '')).then(function (b) { renderTask(box, b, r); }) : Promise.resolve(renderTask(box, null, r)); },
    }[r.page];
    return { key: location.hash, load: load };
  }
  function setNotice(text) {
    notice = text;
    var n = document.getElementById('notice');
    if (n) { n.textContent = text; n.hidden = !text; }
  }
  function refresh() {
    clearTimeout(timer);
    var r = route();
    if (!mounted || mounted.key !== location.hash) { if (mounted) { notice = ''; deadOffset = 0; laterBack = []; laterCursor = ''; schedulesOffset = 0; findCursor = ''; findRounds = 1; } drawNav(r); mounted = mount(r); }
    mounted.load().then(function () {
      live.textContent = 'live · updated ' + new Date().toLocaleTimeString();
      live.className = 'muted';
    }, function (e) {
      live.textContent = 'cannot update: ' + e.message;
      live.className = 'bad';
    }).then(function () {
      // The task page looks up once per Find or Search further: no polling.
      if (!document.hidden && r.page !== 'task') timer = setTimeout(refresh, config.refreshMs);
    });
  }

  function footer() {
    var f = clear(document.getElementById('footer'));
    f.appendChild(el('div', {}, [config.allowActions ? 'Actions are enabled (they need the token).' : 'Read-only: started without --allow-actions.']));
    var later = config.features.filter(function (x) { return !x.available; });
    if (later.length) {
      f.appendChild(el('div', {}, ['Not in delayed-queue yet, so not shown: ']));
      f.appendChild(el('ul', { class: 'later' }, later.map(function (x) { return el('li', {}, [x.title + ' (issue ' + x.issue + ')']); })));
    }
  }
  function tokenForm() {
    var form = document.getElementById('token-form');
    if (!config.allowActions) return;
    form.hidden = false;
    var input = document.getElementById('token');
    input.placeholder = sessionStorage.getItem(TOKEN_KEY) ? '(stored for this tab)' : '';
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (input.value) { sessionStorage.setItem(TOKEN_KEY, input.value); input.value = ''; input.placeholder = '(stored for this tab)'; setNotice('Token stored for this tab.'); }
    });
    document.getElementById('token-forget').addEventListener('click', function () { sessionStorage.removeItem(TOKEN_KEY); input.placeholder = ''; setNotice('Token forgotten.'); });
  }

  api('config').then(function (c) {
    config = c;
    footer();
    tokenForm();
    window.addEventListener('hashchange', refresh);
    document.addEventListener('visibilitychange', function () { if (!document.hidden) refresh(); });
    refresh();
  }, function (e) { main.textContent = 'Cannot load the dashboard: ' + e.message; });
})();
`;
