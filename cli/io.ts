// Small helpers shared by the commands.

/** Reads a file, or standard input for `-`. */
export async function readInput(
  file: string,
  readFile: (path: string) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (file !== '-') return new Uint8Array(await readFile(file));
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  return new Uint8Array(Buffer.concat(chunks));
}
