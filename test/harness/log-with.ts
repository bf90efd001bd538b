// A Log that forwards to another, with some calls replaced: for tests that make a backend fail,
// stall or wait at one point.
export { forwardLog as logWith } from '../../streams/forward.ts';
