/**
 * The IPVM data model of the Homestar v0.2 profile. Types only.
 *
 * Every object here is content-addressed by the CID of its DAG-CBOR encoding (CIDv1, dag-cbor,
 * sha3-256 by default). The memo key of a computation is its {@link Instruction}'s CID.
 *
 * @module
 */
import type { CID } from 'multiformats/cid';
import type { IpldMap, IpldValue } from './ipld.ts';

/**
 * The nonce of an instruction, kept in the form it was given so the CID stays the same:
 * `""` (none), 12 or 16 bytes (Homestar's generated nonces) or a string (e.g. base32hex).
 */
export type Nonce = string | Uint8Array;

/** What to run: a resource, an operation and its input. Its CID is the memo key. */
export interface Instruction {
  /** The resource, a URI: `ipfs://<cid>` for Wasm. */
  rsc: string;
  /** The operation: `wasm/run`, or an effect such as `http/get`. */
  op: string;
  /** The operation's input; for `wasm/run` a {@link WasmRunInput}. */
  input: IpldValue;
  /** Nonce; `""` when the instruction is meant to be memoized across workflows. */
  nnc: Nonce;
}

/** The input of a `wasm/run` instruction. */
export interface WasmRunInput extends IpldMap {
  /** The exported function to call. */
  func: string;
  /** Its arguments; each may be an {@link Await} resolved from an earlier receipt. */
  args: IpldValue[];
}

/** An instruction with its configuration and authority. */
export interface Task {
  /** The instruction (inline). */
  run: Instruction;
  /** The receipt that caused this task, if any. */
  cause: CID | null;
  /** Free-form metadata, kept raw; resource limits are read from it ({@link TaskLimits}). */
  meta: IpldValue;
  /** UCAN proofs (links). */
  prf: CID[];
}

/** The resource limits a task asks for in its `meta` (absent ones take the node's defaults). */
export interface TaskLimits {
  /** Fuel units (deterministic instruction budget). */
  fuel?: number;
  /** Linear memory in bytes. */
  memory?: number;
  /** Wall-clock time in milliseconds. */
  time?: number;
}

/** A task as invoked; its CID is what a {@link Receipt} points at with `ran`. */
export interface Invocation {
  task: Task;
}

/** The three forms of a promise on another instruction's result. */
export type AwaitSelector = 'await/ok' | 'await/error' | 'await/*';

/** A promise in an argument: `{"await/ok": {"/": "<instruction cid>"}}`. */
export interface Await {
  /** Which outcome the dependent task waits for. */
  selector: AwaitSelector;
  /** The awaited instruction's CID. */
  instruction: CID;
}

/** The outcome of an invocation: `["ok", value]` or `["error", value]`. */
export type Outcome = readonly ['ok', IpldValue] | readonly ['error', IpldValue];

/** What an invocation produced (unsigned, as Homestar writes them). */
export interface Receipt {
  /** CID of the {@link Invocation} that ran. */
  ran: CID;
  /** The outcome. */
  out: Outcome;
  /** Metadata; Homestar writes `{op: <function name>}`. */
  meta: IpldValue;
  /** Issuer DID, or null. */
  iss: string | null;
  /** UCAN proofs (links). */
  prf: CID[];
}

/** A declarative job: tasks whose arguments may await each other. */
export interface Workflow {
  tasks: Task[];
}
