// Calls the tutorial's MyWebsocket.send() (ws.js, unchanged) in the ways its index.js never does.
//   node -r ./harness.js send.js early VALUE     ws.send(VALUE) right after the server is made
//   node -r ./harness.js send.js on-data VALUE   ws.send(VALUE) when a message arrives
// VALUE is one of: text, number, object, null.
const MyWebSocket = require('./ws');
const ws = new MyWebSocket({ port: 8080 });

const values = { text: 'hello', number: 42, object: { a: 1 }, null: null };
const value = values[process.argv[3]];

if (process.argv[2] === 'early') {
  ws.send(value);
} else {
  ws.on('data', () => {
    ws.send(value);
  });
}
