/*
 * The HTML report's fixed stylesheet and script (src/report/html.ts embeds both in every page).
 * The script is plain ES2017 run by the browser: it reads the report data from
 * <script type="application/json" id="report-data"> and builds the page with createElement and
 * textContent only (image text is never parsed as markup), then wires the filters.
 */

export const HTML_STYLE = String.raw`:root{--bg:#f5f6f8;--surface:#fff;--text:#1b1f24;--muted:#566170;--border:#d3d9e0;--accent:#0a58b0;--focus:#0a58b0;--grid:#e4e8ee;--base:#eef0f7;--warn:#9c3d00;
--critical:#b42318;--high:#b54708;--medium:#8a5d00;--low:#1f5fb0;--on-sev:#fff;--ok:#1a7f37;
--sans:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#0e1116;--surface:#161b22;--text:#e6edf3;--muted:#9ea8b4;--border:#313843;--accent:#79b8ff;--focus:#79b8ff;--grid:#242a33;--base:#1d2230;--warn:#ffab70;
--critical:#ff8078;--high:#ffa657;--medium:#e3b341;--low:#79c0ff;--on-sev:#0e1116;--ok:#56d364}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 var(--sans)}
#app{max-width:1180px;margin:0 auto;padding:24px 20px 40px}
a{color:var(--accent)}
a:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible,[tabindex]:focus-visible{outline:3px solid var(--focus);outline-offset:2px;border-radius:3px}
code,pre,.mono{font-family:var(--mono);font-size:.86em}
h1{font-size:1.6rem;line-height:1.25;margin:.1rem 0 .3rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:0 0 .75rem}
h3{font-size:1rem;margin:0;overflow-wrap:anywhere}
h4{font-size:.8rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);margin:0 0 .25rem}
.muted{color:var(--muted)}
.noscript{max-width:40rem;margin:2rem auto;padding:1rem;border:1px solid var(--border)}
.top{margin-bottom:16px}
.brand{margin:0;color:var(--muted);font-size:.85rem}
.brand strong{color:var(--text);letter-spacing:.02em}
.meta{margin:0;color:var(--muted);font-size:.88rem;overflow-wrap:anywhere}
.panel{background:var(--surface);border:1px solid var(--border);border-radius:10px;padding:16px 18px;margin:0 0 16px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(118px,1fr));gap:10px;margin:0 0 16px}
.tile{background:var(--surface);border:1px solid var(--border);border-left:5px solid var(--border);border-radius:8px;padding:8px 12px;display:flex;flex-direction:column}
.tile-value{font-size:1.55rem;font-weight:700;line-height:1.2;font-variant-numeric:tabular-nums}
.tile-label{font-size:.82rem;color:var(--muted)}
.tile-total{border-left-color:var(--text)}.tile-clean{border-left-color:var(--ok)}.tile-zero .tile-value{color:var(--muted)}
.tile-critical{border-left-color:var(--critical)}.tile-high{border-left-color:var(--high)}.tile-medium{border-left-color:var(--medium)}.tile-low{border-left-color:var(--low)}.tile-warn{border-left-color:var(--warn)}
.badge{display:inline-block;font-size:.72rem;font-weight:700;letter-spacing:.04em;padding:1px 7px;border-radius:4px;white-space:nowrap;vertical-align:middle}
.sev-bg-critical{background:var(--critical);color:var(--on-sev)}.sev-bg-high{background:var(--high);color:var(--on-sev)}.sev-bg-medium{background:var(--medium);color:var(--on-sev)}.sev-bg-low{background:var(--low);color:var(--on-sev)}
.badge.base{background:var(--base);color:var(--text);border:1px solid var(--border);font-weight:600}
.badge.live{background:transparent;color:var(--critical);border:1.5px solid var(--critical)}
.sev-dot{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.4em;vertical-align:baseline;flex:none}
.filters{display:flex;flex-wrap:wrap;gap:10px 28px;align-items:flex-end}
.filters fieldset{border:0;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px}
.filters legend,.filter-group>label:first-child:not(.check){display:block;font-size:.8rem;font-weight:600;color:var(--muted);margin-bottom:2px;padding:0}
.filter-group{display:flex;flex-direction:column;gap:2px}
.check{display:inline-flex;align-items:center;gap:6px;min-height:28px;cursor:pointer}
.check input{width:18px;height:18px;margin:0;accent-color:var(--accent)}
select{width:16rem;font:inherit;color:var(--text);background:var(--surface);border:1px solid var(--border);border-radius:6px;padding:4px 8px;min-height:32px;max-width:100%}
.status{margin:0 0 0 auto;color:var(--muted);font-size:.88rem}
.legend{display:flex;flex-wrap:wrap;align-items:center;gap:4px 16px;font-size:.82rem;color:var(--muted);margin:-.25rem 0 .75rem}
.lg-item{display:inline-flex;align-items:center;gap:6px;white-space:nowrap}
.lg{display:inline-block;width:22px;height:10px;border-radius:5px;vertical-align:middle}
.lg-band{background:var(--muted)}.lg-ghost{border-top:2px dashed var(--muted);height:0;border-radius:0}.lg-also{width:10px;height:10px;border:2px solid var(--muted);border-radius:50%}.lg-base{background:var(--base);border:1px solid var(--border);border-radius:2px}
.lg-cut{width:auto;height:auto;color:var(--warn);font-weight:700}
.tl-scroll{overflow-x:auto}
.tl{list-style:none;margin:0;padding:0;min-width:calc(var(--layers)*18px + 56px + 232px)}
.tl-row{display:grid;grid-template-columns:minmax(220px,300px) 1fr;gap:12px;align-items:center;padding:6px 0;border-top:1px solid var(--grid)}
.tl-head{border-top:0;font-size:.78rem;letter-spacing:-.02em;color:var(--muted);padding-top:0}
.tl-lane{font-size:.78rem;font-weight:700;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);padding:12px 0 2px}
.tl-label{min-width:0;display:flex;flex-direction:column;line-height:1.35}
.tl-title{font-weight:600;text-decoration:none;color:var(--text);overflow-wrap:anywhere}
.tl-title:hover{text-decoration:underline}
.tl-where{font-size:.85rem;color:var(--muted);overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.tl-pair{font-size:.82rem;color:var(--muted);overflow-wrap:anywhere}
.tl-state{font-size:.8rem;color:var(--muted)}.tl-state.is-deleted{color:var(--warn);font-weight:600}
.tl-track{display:grid;grid-template-columns:repeat(var(--layers),minmax(18px,1fr)) 56px;align-items:center;height:28px;position:relative}
.tl-head-track{height:auto}
.tl-track>*{grid-row:1}
.tl-col{text-align:center;font-variant-numeric:tabular-nums;text-decoration:none;color:var(--muted);padding:2px 0;border-radius:4px}
a.tl-col:hover{color:var(--text);background:var(--grid)}
.tl-col.is-base{background:var(--base);color:var(--text)}
.tl-cfg{font-size:.72rem}
.tl-grid{align-self:stretch;background:linear-gradient(to right,var(--grid) 1px,transparent 1px) 0 0/calc(100%/var(--layers)) 100%;border-right:1px solid var(--grid)}
.tl-basezone{align-self:stretch;background:var(--base)}
.tl-band{height:12px;border-radius:6px;margin:0 3px;background:var(--sev)}
.tl-band.tl-open{border-top-right-radius:0;border-bottom-right-radius:0;margin-right:0;clip-path:polygon(0 0,calc(100% - 8px) 0,100% 50%,calc(100% - 8px) 100%,0 100%)}
.tl-ghost{height:0;border-top:2px dashed var(--sev);margin-right:4px}
.tl-cut{justify-self:center;color:var(--warn);font-weight:800;font-size:18px;line-height:1;background:var(--surface);border-radius:50%;z-index:1;padding:0 2px}
.tl-start{justify-self:start;width:12px;height:12px;border-radius:50%;background:var(--sev);margin-left:3px;box-shadow:0 0 0 2px var(--surface)}
.tl-also{justify-self:center;width:12px;height:12px;border-radius:50%;border:2.5px solid var(--sev);background:var(--surface);z-index:1}
.sev-critical{--sev:var(--critical)}.sev-high{--sev:var(--high)}.sev-medium{--sev:var(--medium)}.sev-low{--sev:var(--low)}
.findings{list-style:none;margin:0;padding:0;display:grid;gap:12px}
.finding{border:1px solid var(--border);border-left:5px solid var(--sev);border-radius:8px;padding:12px 14px;background:var(--surface)}
.finding:target,.layer:target{outline:3px solid var(--focus);outline-offset:2px}
.finding-head{display:flex;flex-wrap:wrap;align-items:center;gap:6px 10px;margin-bottom:8px}
.finding-head h3{flex:1 1 16rem}
.num{color:var(--muted);font-weight:600}
.provider{font-size:.85rem;color:var(--muted)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0 0 10px}
dt{color:var(--muted);font-size:.88rem}
dd{margin:0;min-width:0;overflow-wrap:anywhere}
.fingerprint{word-break:break-all}
.also{margin:0;padding:0;list-style:none}
.state-final{font-weight:600}.state-deleted{color:var(--warn);font-weight:600}
.live-valid{color:var(--critical);font-weight:700}.live-invalid{color:var(--ok)}.live-unknown{color:var(--muted)}
.fix{border-top:1px solid var(--grid);padding-top:8px}
details.fix summary{cursor:pointer;font-weight:600;color:var(--muted);margin-bottom:4px}
.fix p{margin:0 0 6px}
.fix ul{margin:0 0 6px;padding-left:1.2em;color:var(--muted);font-size:.92rem}
.revoke{font-weight:600}
.empty,.clean{font-size:1rem}
.clean{background:var(--surface);border:1px solid var(--border);border-left:5px solid var(--ok);border-radius:8px;padding:14px 16px}
.layers{list-style:none;margin:0;padding:0}
.layer{padding:8px 0;border-top:1px solid var(--grid)}
.layer:first-child{border-top:0}
.layer-head{display:flex;align-items:baseline;gap:10px}
.layer-index{font-weight:700;min-width:1.8em;text-align:right;font-variant-numeric:tabular-nums}
.layer-step{flex:1;min-width:0}
.layer-step summary{cursor:pointer;overflow-wrap:anywhere}
.layer-step pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:8px;margin:6px 0}
.layer-step p{margin:0;overflow-wrap:anywhere}
.layer-size{color:var(--muted);font-size:.85rem;white-space:nowrap;font-variant-numeric:tabular-nums}
.events{margin:4px 0 0 calc(1.8em + 10px);padding:0;list-style:none;font-size:.9rem}
.ev-add::before{content:"+ ";color:var(--critical);font-weight:700}.ev-del::before{content:"\2212  ";color:var(--warn);font-weight:700}.ev-also::before{content:"= ";color:var(--muted)}
.ranking{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
.ranking th,.ranking td{text-align:left;padding:6px 10px;border-top:1px solid var(--grid)}
.ranking thead th{border-top:0;font-size:.8rem;color:var(--muted)}
.ranking th[scope=row]{font-weight:600;overflow-wrap:anywhere}
.strong{font-weight:700;color:var(--sev)}
footer{color:var(--muted);font-size:.82rem;margin-top:24px}
[hidden]{display:none!important}
@media (max-width:720px){#app{padding:14px 12px 32px}h1{font-size:1.3rem}.panel{padding:12px}
.tl-row{grid-template-columns:1fr;gap:4px}.tl-label,.tl-lane{position:sticky;left:0;max-width:calc(100vw - 58px)}.tl-head .tl-label{display:none}.tl{min-width:calc(var(--layers)*18px + 56px)}
dl{grid-template-columns:6.2rem 1fr;gap:4px 8px}.tiles{grid-template-columns:repeat(3,1fr);gap:6px}.tile{padding:5px 8px;border-left-width:4px}.tile-value{font-size:1.2rem}.tile-label{font-size:.75rem}.status{margin-left:0;flex-basis:100%}}
@media print{:root{--bg:#fff;--surface:#fff;--text:#000;--muted:#444;--border:#bbb;--grid:#ddd;--base:#eee;--accent:#000;--critical:#b42318;--high:#b54708;--medium:#8a5d00;--low:#1f5fb0;--on-sev:#fff;--warn:#9c3d00}
body{font-size:11pt}#app{max-width:none;padding:0}.filters-panel,.tl-also{display:none}.panel{border:0;padding:0;margin-bottom:14pt}
.finding,.tl-row,.layer{break-inside:avoid}a{text-decoration:none}a.revoke::after{content:" (" attr(href) ")";font-weight:400;overflow-wrap:anywhere}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}.tl-scroll{overflow:visible}}`;

export const HTML_CLIENT_SCRIPT = String.raw`(function () {
  'use strict';
  var SEVERITIES = ['critical', 'high', 'medium', 'low'];
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var app = document.getElementById('app');

  // Every node is made here; text only ever goes in as text nodes, never as markup.
  function h(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k === 'style') Object.keys(v).forEach(function (s) { node.style.setProperty(s, v[s]); });
        else if (k === 'href') node.setAttribute('href', safeHref(v));
        else node.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node, kid) {
    if (kid === null || kid === undefined || kid === false) return;
    if (Array.isArray(kid)) kid.forEach(function (k) { append(node, k); });
    else node.appendChild(typeof kid === 'string' || typeof kid === 'number' ? document.createTextNode(String(kid)) : kid);
  }
  function safeHref(v) {
    return /^(#[\w-]+|https?:\/\/[^\s"'<>]+)$/i.test(v) ? v : '#';
  }
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : (many || one + 's')); }
  function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }
  function sevBadge(s) { return h('span', { class: 'badge sev-bg-' + s, text: s.toUpperCase() }); }

  function tile(value, label, cls) {
    return h('div', { class: 'tile' + (cls ? ' ' + cls : '') }, h('span', { class: 'tile-value', text: String(value) }), h('span', { class: 'tile-label', text: label }));
  }

  function summaryTiles(findings, extra, totalLabel) {
    var tiles = [tile(findings.length, totalLabel || (findings.length === 1 ? 'secret' : 'secrets'), findings.length ? 'tile-total' : 'tile-clean')];
    SEVERITIES.forEach(function (s) {
      var n = findings.filter(function (f) { return f.severity === s; }).length;
      tiles.push(tile(n, s, n ? 'tile-' + s : 'tile-zero'));
    });
    return h('section', { class: 'tiles', 'aria-label': 'Counts' }, tiles, extra);
  }

  // ---- findings list (shared by the scan and audit pages) ----
  function layerLink(ctx, index) {
    return ctx.layers ? h('a', { href: '#layer-' + index, text: 'layer ' + index }) : 'layer ' + index;
  }
  function stateText(f) {
    if (f.inFinalImage) return f.lane === 'config' ? 'In the image config: every pull gets it' : 'In the final image';
    if (f.removedBy && f.layer !== null) return 'Deleted in layer ' + f.removedBy.index + ', still recoverable from layer ' + f.layer;
    return 'Not in the final image, still recoverable from the image';
  }
  function row(term, desc) { return [h('dt', { text: term }), h('dd', null, desc)]; }
  function findingCard(f, ctx) {
    var where = [h('code', { text: f.where })];
    var layer = f.layer === null ? 'image config' : [layerLink(ctx, f.layer), f.base ? ' (base image)' : ''];
    var state = h('span', { class: f.inFinalImage ? 'state-final' : 'state-deleted', text: stateText(f) });
    if (!f.inFinalImage && f.removedBy) state.title = 'Deleted by: ' + f.removedBy.step;
    var dl = h('dl', null,
      row('Where', where),
      row('Layer', layer),
      row('State', state),
      row('Value', [h('code', { class: 'value', text: f.redacted }), ' ', h('span', { class: 'muted', text: '(redacted)' })]),
      f.pairedWith ? row('Used with', [f.pairedWith.title + ' ', h('code', { text: f.pairedWith.redacted }), f.pairedWith.at ? ' (' + f.pairedWith.at + ')' : '', ': one credential, revoke them as a pair']) : null,
      f.alsoIn.length ? row('Also in', h('ul', { class: 'also' }, f.alsoIn.map(function (o) {
        return h('li', null, o.layer !== null ? [layerLink(ctx, o.layer), ' '] : '', h('code', { text: o.where }), o.inFinalImage ? '' : ' (deleted later)');
      }))) : null,
      f.verification ? row('Live check', h('span', { class: 'live-' + f.verification.status, text: f.verification.status + ': ' + f.verification.detail })) : null,
      row('Fingerprint', h('code', { class: 'fingerprint', text: f.fingerprint })));
    // An audit lists the same advice once per image: there it folds away.
    var fix = h(ctx.compact ? 'details' : 'div', { class: 'fix' }, ctx.compact ? h('summary', { text: 'What to do' }) : h('h4', { text: 'What to do' }), h('p', { text: f.remediation }),
      f.advice.length ? h('ul', null, f.advice.map(function (a) { return h('li', { text: a }); })) : null,
      f.url ? h('p', null, h('a', { class: 'revoke', href: f.url, rel: 'noopener noreferrer', target: '_blank', text: 'Revoke or rotate it at ' + hostOf(f.url) })) : null);
    var live = f.verification && f.verification.status === 'valid' ? h('span', { class: 'badge live', text: 'LIVE' }) : null;
    return h('li', { class: 'finding sev-' + f.severity, id: ctx.prefix + 'finding-' + f.n, 'data-n': f.n, tabindex: '-1' },
      h('div', { class: 'finding-head' }, sevBadge(f.severity), live,
        h('h3', null, h('span', { class: 'num', text: '#' + f.n + ' ' }), f.title),
        h('span', { class: 'provider', text: f.provider })),
      dl, fix);
  }
  function hostOf(url) {
    var m = /^https?:\/\/([^/?#]+)/i.exec(url);
    return m ? m[1] : url;
  }

  // ---- filters ----
  function providersOf(findings) {
    var seen = {};
    findings.forEach(function (f) { seen[f.provider] = (seen[f.provider] || 0) + 1; });
    return Object.keys(seen).sort(function (a, b) { return a.localeCompare(b); }).map(function (p) { return [p, seen[p]]; });
  }
  function filterForm(findings, verified, onChange) {
    var sev = h('fieldset', { class: 'sev-filter' }, h('legend', { text: 'Severity' }), SEVERITIES.map(function (s) {
      var n = findings.filter(function (f) { return f.severity === s; }).length;
      return h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'severity', value: s, checked: true }), h('span', { class: 'sev-dot sev-bg-' + s }), cap(s) + ' ', h('span', { class: 'muted', text: '(' + n + ')' }));
    }));
    var select = h('select', { name: 'provider', id: 'filter-provider' }, h('option', { value: '', text: 'All providers' }),
      providersOf(findings).map(function (p) { return h('option', { value: p[0], text: p[0] + ' (' + p[1] + ')' }); }));
    var form = h('form', { class: 'filters', 'aria-label': 'Filter findings' }, sev,
      h('div', { class: 'filter-group' }, h('label', { for: 'filter-provider', text: 'Provider' }), select),
      h('div', { class: 'filter-group' },
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'final' }), 'Only in the final image'),
        verified ? h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'live' }), 'Only live (provider says valid)') : null),
      h('p', { class: 'status', role: 'status', 'aria-live': 'polite' }));
    form.addEventListener('change', onChange);
    form.addEventListener('submit', function (e) { e.preventDefault(); });
    return form;
  }
  function matcher(form) {
    var sevs = Array.prototype.filter.call(form.querySelectorAll('input[name=severity]'), function (i) { return i.checked; }).map(function (i) { return i.value; });
    var provider = form.elements.provider.value;
    var finalOnly = form.elements.final.checked;
    var liveOnly = form.elements.live ? form.elements.live.checked : false;
    return function (f) {
      return sevs.indexOf(f.severity) >= 0 && (!provider || f.provider === provider) && (!finalOnly || f.inFinalImage) &&
        (!liveOnly || (f.verification !== null && f.verification.status === 'valid'));
    };
  }

  // ---- the layer timeline ----
  function col(n) { return { 'grid-column': n }; }
  function timelineHead(layers) {
    var track = h('div', { class: 'tl-track tl-head-track' }, layers.map(function (l) {
      return h('a', { class: 'tl-col' + (l.base ? ' is-base' : ''), href: '#layer-' + l.index, style: col(String(l.index + 1)), title: 'Layer ' + l.index + (l.base ? ' (base image)' : '') + ', ' + l.sizeText + ': ' + (l.createdBy || '(no history)'), text: String(l.index) });
    }), h('span', { class: 'tl-col tl-cfg', style: col(String(layers.length + 1)), title: 'Image config: ENV, LABEL and the build history', text: 'config' }));
    return h('div', { class: 'tl-row tl-head' }, h('div', { class: 'tl-label', text: 'Layer' }), track);
  }
  function bandParts(f, n) {
    var parts = [];
    var last = String(n + 1);
    if (f.layer === null) {
      parts.push(h('span', { class: 'tl-band', style: col(last) }));
      return parts;
    }
    var start = f.layer;
    if (f.inFinalImage) {
      // History lives in the config too: its band runs on into the config column.
      var end = f.lane === 'config' ? n + 2 : n + 1;
      parts.push(h('span', { class: 'tl-band tl-open', style: col((start + 1) + ' / ' + end) }));
    } else {
      var cut = f.removedBy ? f.removedBy.index : start;
      if (cut > start) parts.push(h('span', { class: 'tl-band', style: col((start + 1) + ' / ' + (cut + 1)) }));
      parts.push(h('span', { class: 'tl-ghost', style: col((cut + 1) + ' / ' + (n + 1)), title: 'Still recoverable from layer ' + start }));
      parts.push(h('span', { class: 'tl-cut', style: col(String(cut + 1)), title: 'Deleted in layer ' + cut, text: '\u2715' }));
    }
    parts.push(h('span', { class: 'tl-start', style: col(String(start + 1)), title: 'Introduced in layer ' + start }));
    return parts;
  }
  function timelineRow(f, layers) {
    var n = layers.length;
    var baseCount = 0;
    while (baseCount < n && layers[baseCount].base) baseCount++;
    var also = f.alsoIn.filter(function (o) { return o.layer !== null; }).map(function (o) {
      return h('a', { class: 'tl-also', href: '#layer-' + o.layer, tabindex: '-1', style: col(String(o.layer + 1)), title: 'Also in layer ' + o.layer + ': ' + o.where });
    });
    var track = h('div', { class: 'tl-track', 'aria-hidden': 'true' },
      h('span', { class: 'tl-grid', style: col('1 / ' + (n + 1)) }),
      baseCount ? h('span', { class: 'tl-basezone', style: col('1 / ' + (baseCount + 1)) }) : null,
      bandParts(f, n), also);
    var state = f.inFinalImage
      ? (f.lane === 'config' ? (f.layer === null ? 'in the image config' : 'from layer ' + f.layer + ', in the image config') : 'from layer ' + f.layer + ' to the final image')
      : f.layer === null ? 'not in the final image'
      : 'deleted in layer ' + (f.removedBy ? f.removedBy.index : f.layer) + ' \u00b7 still recoverable from layer ' + f.layer;
    var label = h('div', { class: 'tl-label' },
      h('a', { class: 'tl-title', href: '#finding-' + f.n }, h('span', { class: 'sev-dot sev-bg-' + f.severity, title: f.severity }), '#' + f.n + ' ' + f.title),
      h('span', { class: 'tl-where', title: f.where }, h('code', { text: f.where })),
      f.pairedWith ? h('span', { class: 'tl-pair', text: 'with ' + f.pairedWith.title + ' ' + f.pairedWith.redacted }) : null,
      h('span', { class: f.inFinalImage ? 'tl-state' : 'tl-state is-deleted', text: state }));
    return h('li', { class: 'tl-row sev-' + f.severity, 'data-n': f.n }, label, track);
  }
  function timeline(view) {
    var lanes = [['layers', 'Files in layers'], ['config', 'Image config: ENV, LABEL, build history']];
    var list = h('ol', { class: 'tl', style: { '--layers': String(view.layers.length) } }, timelineHead(view.layers));
    lanes.forEach(function (lane) {
      var rows = view.findings.filter(function (f) { return f.lane === lane[0]; })
        .sort(function (a, b) { return (a.layer === null ? -1 : a.layer) - (b.layer === null ? -1 : b.layer) || a.n - b.n; });
      if (!rows.length) return;
      list.appendChild(h('li', { class: 'tl-lane', 'data-lane': lane[0], text: lane[1] }));
      rows.forEach(function (f) { list.appendChild(timelineRow(f, view.layers)); });
    });
    var legend = h('p', { class: 'legend' }, [
      ['lg-band', '', 'in the image from this layer on'], ['lg-cut', '\u2715', 'deleted or overwritten'], ['lg-ghost', '', 'still recoverable from the layer blob'],
      ['lg-also', '', 'same secret elsewhere'], ['lg-base', '', 'base image layer']
    ].map(function (item) { return h('span', { class: 'lg-item' }, h('span', { class: 'lg ' + item[0], text: item[1] }), item[2]); }));
    return h('section', { class: 'panel', id: 'timeline', 'aria-labelledby': 'timeline-h' }, h('h2', { id: 'timeline-h', text: 'Layer timeline' }), legend, h('div', { class: 'tl-scroll' }, list));
  }

  function layerList(view) {
    var items = view.layers.map(function (l) {
      var events = [];
      view.findings.forEach(function (f) {
        var link = h('a', { href: '#finding-' + f.n, text: '#' + f.n + ' ' + f.title });
        if (f.layer === l.index) events.push(h('li', { class: 'ev-add' }, 'adds ', link, ' ', h('code', { text: f.where })));
        if (f.removedBy && f.removedBy.index === l.index) events.push(h('li', { class: 'ev-del' }, 'deletes ', link, ', still recoverable from layer ' + f.layer));
        f.alsoIn.forEach(function (o) {
          if (o.layer === l.index) events.push(h('li', { class: 'ev-also' }, 'also holds ', h('a', { href: '#finding-' + f.n, text: '#' + f.n }), ' ', h('code', { text: o.where })));
        });
      });
      return h('li', { class: 'layer' + (l.base ? ' is-base' : ''), id: 'layer-' + l.index, tabindex: '-1' },
        h('div', { class: 'layer-head' }, h('span', { class: 'layer-index', text: String(l.index) }),
          l.base ? h('span', { class: 'badge base', text: 'base image' }) : null,
          h('details', { class: 'layer-step' }, h('summary', null, h('code', { text: l.step })),
            h('pre', { text: l.createdBy || '(no history)' }), h('p', { class: 'muted mono', text: l.diffId })),
          h('span', { class: 'layer-size', text: l.sizeText })),
        events.length ? h('ul', { class: 'events' }, events) : null);
    });
    return h('section', { class: 'panel', id: 'layers', 'aria-labelledby': 'layers-h' }, h('h2', { id: 'layers-h', text: 'Layers' }), h('ol', { class: 'layers' }, items));
  }

  function scanPage(view) {
    var s = view.stats;
    var deleted = view.findings.filter(function (f) { return !f.inFinalImage; }).length;
    var base = view.findings.filter(function (f) { return f.base; }).length;
    var live = view.findings.filter(function (f) { return f.verification && f.verification.status === 'valid'; }).length;
    var header = h('header', { class: 'top' },
      h('p', { class: 'brand' }, h('strong', { text: 'stratascan' }), ' ' + view.version + ' \u00b7 secrets in container image layers'),
      h('h1', { text: view.title }),
      h('p', { class: 'meta' }, [view.platform, view.format, view.digest ? view.digest.slice(0, 19) + '\u2026' : null].filter(Boolean).join(' \u00b7 '), h('br'),
        plural(s.layers, 'layer') + ', ' + plural(s.files, 'file') + ', ' + s.bytesText + ' scanned in ' + s.durationMs + ' ms' +
        (s.skipped ? '; ' + plural(s.skipped, 'file') + ' skipped' : '') + (s.allowlisted ? '; ' + s.allowlisted + ' known example secrets ignored' : '') +
        (s.cachedLayers ? '; ' + s.cachedLayers + ' layers from the cache' : '')));
    var extra = [tile(deleted, 'deleted, still recoverable', deleted ? 'tile-warn' : 'tile-zero'), tile(base, 'from base layers', base ? '' : 'tile-zero')];
    if (view.verified) extra.push(tile(live, 'live (provider says valid)', live ? 'tile-critical' : 'tile-zero'));
    var list = h('ol', { class: 'findings' }, view.findings.map(function (f) { return findingCard(f, { layers: true, prefix: '' }); }));
    var empty = h('p', { class: 'empty', hidden: true, text: 'No finding matches these filters.' });
    var form;
    function apply() {
      var keep = matcher(form);
      var shown = 0;
      view.findings.forEach(function (f) {
        var ok = keep(f);
        if (ok) shown++;
        app.querySelectorAll('[data-n="' + f.n + '"]').forEach(function (node) { node.hidden = !ok; });
      });
      app.querySelectorAll('.tl-lane').forEach(function (lane) {
        lane.hidden = !view.findings.some(function (f) { return f.lane === lane.getAttribute('data-lane') && keep(f); });
      });
      form.querySelector('.status').textContent = 'Showing ' + shown + ' of ' + plural(view.findings.length, 'finding');
      empty.hidden = shown > 0;
    }
    form = filterForm(view.findings, view.verified, apply);
    var body = [header, summaryTiles(view.findings, extra)];
    if (view.findings.length) {
      body.push(h('section', { class: 'panel filters-panel', 'aria-label': 'Filters' }, form), timeline(view),
        h('section', { class: 'panel', id: 'findings', 'aria-labelledby': 'findings-h' }, h('h2', { id: 'findings-h', text: 'Findings' }), empty, list));
    } else {
      body.push(h('p', { class: 'clean', text: 'No secrets found in ' + plural(view.layers.length, 'layer') + ' and the image config.' }));
    }
    body.push(layerList(view), footer());
    append(app, body);
    if (view.findings.length) apply();
  }

  function auditPage(view) {
    var all = [];
    view.images.forEach(function (img) { all = all.concat(img.findings.map(function (f) { return { img: img, f: f }; })); });
    var findings = all.map(function (x) { return x.f; });
    var errors = view.images.filter(function (i) { return i.error !== null; }).length;
    var header = h('header', { class: 'top' }, h('p', { class: 'brand' }, h('strong', { text: 'stratascan' }), ' audit \u00b7 secrets in container image layers'),
      h('h1', { text: view.title }),
      h('p', { class: 'meta', text: plural(view.layers.unique, 'unique layer') + ', ' + view.layers.scanned + ' scanned, ' + view.layers.fromCache + ' from the cache' }));
    var extra = [tile(view.images.filter(function (i) { return i.findings.length; }).length, 'images with secrets', ''), tile(view.shared.length, 'shared by several images', view.shared.length ? 'tile-warn' : 'tile-zero'),
      tile(errors, 'images not scanned', errors ? 'tile-critical' : 'tile-zero')];
    var ranking = h('table', { class: 'ranking' }, h('thead', null, h('tr', null, ['#', 'Image', 'Critical', 'High', 'Medium', 'Low', 'Status'].map(function (t) { return h('th', { scope: 'col', text: t }); }))),
      h('tbody', null, view.images.map(function (img) {
        return h('tr', { 'data-image': img.n }, h('td', { text: String(img.n) }), h('th', { scope: 'row' }, h('a', { href: '#image-' + img.n, text: img.reference })),
          SEVERITIES.map(function (s) { return h('td', { class: img.counts[s] ? 'sev-' + s + ' strong' : 'muted', text: String(img.counts[s]) }); }),
          h('td', { class: img.error ? 'state-deleted' : '', text: img.error ? img.status + ': ' + img.error : img.status }));
      })));
    var shared = view.shared.map(function (s) {
      return h('li', { class: 'finding sev-' + s.severity },
        h('div', { class: 'finding-head' }, sevBadge(s.severity), h('h3', { text: s.title }), h('span', { class: 'provider', text: plural(s.images.length, 'image') })),
        h('dl', null, row('Value', h('code', { text: s.redacted })), row('Found at', h('ul', { class: 'also' }, s.places.map(function (p) { return h('li', null, h('code', { text: p })); }))),
          row('Images', h('ul', { class: 'also' }, s.images.map(function (n) { return h('li', null, h('a', { href: '#image-' + n, text: view.images[n - 1].reference })); }))),
          row('Fingerprint', h('code', { class: 'fingerprint', text: s.fingerprint }))));
    });
    var sections = view.images.map(function (img) {
      return h('section', { class: 'panel image', id: 'image-' + img.n, 'aria-labelledby': 'image-h-' + img.n },
        h('h2', { id: 'image-h-' + img.n }, h('span', { class: 'num', text: '#' + img.n + ' ' }), img.reference),
        h('p', { class: 'meta', text: [img.platform, img.status, img.digest].filter(Boolean).join(' \u00b7 ') }),
        img.error ? h('p', { class: 'state-deleted', text: img.error }) : null,
        img.findings.length ? h('ol', { class: 'findings' }, img.findings.map(function (f) { return findingCard(f, { layers: false, compact: true, prefix: 'image-' + img.n + '-' }); })) : h('p', { class: 'muted', text: img.error ? '' : 'No secrets found.' }));
    });
    append(app, [header, summaryTiles(findings, extra, 'findings in all images'),
      h('section', { class: 'panel', 'aria-labelledby': 'rank-h' }, h('h2', { id: 'rank-h', text: 'Images by severity' }), h('div', { class: 'tl-scroll' }, ranking)),
      view.shared.length ? h('section', { class: 'panel', 'aria-labelledby': 'shared-h' }, h('h2', { id: 'shared-h', text: 'Secrets shared by several images' }), h('ol', { class: 'findings' }, shared)) : null,
      sections, footer()]);
  }

  function footer() {
    return h('footer', null, 'Values are redacted: this file never holds a raw secret. Fingerprints (rule:secretHash) match ', h('code', { text: '--baseline' }), ' and ignore files.');
  }

  // Printing shows the full build steps: open every <details> for the printout, then restore.
  var opened = [];
  window.addEventListener('beforeprint', function () {
    opened = Array.prototype.filter.call(document.querySelectorAll('details:not([open])'), function (d) { d.open = true; return true; });
  });
  window.addEventListener('afterprint', function () { opened.forEach(function (d) { d.open = false; }); opened = []; });

  if (data.kind === 'audit') auditPage(data); else scanPage(data);
  document.documentElement.setAttribute('data-ready', 'true');
})();`;
