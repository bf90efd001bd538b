// Export-name lookup with Homestar's fallbacks: the name as given, upper case, kebab-case,
// snake_case, lowerCamelCase, PascalCase, then a `%`-escaped identifier.

function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[\s_-]+/)
    .filter((w) => w.length > 0)
    .map((w) => w.toLowerCase());
}

export const kebabCase = (name: string): string => words(name).join('-');
export const snakeCase = (name: string): string => words(name).join('_');
export const pascalCase = (name: string): string =>
  words(name)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
export const lowerCamelCase = (name: string): string => {
  const p = pascalCase(name);
  return p.length > 0 ? p[0]!.toLowerCase() + p.slice(1) : p;
};

/** Candidate spellings of `func`, in Homestar's order. */
export function nameCandidates(func: string): string[] {
  const c = [
    func,
    func.toUpperCase(),
    kebabCase(func),
    snakeCase(func),
    lowerCamelCase(func),
    pascalCase(func),
    `%${func}`,
  ];
  return [...new Set(c)];
}

/** The first candidate spelling of `func` that `has` accepts, or undefined. */
export function findExport(func: string, has: (name: string) => boolean): string | undefined {
  for (const c of nameCandidates(func)) if (has(c)) return c;
  return undefined;
}

/** jco's JavaScript name for a WIT name (lowerCamelCase of the kebab words). */
export function jsName(witName: string): string {
  const parts = witName.split('-').filter((p) => p.length > 0);
  return parts
    .map((p, i) => (i === 0 ? p.toLowerCase() : p[0]!.toUpperCase() + p.slice(1).toLowerCase()))
    .join('');
}
