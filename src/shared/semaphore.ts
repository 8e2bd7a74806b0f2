/** Bounding work that runs at once in this process (password hashing: memory and libuv threads are finite). */

/** A small FIFO semaphore: `run` waits for one of `size` slots. */
export function createSemaphore(size: number): { run<T>(task: () => Promise<T>): Promise<T>; readonly active: number; readonly queued: number } {
  let active = 0;
  const queue: Array<() => void> = [];
  const release = (): void => {
    const next = queue.shift();
    if (next) next();
    else active -= 1;
  };
  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (active < size) active += 1;
      else await new Promise<void>((resolve) => queue.push(resolve)); // the slot is handed over, `active` unchanged
      try {
        return await task();
      } finally {
        release();
      }
    },
    get active() {
      return active;
    },
    get queued() {
      return queue.length;
    },
  };
}
