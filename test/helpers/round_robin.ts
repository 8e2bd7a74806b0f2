/** A round-robin reverse proxy on loopback, as a load balancer in front of several provider instances. */
import { createServer, request, type Server } from 'node:http';

/** Sends each request to the next of `ports` in turn; `served` counts the requests each one answered. */
export function roundRobin(ports: readonly number[]): { server: Server; served: number[] } {
  const served = ports.map(() => 0);
  let next = 0;
  const server = createServer((req, res) => {
    const index = next;
    next = (next + 1) % ports.length;
    served[index] = (served[index] ?? 0) + 1;
    const upstream = request({ host: '127.0.0.1', port: ports[index], method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  return { server, served };
}
