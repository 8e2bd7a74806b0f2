/**
 * The tests' one clock: `Date` frozen (only `Date`: the driver's, the server's and the engine's timers keep running)
 * and moved by hand, so TOTP steps, code lifetimes, lockouts and session ages pass without waiting.
 */
import FakeTimers from '@sinonjs/fake-timers';
import { hookHandle } from './hook_handle.ts';

export type FrozenClock = ReturnType<typeof FakeTimers.install>;

/** Freezes `Date` at `now` (default: the real now) until `uninstall()`. */
export function freezeClock(now: number = Date.now()): FrozenClock {
  return FakeTimers.install({ now, toFake: ['Date'] });
}

export interface FrozenClockOptions {
  /** The time to freeze at; default: the real now when the hook runs. */
  at?: number;
  /** Freeze afresh around every test (`beforeEach`/`afterEach`) instead of once for the suite. Default: false. */
  each?: boolean;
}

/**
 * A clock frozen for the current `describe`: its hooks freeze `Date` and put it back; the handle is the installed
 * clock once they ran. Hooks run in the order they are registered: call this after `useTestServer` to freeze the
 * clock after the server started, as the step-up tests do (its accounts' app enrolments used the real time).
 */
export function useFrozenClock(options: FrozenClockOptions = {}): FrozenClock {
  const { handle, fill } = hookHandle<FrozenClock>('the frozen clock');
  let installed: FrozenClock | undefined;
  const freeze = (): void => {
    installed = freezeClock(options.at);
    fill(installed);
  };
  const thaw = (): void => {
    installed?.uninstall();
    installed = undefined;
  };
  if (options.each) {
    beforeEach(freeze);
    afterEach(thaw);
  } else {
    before(freeze);
    after(thaw);
  }
  return handle;
}
