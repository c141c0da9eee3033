"""The status page: server-rendered HTML (it reads fine with scripts off), one small script of our own
(SCRIPT, served at /app.js: no CDN, no framework, works offline) that applies the snapshots of
/api/events to the page, redraws the plots from /api/sensors/<name>/history and sends the relay
buttons' commands. Plots are inline SVG polylines.
"""

from __future__ import annotations

import html
from typing import Any

from gateway.web.history import History

PLOT_W, PLOT_H = 300, 60

STYLE = """
*{box-sizing:border-box}body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}
header{background:#1d2430;color:#fff;padding:.6em 1em;display:flex;flex-wrap:wrap;gap:.2em 1em;align-items:baseline}
header h1{font-size:1.15em;margin:0}header .sub{opacity:.75;font-size:.9em}
header form{margin-left:auto}main{padding:.6em;display:grid;gap:.6em;grid-template-columns:repeat(auto-fill,minmax(320px,1fr))}
section{background:#fff;border-radius:6px;padding:.6em .8em;box-shadow:0 1px 2px #0002;min-width:0}
h2{font-size:1em;margin:.1em 0 .4em}h3{font-size:.95em;margin:.2em 0}table{border-collapse:collapse;width:100%}
td{padding:.1em .3em;vertical-align:top;overflow-wrap:anywhere}td:first-child{color:#556;width:45%}
.card{border-top:1px solid #e3e6ea;padding:.4em 0}.card:first-of-type{border-top:0}
.on{color:#0a7a2f;font-weight:600}.off{color:#556;font-weight:600}.bad{color:#b3261e}.muted{color:#778;font-size:.85em}
.val{font-size:1.1em;font-weight:600}button{font:inherit;padding:.35em .9em;margin:.2em .2em 0 0;border:1px solid #99a;border-radius:4px;background:#fff;cursor:pointer}
button:hover{background:#eef}svg{width:100%;height:60px;background:#fafbfc;border:1px solid #e3e6ea;border-radius:3px}
polyline{fill:none;stroke:#2f6fde;stroke-width:1.5;vector-effect:non-scaling-stroke}.pill{display:inline-block;padding:0 .5em;border-radius:1em;background:#e3e6ea;font-size:.85em}
#live{background:#556;color:#fff}#live.ok{background:#1f8a3c}#live.lost{background:#b3261e}
.range{display:flex;justify-content:space-between;color:#778;font-size:.75em;margin-top:-.2em}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_age(age: float | None) -> str:
    if age is None:
        return "never"
    if age < 120:
        return f"{age:.0f} s ago"
    if age < 7200:
        return f"{age / 60:.0f} min ago"
    return f"{age / 3600:.1f} h ago"


def fmt_bytes(n: Any) -> str:
    if not isinstance(n, int | float):
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def plot_window(points: list[tuple[float, float]], span: float) -> float:
    """The seconds the x axis covers: the data's own age while it is younger than `span` (a plot of
    the last minute is readable; the same minute squeezed into 24 h is a dot), at least 60 s."""
    oldest = max((age for age, _ in points), default=0.0)
    return max(60.0, min(span, oldest))


def polyline(points: list[tuple[float, float]], span: float) -> str:
    """SVG points of (age, value) pairs: time left to right over the plot window, value scaled."""
    if not points:
        return ""
    window = plot_window(points, span)
    values = [v for _, v in points]
    low, high = min(values), max(values)
    rng = (high - low) or 1.0
    out = []
    for age, value in points:
        x = (window - age) / window * PLOT_W
        y = PLOT_H - 4 - (value - low) / rng * (PLOT_H - 8)
        out.append(f"{x:.1f},{y:.1f}")
    return " ".join(out)


def plot_caption(points: list[tuple[float, float]], span: float) -> str:
    if not points:
        return "<span>no history yet</span><span></span>"
    values = [v for _, v in points]
    window = plot_window(points, span)
    period = f"{window / 3600:.1f} h" if window >= 5400 else f"{window / 60:.0f} min"
    return (
        f"<span>last {esc(period)}</span>"
        f"<span>{esc(fmt_value(min(values)))} … {esc(fmt_value(max(values)))}</span>"
    )


def _rows(rows: list[tuple[str, str, str]]) -> str:
    """(label, html value, id) rows of a two-column table."""
    return (
        "<table>"
        + "".join(
            f"<tr><td>{esc(label)}</td><td{f' id={chr(34)}{key}{chr(34)}' if key else ''}>{value}</td></tr>"
            for label, value, key in rows
        )
        + "</table>"
    )


def _gateway(status: dict[str, Any]) -> str:
    throttle = status.get("throttling")
    temp = status.get("cpu_temperature")
    store = status.get("store") or {}
    rows = [
        ("Gateway id", esc(status["id"]), ""),
        ("Version", esc(status["version"]), ""),
        ("Up", esc(fmt_age(status["uptime"]).replace(" ago", "")), "g-uptime"),
        (
            "Clock synchronised",
            esc({True: "yes", False: "NO", None: "unknown"}[status["clock_synced"]]),
            "g-clock",
        ),
        ("CPU temperature", esc("—" if temp is None else f"{temp:.1f} °C"), "g-temp"),
        (
            "Throttling",
            esc(
                "not reported"
                if throttle is None
                else (", ".join(throttle["now"]) or "none")
                + (
                    f" (since boot: {', '.join(throttle['since_boot'])})"
                    if throttle["since_boot"]
                    else ""
                )
            ),
            "g-throttle",
        ),
        ("Disk free", esc(fmt_bytes(status["disk_free"])), "g-disk"),
        (
            "Store",
            esc(
                f"{store.get('state', 'off')}, {fmt_bytes(store.get('file bytes'))}"
                if store
                else "not enabled"
            ),
            "g-store",
        ),
    ]
    return f'<section id="gateway"><h2>Gateway</h2>{_rows(rows)}</section>'


def _sensor(s: dict[str, Any], history: dict[str, list], span: float) -> str:
    name = s["name"]
    state = {True: ("online", "on"), False: ("OFFLINE", "bad"), None: ("starting", "muted")}[
        s["online"]
    ]
    values = "".join(
        f'<div><span class="muted">{esc(q)}</span> <span class="val" id="s-{esc(name)}-{esc(q)}">'
        f"{esc(fmt_value(r['value']))}</span> {esc(r['unit'])}"
        f'<svg viewBox="0 0 {PLOT_W} {PLOT_H}" preserveAspectRatio="none" '
        f'aria-label="{esc(q)} history">'
        f'<polyline id="p-{esc(name)}-{esc(q)}" points="{polyline(history.get(q, []), span)}"/>'
        f'</svg><div class="range" id="c-{esc(name)}-{esc(q)}">'
        f"{plot_caption(history.get(q, []), span)}</div></div>"
        for q, r in s["values"].items()
    )
    error = s.get("last_error")
    return (
        f'<div class="card sensor" data-sensor="{esc(name)}"><h3>{esc(name)} '
        f'<span class="muted">{esc(s["type"])}, every {s["interval"]:g} s</span></h3>'
        f'<div><span id="s-{esc(name)}-avail" class="{state[1]}">{state[0]}</span> · '
        f'<span class="muted">read <span id="s-{esc(name)}-age">{esc(fmt_age(s["age"]))}'
        f"</span></span></div>{values or '<div class=muted>no reading yet</div>'}"
        f'<div class="bad" id="s-{esc(name)}-error">{esc(error or "")}</div></div>'
    )


def _relay(r: dict[str, Any]) -> str:
    name = r["name"]
    state = r["state"] or "unavailable"
    limits = r["limits"]
    bits = []
    if limits["max_on_seconds"]:
        bits.append(f"max on {limits['max_on_seconds']:g} s")
    if limits["min_off_seconds"]:
        bits.append(f"min off {limits['min_off_seconds']:g} s")
    if limits["interlock"]:
        bits.append("interlocked with " + ", ".join(limits["interlock"]))
    last = r.get("last")
    last_text = (
        ""
        if not last
        else f"{last['event']} ({last['reason']}{': ' + last['detail'] if last.get('detail') else ''})"
    )
    buttons = "".join(
        f'<button type="button" data-relay="{esc(name)}" data-cmd="{cmd}">{label}</button>'
        for cmd, label in (("ON", "On"), ("OFF", "Off"), ("TOGGLE", "Toggle"))
    )
    return (
        f'<div class="card relay" data-relay-card="{esc(name)}"><h3>{esc(r["title"])}</h3>'
        f'<div>State: <span id="r-{esc(name)}-state" class="{"on" if state == "ON" else "off"}">'
        f'{esc(state)}</span> <span class="muted">switched <span id="r-{esc(name)}-count">'
        f"{esc(r['switches'])}</span> time(s)</span></div>"
        f'<div class="muted">Last: <span id="r-{esc(name)}-last">{esc(last_text or "—")}</span></div>'
        f'<div class="muted">{esc("; ".join(bits) or "no safety limits configured")}</div>'
        f'<div>{buttons}</div><div id="r-{esc(name)}-msg" class="bad" role="status"></div></div>'
    )


def _bridge(b: dict[str, Any]) -> str:
    name = b["name"]
    rows = [
        ("Link", esc(b.get("state")), f"b-{esc(name)}-state"),
        (
            "Queued",
            esc(f"{b.get('queue/messages', 0)} msg, {fmt_bytes(b.get('queue/bytes', 0))}"),
            f"b-{esc(name)}-queue",
        ),
        ("Oldest queued", esc(f"{b.get('queue/oldest_age', 0)} s"), f"b-{esc(name)}-oldest"),
        (
            "Sent / acked",
            esc(f"{b.get('messages/sent')} / {b.get('messages/acked')}"),
            f"b-{esc(name)}-sent",
        ),
        ("Send / drain rate", "—", f"b-{esc(name)}-rate"),  # from two snapshots (JS)
        ("Dropped", esc(b.get("messages/dropped")), f"b-{esc(name)}-dropped"),
        ("Last error", esc(b.get("last_error") or "—"), f"b-{esc(name)}-error"),
    ]
    return f'<div class="card"><h3>{esc(name)}</h3>{_rows(rows)}</div>'


def _broker(values: dict[str, Any]) -> str:
    keys = [
        ("Clients connected", "clients/connected"),
        ("Most clients", "clients/maximum"),
        ("Subscriptions", "subscriptions/count"),
        ("Retained messages", "retained messages/count"),
        ("Messages queued", "store/messages/count"),
        ("Publishes in", "publish/messages/received"),
        ("Publishes out", "publish/messages/sent"),
        ("Dropped", "messages/dropped"),
        ("Open sockets", "connections/open"),
        ("Refused connects", "connections/refused"),
        ("Protocol errors", "protocol/errors"),
    ]
    rows = [
        (label, esc(values.get(key, 0)), "k-" + key.replace("/", "-").replace(" ", "-"))
        for label, key in keys
    ]
    rows += [("Publishes in / out per s", "—", "k-rates")]
    drops = (
        ", ".join(
            f"{k.removeprefix('messages/dropped/')} {v}"
            for k, v in values.items()
            if k.startswith("messages/dropped/")
        )
        or "none"
    )
    limits = (
        ", ".join(
            f"{k.removeprefix('limits/')} {v}" for k, v in values.items() if k.startswith("limits/")
        )
        or "none"
    )
    rows += [("Drops by reason", esc(drops), "k-drops"), ("Limits hit", esc(limits), "k-limits")]
    return f'<section id="broker"><h2>Broker</h2>{_rows(rows)}</section>'


def render_page(
    snapshot: dict[str, Any],
    history: History,
    now: float,
    *,
    csrf: str,
    user: str | None,
    logins: bool,
) -> str:
    status = snapshot["status"]
    span = history.span or 1.0
    sensors = "".join(_sensor(s, history.of(s["name"], now), span) for s in snapshot["sensors"])
    relays = "".join(_relay(r) for r in snapshot["relays"])
    bridges = "".join(_bridge(b) for b in snapshot["bridges"])
    who = (
        f'{esc(user)} <form method="post" action="/logout"><input type="hidden" name="csrf" '
        f'value="{esc(csrf)}"><button>Log out</button></form>'
        if user
        else ('<a href="/login" style="color:#fff">log in</a>' if logins else "")
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="csrf-token" content="{esc(csrf)}">'
        f'<meta name="history-span" content="{span:g}">'
        f"<title>{esc(status['id'])} · Edge Gateway</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{esc(status["id"])}</h1><span class="sub">Pi Edge Gateway '
        f'{esc(status["version"])}</span><span id="live" class="pill">static</span>'
        f'<span class="sub" id="g-status">{esc(status["status_line"])}</span>'
        f'<span class="sub">{who}</span></header><main>'
        f"{_gateway(status)}"
        f'<section id="sensors"><h2>Sensors</h2>{sensors or "<p class=muted>none configured</p>"}</section>'
        f'<section id="relays"><h2>Relays</h2>{relays or "<p class=muted>none configured</p>"}</section>'
        f'<section id="bridges"><h2>Bridges</h2>{bridges or "<p class=muted>none configured</p>"}</section>'
        f"{_broker(snapshot['broker'])}"
        f'</main><script src="/app.js"></script></body></html>'
    )


def render_login(message: str, possible: bool) -> str:
    body = (
        (
            '<form method="post" action="/login"><p><label>User<br><input name="user" '
            'autocomplete="username" required></label></p><p><label>Password<br><input '
            'name="password" type="password" autocomplete="current-password" required></label>'
            "</p><button>Log in</button></form>"
        )
        if possible
        else "<p>No password file is configured: only this machine (loopback) can see the page.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width,initial-scale=1"><title>Log in · Edge Gateway</title>'
        f"<style>{STYLE}</style></head><body><header><h1>Edge Gateway</h1></header><main>"
        f'<section><h2>Log in with a broker user</h2><p class="bad">{esc(message)}</p>'
        f"{body}</section></main></body></html>"
    )


SCRIPT = r"""'use strict';
(function () {
  var csrf = document.querySelector('meta[name=csrf-token]').content;
  var span = parseFloat(document.querySelector('meta[name=history-span]').content) || 86400;
  var W = %(w)d, H = %(h)d;
  function set(id, text, cls) {
    var el = document.getElementById(id);
    if (!el) return;
    el.textContent = text;
    if (cls !== undefined) el.className = cls;
  }
  function age(a) {
    if (a === null || a === undefined) return 'never';
    if (a < 120) return Math.round(a) + ' s ago';
    if (a < 7200) return Math.round(a / 60) + ' min ago';
    return (a / 3600).toFixed(1) + ' h ago';
  }
  function fmt(v) {
    if (typeof v === 'number' && !Number.isInteger(v)) return String(parseFloat(v.toFixed(2)));
    return String(v);
  }
  function bytes(n) {
    var u = ['B', 'KiB', 'MiB', 'GiB'], i = 0;
    if (typeof n !== 'number') return '—';
    while (n >= 1024 && i < 3) { n /= 1024; i++; }
    return i ? n.toFixed(1) + ' ' + u[i] : n + ' B';
  }
  var last = null;  // the previous snapshot and when it came: rates are differences over time
  function rate(now, before, seconds) {
    var r = (now - before) / seconds;
    return isFinite(r) && r >= 0 ? (r < 10 ? r.toFixed(1) : Math.round(r)) + '/s' : '—';
  }
  function rates(snap) {
    var t = snap.status.time;
    if (last && t > last.status.time) {
      var dt = t - last.status.time, b = snap.broker, a = last.broker;
      set('k-rates', rate(b['publish/messages/received'], a['publish/messages/received'], dt) +
          ' / ' + rate(b['publish/messages/sent'], a['publish/messages/sent'], dt));
      snap.bridges.forEach(function (br) {
        var old = last.bridges.filter(function (x) { return x.name === br.name; })[0];
        if (!old) return;
        set('b-' + br.name + '-rate', rate(br['messages/sent'], old['messages/sent'], dt) +
            ' sent, ' + rate(br['messages/acked'], old['messages/acked'], dt) + ' acked');
      });
    }
    last = snap;
  }
  function apply(snap) {
    rates(snap);
    var st = snap.status;
    set('g-uptime', age(st.uptime).replace(' ago', ''));
    set('g-status', st.status_line);
    set('g-disk', bytes(st.disk_free));
    if (st.cpu_temperature !== null) set('g-temp', st.cpu_temperature.toFixed(1) + ' °C');
    if (st.store) set('g-store', st.store.state + ', ' + bytes(st.store['file bytes']));
    snap.sensors.forEach(function (s) {
      var p = 's-' + s.name + '-';
      var a = {true: ['online', 'on'], false: ['OFFLINE', 'bad'], null: ['starting', 'muted']}[s.online];
      set(p + 'avail', a[0], a[1]);
      set(p + 'age', age(s.age));
      set(p + 'error', s.last_error || '');
      Object.keys(s.values).forEach(function (q) { set(p + q, fmt(s.values[q].value)); });
    });
    snap.relays.forEach(function (r) {
      set('r-' + r.name + '-state', r.state || 'unavailable', r.state === 'ON' ? 'on' : 'off');
      set('r-' + r.name + '-count', String(r.switches));
      if (r.last) set('r-' + r.name + '-last', r.last.event + ' (' + r.last.reason +
                      (r.last.detail ? ': ' + r.last.detail : '') + ')');
    });
    snap.bridges.forEach(function (b) {
      var p = 'b-' + b.name + '-';
      set(p + 'state', b.state);
      set(p + 'queue', (b['queue/messages'] || 0) + ' msg, ' + bytes(b['queue/bytes'] || 0));
      set(p + 'oldest', (b['queue/oldest_age'] || 0) + ' s');
      set(p + 'sent', b['messages/sent'] + ' / ' + b['messages/acked']);
      set(p + 'dropped', String(b['messages/dropped']));
      set(p + 'error', b.last_error || '—');
    });
    Object.keys(snap.broker).forEach(function (k) {
      var v = snap.broker[k];
      if (typeof v !== 'object') set('k-' + k.replace(/\//g, '-').replace(/ /g, '-'), String(v));
    });
    document.body.dataset.updated = String(Date.now());
  }
  function windowOf(points) {
    var oldest = Math.max.apply(null, points.map(function (p) { return p[0]; }).concat([0]));
    return Math.max(60, Math.min(span, oldest));
  }
  function plot(points) {
    if (!points.length) return '';
    var win = windowOf(points);
    var vs = points.map(function (p) { return p[1]; });
    var lo = Math.min.apply(null, vs), hi = Math.max.apply(null, vs), rng = (hi - lo) || 1;
    return points.map(function (p) {
      return ((win - p[0]) / win * W).toFixed(1) + ',' + (H - 4 - (p[1] - lo) / rng * (H - 8)).toFixed(1);
    }).join(' ');
  }
  function caption(el, points) {
    if (!el || !points.length) return;
    var win = windowOf(points), vs = points.map(function (p) { return p[1]; });
    var period = win >= 5400 ? (win / 3600).toFixed(1) + ' h' : Math.round(win / 60) + ' min';
    el.children[0].textContent = 'last ' + period;
    el.children[1].textContent = fmt(Math.min.apply(null, vs)) + ' … ' + fmt(Math.max.apply(null, vs));
  }
  function replot() {
    document.querySelectorAll('[data-sensor]').forEach(function (card) {
      var name = card.dataset.sensor;
      fetch('/api/sensors/' + encodeURIComponent(name) + '/history', {credentials: 'same-origin'})
        .then(function (r) { return r.json(); })
        .then(function (h) {
          Object.keys(h.series).forEach(function (q) {
            var el = document.getElementById('p-' + name + '-' + q);
            if (el) el.setAttribute('points', plot(h.series[q]));
            caption(document.getElementById('c-' + name + '-' + q), h.series[q]);
          });
        }).catch(function () {});
    });
  }
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-relay]');
    if (!b) return;
    var name = b.dataset.relay, msg = 'r-' + name + '-msg';
    set(msg, '…');
    fetch('/api/relays/' + encodeURIComponent(name), {
      method: 'POST', credentials: 'same-origin', body: b.dataset.cmd,
      headers: {'X-CSRF-Token': csrf, 'Content-Type': 'text/plain'}
    }).then(function (r) { return r.json(); }).then(function (o) {
      if (o.state) set('r-' + name + '-state', o.state, o.state === 'ON' ? 'on' : 'off');
      set(msg, o.result === 'done' ? '' : (o.error || (o.result + ': ' + (o.reason || '') +
          (o.detail ? ' — ' + o.detail : ''))));
      return fetch('/api/all', {credentials: 'same-origin'}).then(function (r) { return r.json(); })
        .then(apply);
    }).catch(function (e) { set(msg, 'request failed: ' + e); });
  });
  var live = document.getElementById('live');
  function connect() {
    var es = new EventSource('/api/events');
    es.addEventListener('snapshot', function (ev) {
      live.textContent = 'live'; live.className = 'pill ok';
      apply(JSON.parse(ev.data));
    });
    es.onerror = function () { live.textContent = 'reconnecting'; live.className = 'pill lost'; };
  }
  if (window.EventSource) connect();
  replot();
  setInterval(replot, 30000);
})();
""" % {"w": PLOT_W, "h": PLOT_H}  # noqa: UP031 - the script's own braces rule out .format()
