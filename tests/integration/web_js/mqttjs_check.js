// MQTT.js over WebSockets against the gateway's /mqtt: connect with the given protocol version,
// subscribe, publish QoS 1, receive it back; prints one JSON line with what happened.
// Usage: node mqttjs_check.js ws://127.0.0.1:PORT/mqtt VERSION(4|5) TOPIC
'use strict';
const mqtt = require('mqtt');
const [url, version, topic] = process.argv.slice(2);
const client = mqtt.connect(url, {protocolVersion: Number(version), clientId: 'mqttjs-' + version,
                                  reconnectPeriod: 0, connectTimeout: 5000});
const result = {connected: false, received: null, retained: null};
const timer = setTimeout(() => { result.error = 'timeout'; done(); }, 8000);
function done() {
  clearTimeout(timer);
  console.log(JSON.stringify(result));
  client.end(true, () => process.exit(0));
}
client.on('error', (e) => { result.error = String(e); done(); });
client.on('connect', (connack) => {
  result.connected = true;
  result.sessionPresent = connack.sessionPresent;
  client.subscribe([topic, 'edge/relay/+'], {qos: 1}, (err, granted) => {
    if (err) { result.error = String(err); return done(); }
    result.granted = granted.map((g) => g.qos);
    client.publish(topic, 'hello from MQTT.js v' + version, {qos: 1});
  });
});
client.on('message', (t, payload, packet) => {
  if (t === topic) {
    result.received = payload.toString();
    if (result.retained !== null) done();
  } else if (packet.retain && result.retained === null) {
    result.retained = t + '=' + payload.toString();
    if (result.received !== null) done();
  }
});
