/**
 * Construct ids from resources.ts logical names: `byDue` -> `ByDue`, `events` -> `Events`.
 * @example pascalCase('rewards') // 'Rewards'
 */
export function pascalCase(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
