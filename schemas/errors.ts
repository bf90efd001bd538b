/**
 * Errors of the formats layer. All of them are *terminal*: the input is wrong and retrying it
 * cannot help, so callers turn them into an error receipt or a dead-letter record.
 *
 * @module
 */

/** Messages quote parts of the input; a hostile input must not make a megabyte message. */
const MAX_QUOTED = 300;

function clip(text: string): string {
  return text.length <= MAX_QUOTED ? text : `${text.slice(0, MAX_QUOTED)}…(${text.length} chars)`;
}

/** Base class: every formats error is terminal bad input. */
export class FormatError extends Error {
  override name = 'FormatError';
  /** Retrying cannot succeed. */
  readonly retryable = false;
}

/** Bytes that are not valid DAG-CBOR / DAG-JSON. */
export class DecodeError extends FormatError {
  override name = 'DecodeError';
  /** `'dag-cbor'` or `'dag-json'`. */
  readonly codec: string;
  /** Byte offset at which decoding stopped. */
  readonly offset: number;
  /** What was wrong, without the location. */
  readonly reason: string;
  constructor(codec: string, offset: number, reason: string, options?: ErrorOptions) {
    super(`${codec} at byte ${offset}: ${clip(reason)}`, options);
    this.codec = codec;
    this.offset = offset;
    this.reason = reason;
  }
}

/** A value outside the IPLD data model handed to an encoder. */
export class EncodeError extends FormatError {
  override name = 'EncodeError';
}

/** A decoded value that does not have the shape of an IPVM object. */
export class SchemaError extends FormatError {
  override name = 'SchemaError';
  /** Where in the input: `tasks[1].run.input.args[0]`; `''` for the value itself (shown as `(root)`). */
  readonly path: string;
  /** What was wrong there. */
  readonly reason: string;
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`${path === '' ? '(root)' : clip(path)}: ${clip(reason)}`, options);
    this.path = path;
    this.reason = reason;
  }
}

/** A workflow whose task graph breaks a rule of the spec (cycle, duplicate instruction). */
export class WorkflowError extends SchemaError {
  override name = 'WorkflowError';
}
