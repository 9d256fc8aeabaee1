// The demo page: plain browser WebSocket and EventSource, no build step.
'use strict';

// Counters the end-to-end browser test reads.
const demo = (window.demo = {
  chatMessages: 0, chartPoints: 0, wsPoints: 0, ssePoints: 0, dataConnects: 0, sseConnects: 0,
});

const wsBase = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;

function setState(el, state, detail) {
  el.className = 'state ' + state;
  el.textContent = detail ? state + ' (' + detail + ')' : state;
}

// A WebSocket that reconnects with backoff; shows its state in `stateEl`.
function reconnecting(path, stateEl, handlers) {
  let ws = null, delay = 500, stopped = false, timer = null;
  function open() {
    setState(stateEl, 'connecting');
    ws = new WebSocket(wsBase + path);
    ws.onopen = () => {
      delay = 500;
      setState(stateEl, 'connected');
      handlers.open && handlers.open(ws);
    };
    ws.onmessage = (event) => handlers.message(event, ws);
    ws.onclose = (event) => {
      handlers.close && handlers.close(event);
      if (stopped) return setState(stateEl, 'closed', 'code ' + event.code);
      const wait = event.code === 1000 ? 500 : delay;
      setState(stateEl, 'reconnecting', 'code ' + event.code + ', retry in ' + (wait / 1000) + ' s');
      timer = setTimeout(open, wait);
      delay = Math.min(delay * 2, 8000);
    };
  }
  open();
  return {
    send: (m) => ws && ws.readyState === WebSocket.OPEN && (ws.send(m), true),
    stop: () => { stopped = true; clearTimeout(timer); ws && ws.close(1000); },
  };
}

// ----- chat room -----

const params = new URLSearchParams(location.search);
const myName = (params.get('name') || 'guest-' + Math.floor(Math.random() * 10000)).slice(0, 24);
const messagesDiv = document.getElementById('messages');
const messageInput = document.getElementById('messageInput');
document.getElementById('me').textContent = myName;

function addMessage(from, text, cls) {
  const el = document.createElement('div');
  el.className = 'msg ' + (cls || '');
  if (from) {
    const who = document.createElement('span');
    who.className = 'from';
    who.textContent = from + ':';
    el.appendChild(who);
  }
  el.appendChild(document.createTextNode(text));
  messagesDiv.appendChild(el);
  messagesDiv.scrollTop = messagesDiv.scrollHeight;
}

const chat = reconnecting('/room?name=' + encodeURIComponent(myName),
  document.getElementById('chat-state'), {
    open: () => addMessage('', 'connected to the room', 'note'),
    message: (event) => {
      const m = JSON.parse(event.data);
      if (m.members !== undefined) document.getElementById('members').textContent = m.members;
      if (m.type === 'message') {
        demo.chatMessages++;
        addMessage(m.from, m.text, m.from === myName ? 'mine' : '');
      } else if (m.type === 'join') {
        addMessage('', m.name + ' joined', 'note');
      } else if (m.type === 'leave') {
        addMessage('', m.name + ' left', 'note');
      }
    },
    close: (event) => addMessage('', 'disconnected (code ' + event.code +
      (event.reason ? ': ' + event.reason : '') + ')', 'note'),
  });

document.getElementById('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = messageInput.value.trim();
  if (text && chat.send(text)) messageInput.value = '';
});

// ----- live chart -----

const canvas = document.getElementById('dataChart');
const g = canvas.getContext('2d');
const WINDOW_MS = 15000;
const series = { ws: [], sse: [] };
const colors = { ws: '#2563eb', sse: '#e8590c' };
let drawPending = false;

function addPoint(kind, data) {
  if (typeof data.value !== 'number') return;
  series[kind].push({ t: performance.now(), v: data.value, drawn: false });
  if (!drawPending) {
    drawPending = true;
    // Draw on the next frame, or soon if frames are throttled (background tab, headless).
    let done = false;
    const go = () => { if (!done) { done = true; drawPending = false; draw(); } };
    requestAnimationFrame(go);
    setTimeout(go, 50);
  }
}

function draw() {
  const w = canvas.width, h = canvas.height, pad = 28, now = performance.now();
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  g.strokeStyle = '#e3e6eb';
  g.fillStyle = '#6b7280';
  for (let v = 0; v <= 100; v += 25) {
    const y = h - pad - (v / 100) * (h - 2 * pad);
    g.beginPath(); g.moveTo(pad, y); g.lineTo(w - 8, y); g.stroke();
    g.fillText(String(v), 4, y + 4);
  }
  g.fillText('last ' + WINDOW_MS / 1000 + ' s', w - 70, h - 8);
  for (const kind of ['ws', 'sse']) {
    const pts = series[kind];
    while (pts.length && now - pts[0].t > WINDOW_MS) pts.shift();
    g.strokeStyle = g.fillStyle = colors[kind];
    g.lineWidth = 2;
    g.beginPath();
    pts.forEach((p, i) => {
      const x = pad + (1 - (now - p.t) / WINDOW_MS) * (w - pad - 8);
      const y = h - pad - (p.v / 100) * (h - 2 * pad);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
    for (const p of pts) {
      const x = pad + (1 - (now - p.t) / WINDOW_MS) * (w - pad - 8);
      const y = h - pad - (p.v / 100) * (h - 2 * pad);
      g.beginPath(); g.arc(x, y, 2.5, 0, 2 * Math.PI); g.fill();
      if (!p.drawn) {
        p.drawn = true;
        demo.chartPoints++;
        kind === 'ws' ? demo.wsPoints++ : demo.ssePoints++;
      }
    }
  }
  document.getElementById('points').textContent = demo.chartPoints;
  document.getElementById('ws-points').textContent = demo.wsPoints;
  document.getElementById('sse-points').textContent = demo.ssePoints;
}
setInterval(draw, 500); // keep the window scrolling between points

// The article's client: `new WebSocket('ws://…/data')`, JSON points, a non-JSON greeting.
reconnecting('/data', document.getElementById('data-state'), {
  open: () => demo.dataConnects++,
  message: (event) => {
    try {
      addPoint('ws', JSON.parse(event.data));
    } catch (e) {
      console.log('Non-JSON message:', event.data);
    }
  },
});

// The same points over Server-Sent Events; EventSource reconnects by itself.
const sseState = document.getElementById('sse-state');
const events = new EventSource('/events');
events.onopen = () => { demo.sseConnects++; setState(sseState, 'connected'); };
events.onmessage = (event) => addPoint('sse', JSON.parse(event.data));
events.onerror = () => setState(sseState,
  events.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');

// ----- console for the article's routes -----

const log = document.getElementById('console-log');
const consoleState = document.getElementById('console-state');
let consoleWs = null;
function logLine(text) {
  const el = document.createElement('div');
  el.textContent = new Date().toLocaleTimeString() + '  ' + text;
  log.appendChild(el);
  while (log.childNodes.length > 300) log.removeChild(log.firstChild);
  log.scrollTop = log.scrollHeight;
}
document.getElementById('connect').addEventListener('click', () => {
  if (consoleWs) consoleWs.close(1000);
  const path = document.getElementById('route').value;
  const ws = (consoleWs = new WebSocket(wsBase + path));
  setState(consoleState, 'connecting', path);
  ws.onopen = () => { setState(consoleState, 'connected', path); logLine('open ' + path); };
  ws.onmessage = (e) => logLine('← ' + e.data);
  ws.onclose = (e) => {
    if (consoleWs === ws) setState(consoleState, 'closed', 'code ' + e.code);
    logLine('closed ' + path + ' code ' + e.code + (e.reason ? ' ' + e.reason : ''));
  };
});
document.getElementById('disconnect').addEventListener('click', () => consoleWs && consoleWs.close(1000));
document.getElementById('console-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = document.getElementById('console-input').value;
  if (consoleWs && consoleWs.readyState === WebSocket.OPEN) {
    consoleWs.send(text);
    logLine('→ ' + text);
  }
});
