// JSON-RPC over the node's WebSocket: calls by id, and console_subscribe notifications.
export function connect(onNotify, onState) {
  let ws;
  let next = 1;
  const pending = new Map();
  let opened;
  const open = () => {
    opened = new Promise((resolve) => {
      ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`);
      ws.onopen = () => {
        onState('live');
        resolve();
        call('console_subscribe', []).catch(() => undefined);
      };
      ws.onmessage = (m) => {
        const msg = JSON.parse(m.data);
        if (msg.method === 'console_subscribe') return onNotify(msg.params.result);
        const p = pending.get(msg.id);
        if (p === undefined) return;
        pending.delete(msg.id);
        if (msg.error) p.reject(Object.assign(new Error(msg.error.message), msg.error));
        else p.resolve(msg.result);
      };
      ws.onclose = () => {
        onState('disconnected');
        for (const p of pending.values()) p.reject(new Error('connection closed'));
        pending.clear();
        setTimeout(open, 1000);
      };
    });
  };
  const call = async (method, params) => {
    await opened;
    const id = next++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ jsonrpc: '2.0', method, params, id }));
    });
  };
  open();
  return call;
}
