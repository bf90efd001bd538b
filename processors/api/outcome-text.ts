// One short line for a receipt's outcome, drawn under a task in `ipvm graph`: the output as
// DAG-JSON, or the error's kind and message, cut with an ellipsis.
import { dagJson } from '../../schemas/codecs.ts';
import { isIpldMap, kindOf as kindOfValue, type IpldValue } from '../../schemas/ipld.ts';

/** Cuts `text` to at most `max` characters, the last one an ellipsis when cut. */
export function ellipsis(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

/**
 * `→ 2` for `['ok', 2]`, `✗ DivisionByZero: attempt to divide by zero` for an error with a kind
 * and a message (else its DAG-JSON), at most `max` characters on one line.
 */
function json(value: IpldValue): string {
  try {
    return dagJson.stringify(value);
  } catch {
    return kindOfValue(value);
  }
}

export function outcomeText(out: readonly ['ok' | 'error', IpldValue], max = 40): string {
  const [status, value] = out;
  let text: string;
  if (status === 'ok') text = `→ ${json(value)}`;
  else {
    const kind = isIpldMap(value) && typeof value['kind'] === 'string' ? value['kind'] : undefined;
    const message =
      isIpldMap(value) && typeof value['message'] === 'string' ? value['message'] : undefined;
    // A message that already starts with its kind (`trap: divide by zero`) is shown alone.
    const parts =
      kind !== undefined && message?.startsWith(`${kind}:`) === true ? [message] : [kind, message];
    text =
      kind !== undefined || message !== undefined
        ? `✗ ${parts.filter((s) => s !== undefined).join(': ')}`
        : `✗ ${json(value)}`;
  }
  return ellipsis(text.replace(/\s+/g, ' '), max);
}
