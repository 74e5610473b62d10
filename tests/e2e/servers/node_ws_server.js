// Echo server on Node ws (Debian node-ws), run with NODE_PATH=/usr/share/nodejs.
// Usage: node node_ws_server.js PORT
// The WebSocketServer creates its own HTTP server: requests that are not
// upgrades get ws's own 426 answer (kept alive, as Node's http server does).
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port }, () => {
  process.stdout.write('ready\n');
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
