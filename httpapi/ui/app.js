// Roster's web UI: plain modules, no build step. Every page reads the same
// HTTP API as the CLI, from the node that served the page, and stays live
// with blocking reads (?index=N&wait=30s) or a 1 s poll where the API has
// no index (cluster status).

const $ = (sel, el = document) => el.querySelector(sel);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

let token = sessionStorage.getItem('roster.token') || '';
let perms = undefined; // undefined: not known yet; null: no tokens on this cluster; else a Set
let page = null;

class HTTPError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, { body, signal } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  const index = Number(resp.headers.get('X-Registry-Index') || 0);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!resp.ok) throw new HTTPError(resp.status, data);
  return { data, index };
}

// link is an anchor for http(s) URLs only: a catalog or KV value is
// anyone's input, and javascript: must never become a link.
function link(url, text = url) {
  return /^https?:\/\//i.test(url || '') ? `<a href="${esc(url)}" target="_blank" rel="noreferrer noopener">${esc(text)}</a>` : esc(url || '—');
}

function ago(iso) {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function setBanner(text, kind = '') {
  const b = $('#banner');
  b.hidden = !text;
  b.textContent = text || '';
  b.className = kind;
}

function can(p) {
  return perms === null || perms === undefined || perms.has('*') || perms.has(p);
}

async function loadPerms() {
  try {
    const { data } = await api('GET', '/registry-svc/token/self');
    perms = new Set(data.token.permissions);
  } catch (e) {
    perms = e.status === 400 ? null : new Set(); // 400: this cluster runs without tokens
  }
  $('#logout').hidden = !token;
}

// askToken shows the login dialog and resolves once a token is entered.
function askToken(why) {
  return new Promise((resolve) => {
    const dlg = $('#login');
    $('#login-why').textContent = why || '';
    $('#login-form').onsubmit = async () => {
      token = $('#token').value.trim();
      sessionStorage.setItem('roster.token', token);
      await loadPerms();
      resolve();
    };
    if (!dlg.open) dlg.showModal();
  });
}

// throttled draws at most once per frame and, with every > 0, once per
// that many ms: a 200-node page changes with every resource sample.
function throttled(draw, every = 0) {
  let pending = null;
  let last = -Infinity; // the first draw is at once
  return (data) => {
    const first = pending === null;
    pending = data;
    if (!first) return;
    const wait = Math.max(0, last + every - performance.now());
    setTimeout(() => requestAnimationFrame(() => {
      const d = pending;
      pending = null;
      last = performance.now();
      draw(d);
    }), wait);
  };
}

// live keeps a page current: fetchOnce(index, signal) reads (blocking past
// index when the API has one), render shows; a lost node is said in the
// banner and retried.
function live(fetchOnce, render, { poll = 0 } = {}) {
  const ctl = new AbortController();
  let index = 0;
  (async () => {
    let backoff = 500;
    while (!ctl.signal.aborted) {
      try {
        const r = await fetchOnce(poll ? 0 : index, ctl.signal);
        // A lower index: the node restarted, or another answered.
        index = r.index < index ? 0 : r.index;
        render(r.data);
        setBanner(null);
        backoff = 500;
        if (poll) await sleep(poll, ctl.signal);
      } catch (e) {
        if (ctl.signal.aborted) return;
        if (e.status === 401) {
          await askToken(e.message);
          continue;
        }
        if (e.status === 403) {
          $('#main').innerHTML = `<p class="error" role="alert">Your token may not see this page: ${esc(e.message)}</p>`;
          await sleep(5000, ctl.signal);
          continue;
        }
        index = 0;
        setBanner(`Lost contact with the node at ${location.host} (${e.message}); reconnecting…`, 'bad');
        await sleep(backoff, ctl.signal);
        backoff = Math.min(backoff * 2, 4000);
      }
    }
  })();
  return { stop: () => ctl.abort() };
}

const blocking = (path, index) => (index ? `${path}${path.includes('?') ? '&' : '?'}index=${index}&wait=30s` : path);

// ---------- Cluster ----------
function clusterPage(main) {
  return live((_, signal) => api('GET', '/registry-svc/cluster/status', { signal }), (st) => {
    const ft = st.faultTolerance || {};
    const warn = [];
    if (ft.degraded) warn.push(...(ft.reasons || ['fault tolerance is below what --voters asks for']));
    if (st.health?.selfPreservation) warn.push('self-preservation is on: automatic deregistration is paused');
    if (!st.leaderId) warn.push('no leader is known');
    $('#node').textContent = `node ${st.nodeId} (${st.role})`;
    const roleOf = {};
    for (const s of st.servers || []) roleOf[s.id] = s.leader ? 'leader' : s.suffrage;
    for (const c of st.clients || []) roleOf[c.id] = c.upstream ? `client ← ${c.upstream}` : 'client';
    main.innerHTML = `
      ${warn.length ? `<p class="card error" role="alert" data-test="warning">${warn.map(esc).join('<br>')}</p>` : ''}
      <div class="grid">
        <div class="card"><h3>Leader</h3><div class="kv">
          <span>leader</span><strong data-test="leader">${esc(st.leaderId || 'none')}</strong>
          <span>term</span><span data-test="term">${st.term}</span>
          <span>this node</span><span data-test="role">${esc(st.nodeId)} — ${esc(st.role)}${st.upstream ? ` ← ${esc(st.upstream)}` : ''}</span>
          <span>applied</span><span>${st.appliedIndex} of ${st.commitIndex}</span></div></div>
        <div class="card"><h3>Voters</h3><div class="kv">
          <span>voters</span><span data-test="voters">${st.voters} of ${st.targetVoters} wanted</span>
          <span>servers</span><span data-test="servers">${(st.servers || []).length} of ${st.targetServers} wanted; ${(st.clients || []).length} client agents</span>
          <span>failure tolerance</span><span data-test="tolerance">${ft.tolerance ?? '—'} (quorum ${ft.quorum ?? '—'})</span>
          <span>catalog</span><span>${st.catalog ? `${st.catalog.instances} instances, ${st.catalog.definitions} definitions, ${st.catalog.kv} keys` : '—'}</span></div></div>
      </div>
      <h2>Gossip members</h2>
      <table><thead><tr><th>Node</th><th>State</th><th>Role</th><th>Since</th><th class="wide">URL</th><th class="wide">Zone</th></tr></thead>
      <tbody>${(st.members || []).map((m) => `<tr data-test="member"><td>${esc(m.id)}</td><td>${esc(m.state)}</td><td>${esc(roleOf[m.id] || '—')}</td><td>${ago(m.since)}</td>
        <td class="wide">${esc(m.url)}</td><td class="wide">${esc([m.region, m.availabilityZone].filter(Boolean).join(' / ') || '—')}</td></tr>`).join('')}</tbody></table>
      <h2>Raft servers</h2>
      <table><thead><tr><th>Server</th><th>Suffrage</th><th>Gossip</th><th class="wide">Last contact</th></tr></thead>
      <tbody>${(st.servers || []).map((s) => `<tr><td>${esc(s.id)}${s.leader ? ' ★' : ''}</td><td>${esc(s.suffrage)}</td><td>${esc(s.gossip || '—')}</td>
        <td class="wide">${s.lastContactMs} ms</td></tr>`).join('')}</tbody></table>`;
  }, { poll: 1000 });
}

// ---------- Nodes ----------
const filters = { minFree: '', zone: '', slug: '', status: '', node: '', tag: '', kv: 'demi/' };

function bar(label, pct, text) {
  const p = Math.max(0, Math.min(100, pct || 0));
  return `<div class="row"><span>${label}</span><meter min="0" max="100" low="70" high="90" optimum="0" value="${p.toFixed(1)}" aria-label="${label} ${esc(text)}"></meter><span>${esc(text)}</span></div>`;
}

function nodesPage(main) {
  let nodes = [];
  main.innerHTML = `<div class="filters">
      <label>Free GPU memory ≥ (MiB)<input id="f-minfree" type="number" min="0" value="${esc(filters.minFree)}"></label>
      <label>Zone<select id="f-zone"><option value="">any</option></select></label></div><div id="nodes" class="grid"></div>`;
  const draw = () => {
    const zones = [...new Set(nodes.map((n) => n.availabilityZone).filter(Boolean))].sort();
    const sel = $('#f-zone');
    sel.innerHTML = `<option value="">any</option>${zones.map((z) => `<option ${z === filters.zone ? 'selected' : ''}>${esc(z)}</option>`).join('')}`;
    const min = filters.minFree === '' ? null : Number(filters.minFree);
    const shown = nodes.filter((n) => (!filters.zone || n.availabilityZone === filters.zone) &&
      (min === null || n.gpus.some((g) => g.memoryTotal - g.memoryUsage >= min)));
    $('#nodes').innerHTML = shown.map((n) => {
      const u = n.usage;
      const down = n.status === 'dead' || n.status === 'left';
      return `<article class="card${down ? ' down' : ''}" data-test="node" data-node="${esc(n.id)}">
        <h3>${esc(n.id)} <span class="badge ${down ? 's-Unhealthy' : n.status === 'suspect' ? 's-Stopping' : 's-Healthy'}">${esc(n.status)}</span> <span class="muted">${esc(n.role)}</span></h3>
        <div class="muted">${esc(n.url)} · ${esc([n.region, n.availabilityZone].filter(Boolean).join(' / ') || 'no zone')} · sample ${ago(n.lastHeartbeat)}</div>
        ${bar('CPU', u.cpu.percent, `${u.cpu.percent.toFixed(0)}%`)}
        ${bar('Memory', u.memory.percent, `${u.memory.percent.toFixed(0)}%`)}
        ${bar('Disk', u.disk.percent, `${u.disk.percent.toFixed(0)}%`)}
        ${n.gpus.length ? `<table><thead><tr><th>GPU</th><th>Memory</th><th>Util</th><th>Temp</th><th class="wide">Procs</th></tr></thead><tbody>
          ${n.gpus.map((g) => `<tr data-test="gpu"><td>${g.intraNodeId}: ${esc(g.name)}</td><td>${g.memoryUsage}/${g.memoryTotal} MiB</td>
          <td>${g.gpuUtilization}%</td><td>${g.temperature}°C</td><td class="wide">${(g.processDetails || []).length}</td></tr>`).join('')}</tbody></table>` : '<p class="muted">no GPUs</p>'}
      </article>`;
    }).join('') || '<p class="muted">No node matches.</p>';
  };
  $('#f-minfree').oninput = (e) => { filters.minFree = e.target.value; draw(); };
  $('#f-zone').onchange = (e) => { filters.zone = e.target.value; draw(); };
  return live((index, signal) => api('POST', blocking('/registry-svc/nodes', index), { body: {}, signal }), throttled((data) => { nodes = data.nodes; draw(); }, 1000));
}

// ---------- Instances ----------
function instancesPage(main) {
  let list = [];
  main.innerHTML = `<div class="filters">
      ${['slug', 'status', 'node', 'tag'].map((f) => `<label>${f}<input id="f-${f}" value="${esc(filters[f])}" ${f === 'status' ? 'list="statuses"' : ''}></label>`).join('')}
      <datalist id="statuses"><option>Healthy</option><option>Unhealthy</option><option>Unknown</option><option>Starting</option><option>Stopping</option></datalist>
      <span id="count" class="muted" data-test="count"></span></div><div id="groups"></div>`;
  const draw = () => {
    const shown = list.filter((i) => (!filters.slug || (i.slug || '').includes(filters.slug)) && (!filters.status || i.status === filters.status) &&
      (!filters.node || (i.nodeUrl || '').includes(filters.node)) && (!filters.tag || (i.tags || []).includes(filters.tag)));
    $('#count').textContent = `${shown.length} of ${list.length} instances`;
    const bySlug = new Map();
    for (const i of shown) {
      const k = i.slug || '(no slug)';
      if (!bySlug.has(k)) bySlug.set(k, []);
      bySlug.get(k).push(i);
    }
    const actions = can('registry-svc:instance:delete') || can('registry-svc:instance:status');
    $('#groups').innerHTML = [...bySlug].map(([slug, rows]) => `<section><h2>${esc(slug)} <span class="muted">${rows.length}</span></h2>
      <table><thead><tr><th>Status</th><th>URL</th><th class="wide">Check</th><th class="wide">Last heartbeat</th><th class="wide">Tags / meta</th>${actions ? '<th>Actions</th>' : ''}</tr></thead><tbody>
      ${rows.map((i) => `<tr data-test="instance" data-id="${esc(i.id)}" data-status="${esc(i.status)}">
        <td><span class="badge s-${esc(i.status)}">${esc(i.status)}</span><div class="muted">${[i.statusReason, i.statusChangedAt && `since ${ago(i.statusChangedAt)}`].filter(Boolean).map(esc).join(' · ')}</div></td>
        <td>${link(i.url)}<div class="muted">${esc(i.id)} on ${esc(i.nodeUrl || '')}</div></td>
        <td class="wide">${esc(i.check ? `${i.check.type}${i.check.path ? ' ' + i.check.path : ''}` : 'default')}</td>
        <td class="wide">${ago(i.lastHeartbeat)}</td>
        <td class="wide">${(i.tags || []).map(esc).join(', ')}${i.meta ? `<div class="muted">${Object.entries(i.meta).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(' ')}</div>` : ''}</td>
        ${actions ? `<td>${can('registry-svc:instance:status') ? `<select aria-label="Set the status of ${esc(i.id)}" data-set="${esc(i.id)}"><option value="">set status…</option>
          ${['Healthy', 'Unhealthy', 'Starting', 'Stopping', 'Unknown'].map((s) => `<option>${s}</option>`).join('')}</select>` : ''}
          ${can('registry-svc:instance:delete') ? `<button type="button" data-del="${esc(i.id)}">Deregister</button>` : ''}</td>` : ''}
      </tr>`).join('')}</tbody></table></section>`).join('') || '<p class="muted">No instance matches.</p>';
  };
  for (const f of ['slug', 'status', 'node', 'tag']) $(`#f-${f}`).oninput = (e) => { filters[f] = e.target.value.trim(); draw(); };
  $('#groups').onclick = async (e) => {
    const id = e.target.dataset.del;
    if (!id || !confirm(`Deregister instance ${id}?`)) return;
    try { await api('DELETE', `/registry-svc/instance/${encodeURIComponent(id)}`); } catch (err) { alert(err.message); }
  };
  $('#groups').onchange = async (e) => {
    const id = e.target.dataset.set;
    const status = e.target.value;
    if (!id || !status) return;
    if (confirm(`Set ${id} to ${status}?`)) {
      try { await api('PUT', `/registry-svc/instance/${encodeURIComponent(id)}/status`, { body: { status, reason: 'set in the web UI' } }); } catch (err) { alert(err.message); }
    }
    e.target.value = '';
  };
  return live((index, signal) => api('GET', blocking('/registry-svc/instances', index), { signal }), throttled((data) => { list = data.instances; draw(); }, 250));
}

// ---------- Definitions ----------
function toYAML(v, indent = '') {
  if (Array.isArray(v)) return v.length ? v.map((x) => `\n${indent}- ${toYAML(x, indent + '  ').trimStart()}`).join('') : ' []';
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    return entries.length ? entries.map(([k, x]) => `\n${indent}${k}:${typeof x === 'object' && x !== null ? toYAML(x, indent + '  ') : ' ' + JSON.stringify(x)}`).join('') : ' {}';
  }
  return ` ${JSON.stringify(v)}`;
}

function definitionsPage(main) {
  return live((index, signal) => api('GET', blocking('/registry-svc/definitions', index), { signal }), (data) => {
    main.innerHTML = `<h2>${data.definitions.length} definitions</h2>${data.definitions.map((d) => `<details data-test="definition"><summary>${esc(d.id)}
      <span class="muted">${esc(d.image ? d.image.name : d.repository ? d.repository.url : '')}</span></summary><pre>${esc(toYAML(d).trim())}</pre></details>`).join('')}`;
  });
}

// ---------- DeMi ----------
function demiPage(main) {
  main.innerHTML = `<div id="tree"></div><h2>Key-value browser</h2>
    <div class="filters"><label>Prefix<input id="f-kv" value="${esc(filters.kv)}"></label><button id="kv-go" type="button">List</button></div>
    <div id="kv"></div><pre id="kv-value" hidden></pre>`;
  const browse = async () => {
    filters.kv = $('#f-kv').value;
    try {
      const { data } = await api('GET', `/registry-svc/kv/${filters.kv.split('/').map(encodeURIComponent).join('/')}?keys`);
      $('#kv').innerHTML = `<ul>${data.keys.map((k) => `<li><a href="#/demi" data-key="${esc(k)}">${esc(k)}</a></li>`).join('')}</ul>` || '<p class="muted">No keys.</p>';
    } catch (e) { $('#kv').innerHTML = `<p class="error">${esc(e.message)}</p>`; }
  };
  $('#kv-go').onclick = browse;
  $('#kv').onclick = async (e) => {
    const key = e.target.dataset.key;
    if (!key) return;
    e.preventDefault();
    const pre = $('#kv-value');
    try {
      const { data } = await api('GET', `/registry-svc/kv/${key.split('/').map(encodeURIComponent).join('/')}`);
      pre.textContent = `${key}\n${atob(data.value || '')}`;
    } catch (err) { pre.textContent = err.message; }
    pre.hidden = false;
  };
  browse();
  return live((index, signal) => api('GET', blocking('/registry-svc/kv/demi/?recurse', index), { signal }), (data) => {
    const tree = {};
    for (const e of data.entries) {
      const [, site, stack, service, ...key] = e.key.split('/');
      if (!service || !key.length) continue;
      ((tree[site] ??= {})[stack] ??= {})[service] ??= {};
      tree[site][stack][service][key.join('/')] = atob(e.value || '');
    }
    $('#tree').innerHTML = Object.keys(tree).length ? Object.entries(tree).map(([site, stacks]) => `<section><h2>Site ${esc(site)}</h2>
      ${Object.entries(stacks).map(([stack, services]) => `<h3>${esc(stack)}</h3><table><thead><tr><th>Service</th><th>URL</th><th class="wide">Swagger</th><th class="wide">Description</th></tr></thead><tbody>
      ${Object.entries(services).map(([svc, k]) => `<tr data-test="demi-service"><td>${esc(svc)}</td><td>${link(k.url)}</td>
        <td class="wide">${k.swagger_url ? link(k.swagger_url, 'docs') : '—'}</td><td class="wide">${esc(k.description || '')}</td></tr>`).join('')}
      </tbody></table>`).join('')}</section>`).join('') : '<p class="muted">No DeMi services: run an agent with --docker next to labelled containers.</p>';
  });
}

const pages = { cluster: clusterPage, nodes: nodesPage, instances: instancesPage, definitions: definitionsPage, demi: demiPage };

async function show() {
  const name = (location.hash.replace(/^#\/?/, '') || 'cluster').split('?')[0];
  const start = pages[name] || clusterPage;
  page?.stop();
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const main = $('#main');
  main.innerHTML = '<p class="muted">Loading…</p>';
  if (perms === undefined) await loadPerms();
  page = start(main);
}

$('#logout').onclick = () => {
  sessionStorage.removeItem('roster.token');
  token = '';
  perms = undefined;
  show();
};
window.addEventListener('hashchange', show);
show();
