// Preloaded with `node -r ./harness.js index.js`: runs the tutorial's index.js and ws.js unchanged, on a
// port the test chooses, with a clock and a timer interval the test may fix. Nothing else is touched.
//   TOY_PORT         the port used instead of index.js's 8080 (0: a free one)
//   TOY_PORT_FILE    where the listening port is written once bound
//   TOY_NOW          a fixed value for Date.now() (the timestamps in the replies)
//   TOY_INTERVAL_MS  the delay used instead of index.js's 2000 ms in setInterval
'use strict';
const fs = require('fs');
const net = require('net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  if (port === 8080 && process.env.TOY_PORT !== undefined) {
    port = Number(process.env.TOY_PORT);
    this.once('listening', () => {
      if (process.env.TOY_PORT_FILE) {
        fs.writeFileSync(process.env.TOY_PORT_FILE, String(this.address().port));
      }
    });
  }
  return listen.call(this, port, ...rest);
};

if (process.env.TOY_NOW !== undefined) {
  const now = Number(process.env.TOY_NOW);
  Date.now = () => now;
}

if (process.env.TOY_INTERVAL_MS !== undefined) {
  const interval = Number(process.env.TOY_INTERVAL_MS);
  const setIntervalReal = global.setInterval;
  global.setInterval = (fn, ms, ...args) => setIntervalReal(fn, ms === 2000 ? interval : ms, ...args);
}
