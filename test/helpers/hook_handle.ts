/**
 * A value a mocha hook creates, handed to a suite before the hook runs: `describe` bodies run before any hook, so the
 * suite keeps the handle and reads through it once its `before`/`beforeEach` has filled it.
 */

/** The handle and the function the hook fills it with; reading the handle before then throws naming `what`. */
export function hookHandle<T extends object>(what: string): { handle: T; fill(value: T): void } {
  let current: T | undefined;
  const value = (): T => {
    if (current === undefined) throw new Error(`${what} is read before the hook that creates it ran (use it inside a hook or a test)`);
    return current;
  };
  const handle = new Proxy({}, {
    get(_target, key) {
      const target = value();
      const member: unknown = Reflect.get(target, key, target);
      return typeof member === 'function' ? member.bind(target) : member;
    },
    set: (_target, key, member) => Reflect.set(value(), key, member),
    has: (_target, key) => Reflect.has(value(), key),
    ownKeys: () => Reflect.ownKeys(value()),
    getOwnPropertyDescriptor(_target, key) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value(), key);
      return descriptor && { ...descriptor, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(value()),
  }) as T;
  return { handle, fill: (filled) => { current = filled; } };
}
