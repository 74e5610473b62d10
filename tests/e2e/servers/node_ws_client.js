// Node ws client: connects, sends one message, waits for the echo, closes.
// Usage: node node_ws_client.js URL
// Prints "port:<local port>" once connected and "echo:<text>" when the echo
// came back; exit 0 then, 1 otherwise.
'use strict';
const WebSocket = require('ws');

const ws = new WebSocket(process.argv[2]);
const timer = setTimeout(() => { console.error('timeout'); process.exit(1); }, 5000);
ws.on('open', () => {
  console.log('port:' + ws._socket.localPort);
  ws.send('hello from node');
});
ws.on('message', (data) => {
  console.log('echo:' + data.toString());
  ws.close(1000);
});
ws.on('close', () => { clearTimeout(timer); process.exit(0); });
ws.on('error', (err) => { console.error('error: ' + err.message); process.exit(1); });
