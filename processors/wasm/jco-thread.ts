// Worker-thread entry of the jco thread (see `transpileInJcoThread` in jco.ts): jco is loaded
// here, never in the node's own thread, so the memory it takes (its own Wasm, its compiled code
// and heap, ≈ 60 MiB) is given back when the thread exits.
import { parentPort } from 'node:worker_threads';
import { loadJco } from './jco.ts';
import type { JcoReply, JcoRequest } from './jco.ts';

parentPort?.on('message', (req: JcoRequest) => {
  void answer(req).then((reply) => parentPort?.postMessage(reply));
});

async function answer(req: JcoRequest): Promise<JcoReply> {
  try {
    const jco = await loadJco();
    if (req.op === 'transpile') {
      const out = await jco.transpile(req.bytes, req.options);
      const wit = await jco.componentWit(req.bytes);
      return { id: req.id, ok: true, transpiled: { files: out.files, imports: out.imports, wit } };
    }
    return { id: req.id, ok: true, component: await jco.componentNew(req.bytes) };
  } catch (err) {
    return { id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}
