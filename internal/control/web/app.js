// softphone status page: reads /v1/status and follows /v1/events with the
// token taken from the URL fragment (#token=...). The fragment is removed
// from the address (and so from the browser's history) as soon as it is
// read; the token is kept in this tab's sessionStorage only, so a reload
// keeps working. A typed-in token is never written into the address. The
// event stream is read with fetch() so the token travels in the
// Authorization header, never in a URL.
'use strict';

(() => {
  const RECONNECT_MS = 2000;
  const $ = (id) => document.getElementById(id);
  let token = '';
  let refreshing = false;
  let refreshAgain = false;

  // ---- token -------------------------------------------------------------

  const STORE_KEY = 'softphone-token';

  // tokenFromAddress reads #token=... and replaces the history entry with
  // the address without it.
  function tokenFromAddress() {
    const params = new URLSearchParams(location.hash.slice(1));
    const t = params.get('token') || '';
    if (location.hash) {
      history.replaceState(null, '', location.pathname + location.search);
    }
    return t;
  }

  function keepToken(t) {
    try { sessionStorage.setItem(STORE_KEY, t); } catch (e) { /* storage off: a reload asks again */ }
  }

  function storedToken() {
    try { return sessionStorage.getItem(STORE_KEY) || ''; } catch (e) { return ''; }
  }

  // ---- API ---------------------------------------------------------------

  async function api(method, path, body) {
    const init = {
      method,
      cache: 'no-store',
      headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    if (!resp.ok) {
      let msg = resp.status + ' ' + resp.statusText;
      try {
        const e = await resp.json();
        if (e && e.error) msg = e.error;
      } catch (_) { /* not JSON: keep the status line */ }
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return resp.status === 204 ? null : resp.json();
  }

  function showError(err) {
    $('error').textContent = err ? String(err.message || err) : '';
    if (err && err.status === 401) askToken();
  }

  // refresh reads /v1/status; calls made while one runs fold into one more.
  function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    api('GET', '/v1/status')
      .then((st) => { render(st); showError(null); })
      .catch(showError)
      .finally(() => {
        refreshing = false;
        if (refreshAgain) {
          refreshAgain = false;
          refresh();
        }
      });
  }

  // ---- event stream (WHATWG HTML "Server-sent events" framing) -----------

  function setLink(text, cls) {
    const el = $('link');
    el.textContent = text;
    el.className = cls;
  }

  async function follow() {
    for (;;) {
      try {
        const resp = await fetch('/v1/events', {
          cache: 'no-store',
          headers: { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' },
        });
        if (!resp.ok) {
          const err = new Error('event stream: ' + resp.status + ' ' + resp.statusText);
          err.status = resp.status;
          throw err;
        }
        setLink('Live', 'good');
        refresh(); // anything missed while (re)connecting
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            onBlock(buf.slice(0, end));
            buf = buf.slice(end + 2);
          }
        }
        setLink('Daemon closed the event stream; reconnecting…', 'warn');
      } catch (err) {
        setLink('Not connected; retrying…', 'bad');
        showError(err);
        if (err.status === 401) return;
      }
      await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
  }

  function onBlock(block) {
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    let ev;
    try {
      ev = JSON.parse(data.join('\n'));
    } catch (_) {
      return;
    }
    if (ev.type === 'dtmf') return; // nothing on the page shows digits
    refresh();
  }

  // ---- rendering -----------------------------------------------------------

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function callActions(c) {
    const acts = [];
    const state = c.state || '';
    if (state === 'ended') return acts;
    if (c.direction === 'incoming' && state === 'ringing') acts.push(['answer', 'Answer'], ['reject', 'Reject']);
    if (state === 'active' && !c.held) acts.push(['hold', 'Hold']);
    if (state === 'held' || c.held) acts.push(['resume', 'Resume']);
    acts.push(['hangup', 'Hang up']);
    return acts;
  }

  function renderCalls(calls) {
    // Keep keyboard focus on the same button across a re-render.
    const active = document.activeElement;
    const focusKey = active && active.dataset && active.dataset.action
      ? active.dataset.action + ' ' + active.dataset.call : '';
    const list = $('calls');
    // A call whose row would not change keeps its elements: a refresh that
    // lands between an agent's mouse press and release must not swallow
    // the click by replacing the button under the pointer.
    const kept = new Map();
    for (const li of list.children) kept.set(li.dataset.call, li);
    const items = calls.map((c) => {
      const sig = JSON.stringify([c.remote_name, c.remote, c.direction, c.state, c.held]);
      const old = kept.get(c.id);
      if (old && old.dataset.sig === sig) return old;
      const who = c.remote_name ? c.remote_name + ' <' + c.remote + '>' : c.remote;
      const acts = el('div', { class: 'actions', role: 'group', 'aria-label': 'Actions for call ' + c.id });
      for (const [action, label] of callActions(c)) {
        acts.append(el('button', {
          type: 'button', 'data-action': action, 'data-call': c.id,
          'aria-label': label + ' call from ' + (c.remote_name || c.remote),
        }, label));
      }
      return el('li', { 'data-call': c.id, 'data-sig': sig },
        el('span', { class: 'who' }, who || c.id),
        el('span', { class: 'state' }, c.direction + ', ' + c.state + (c.held && c.state !== 'held' ? ' (held)' : '')),
        acts);
    });
    const same = items.length === list.children.length && items.every((li, i) => li === list.children[i]);
    if (!same) list.replaceChildren(...items);
    $('no-calls').hidden = calls.length > 0;
    if (focusKey) {
      const [action, id] = focusKey.split(' ');
      const again = list.querySelector('button[data-action="' + action + '"][data-call="' + CSS.escape(id) + '"]');
      if (again) again.focus();
    }
  }

  function renderConnections(st) {
    const regs = st.registrations || [];
    $('connections').replaceChildren(...regs.map((r) => {
      const cls = r.state === 'registered' ? 'good' : (r.state === 'failed' ? 'bad' : 'warn');
      return el('tr', { 'data-connection': r.connection },
        el('td', null, r.connection),
        el('td', null, r.user + '@' + r.server),
        el('td', null, r.protocol || '-'),
        el('td', { class: cls }, r.state),
        el('td', null, r.detail || ''));
    }));
    $('no-connections').hidden = regs.length > 0;
  }

  function renderDevices(list, devices, selected, target) {
    const sel = selected && selected.id;
    target.replaceChildren(...(devices || []).map((d) => {
      const isSel = sel !== undefined && d.id === sel;
      const notes = [];
      if (isSel) notes.push(selected.fallback ? 'selected, fallback' : 'selected');
      if (d.default) notes.push('system default');
      return el('li', { class: isSel ? 'selected' : '', 'aria-current': isSel ? 'true' : null, 'data-device': d.id },
        d.name + (notes.length ? ' (' + notes.join(', ') + ')' : ''));
    }));
    if (!devices || devices.length === 0) target.replaceChildren(el('li', null, 'none found'));
  }

  function renderVerdict(v) {
    const dl = $('verdict');
    if (!v) {
      $('verdict-reason').textContent = 'No device scan yet.';
      dl.replaceChildren();
      renderDevices('capture', [], null, $('capture'));
      renderDevices('playback', [], null, $('playback'));
      return;
    }
    $('verdict-reason').textContent = v.reason || '';
    const rows = [
      ['Headset', v.headset_available ? 'available' : 'not available', v.headset_available ? 'good' : 'bad'],
      ['Answer incoming calls', String(v.should_answer), ''],
      ['Outgoing calls', v.outgoing_allowed ? 'allowed' : 'blocked', v.outgoing_allowed ? 'good' : 'bad'],
      ['Reject code', String(v.reject_code), ''],
      ['Microphone', v.input ? v.input.name + (v.input.fallback ? ' (fallback)' : '') : 'none', ''],
      ['Speaker', v.output ? v.output.name + (v.output.fallback ? ' (fallback)' : '') : 'none', ''],
    ];
    dl.replaceChildren(...rows.flatMap(([k, val, cls]) => [el('dt', null, k), el('dd', { class: cls }, val)]));
    renderDevices('capture', v.capture, v.input, $('capture'));
    renderDevices('playback', v.playback, v.output, $('playback'));
  }

  function render(st) {
    renderCalls(st.calls || []);
    renderConnections(st);
    renderVerdict(st.verdict);
    $('version').textContent = 'softphone ' + (st.version || '') + (st.started ? ', running since ' + new Date(st.started).toLocaleString() : '');
  }

  // ---- actions -------------------------------------------------------------

  function onCallsClick(ev) {
    const b = ev.target.closest('button[data-action]');
    if (!b) return;
    b.disabled = true;
    api('POST', '/v1/calls/' + encodeURIComponent(b.dataset.call) + '/' + b.dataset.action)
      .then(() => showError(null))
      .catch(showError)
      .finally(() => { b.disabled = false; refresh(); });
  }

  function askToken() {
    try { sessionStorage.removeItem(STORE_KEY); } catch (e) { /* nothing kept */ }
    $('token-form').hidden = false;
    setLink('Token needed', 'bad');
  }

  function start() {
    $('calls').addEventListener('click', onCallsClick);
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      token = $('token-input').value.trim();
      $('token-input').value = '';
      if (!token) return;
      $('token-form').hidden = true;
      keepToken(token);
      follow();
    });
    token = tokenFromAddress() || storedToken();
    if (token) keepToken(token);
    if (!token) {
      askToken();
      return;
    }
    follow();
  }

  start();
})();
