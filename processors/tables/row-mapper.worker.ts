// Worker thread of the row mapper (see row-mapper.ts): unpacks a batch of payloads, maps them
// and answers with JSONEachRow text per table.
import { parentPort, workerData } from 'node:worker_threads';
import { mapRecords, type MapRequest, type MapResponse, type MapWorkerData } from './row-mapper.ts';

const { verify } = (workerData ?? {}) as MapWorkerData;

parentPort?.on('message', (req: MapRequest) => {
  let reply: MapResponse;
  try {
    const values: Uint8Array[] = new Array<Uint8Array>(req.ends.length);
    let start = 0;
    for (let i = 0; i < req.ends.length; i++) {
      const end = req.ends[i]!;
      values[i] = req.bytes.subarray(start, end);
      start = end;
    }
    reply = { id: req.id, result: mapRecords(values, undefined, verify) };
  } catch (e) {
    reply = { id: req.id, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort?.postMessage(reply);
});
