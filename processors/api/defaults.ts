// Defaults of the API server, in a module of their own so the CLI can show them without loading
// the server.

/** Loopback: the API can run arbitrary workflows, so it is not exposed unless asked. */
export const DEFAULT_API_HOST = '127.0.0.1';
/** Homestar's default webserver port, suggested for `--rpc-port`. */
export const HOMESTAR_DEFAULT_PORT = 1337;
