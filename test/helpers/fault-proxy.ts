import type {AddressInfo} from 'node:net'

/**
 * A reverse proxy between the S3 client and the server that misbehaves on request: it resets
 * connections, answers 503 SlowDown (or any S3 error), cuts responses short, flips bytes in
 * request or response bodies, and stalls. Everything else passes through untouched (the Host
 * header included, so signatures still verify).
 */
import http from 'node:http'

export type Fault =
  | {kind: 'error'; status: number; code: string; message: string}
  /** Drops the connection after forwarding this many bytes of the request body (0: at once). */
  | {kind: 'reset'; afterRequestBytes?: number}
  /** Sends the response headers (with the full Content-Length) and only this many body bytes. */
  | {kind: 'truncate'; afterResponseBytes: number}
  | {kind: 'flip-request'; offset: number}
  | {kind: 'flip-response'; offset: number}
  /** Forwards the whole request, then drops the connection instead of answering: a lost reply. */
  | {kind: 'drop-response'}
  /** Holds the request without answering for this long, then forwards it. */
  | {kind: 'stall'; ms: number}

export interface Rule {
  method?: string
  /** Tested against the path and query, e.g. /bucket/key?partNumber=2&uploadId=... */
  url?: RegExp
  fault: Fault
  /** How many matching requests it applies to; Infinity for every one. */
  times: number
  /** Matching requests to let through untouched first. */
  skip?: number
}

export const slowDown: Fault = {
  kind: 'error',
  status: 503,
  code: 'SlowDown',
  message: 'Please reduce your request rate.',
}

export interface RequestLog {
  method: string
  url: string
  range?: string
  fault?: Fault['kind']
}

export class FaultProxy {
  readonly requests: RequestLog[] = []
  private rules: Rule[] = []
  private readonly server: http.Server
  /** Stalled requests still waiting: a 60 s stall must not keep mocha's process alive after the tests. */
  private readonly stalls = new Set<NodeJS.Timeout>()

  private constructor(private readonly upstream: URL) {
    this.server = http.createServer((req, res) => this.handle(req, res))
  }

  static async start(upstream: string): Promise<FaultProxy> {
    const proxy = new FaultProxy(new URL(upstream))
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  inject(rule: Omit<Rule, 'times'> & {times?: number}): void {
    this.rules.push({times: 1, ...rule})
  }

  clear(): void {
    this.rules = []
    this.requests.length = 0
  }

  faultsApplied(kind?: Fault['kind']): number {
    return this.requests.filter((entry) => entry.fault && (!kind || entry.fault === kind)).length
  }

  async stop(): Promise<void> {
    for (const stall of this.stalls) clearTimeout(stall)
    this.stalls.clear()
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private take(req: http.IncomingMessage): Fault | undefined {
    for (const rule of this.rules) {
      if (rule.times <= 0) continue
      if (rule.method && rule.method !== req.method) continue
      if (rule.url && !rule.url.test(req.url ?? '')) continue
      if (rule.skip && rule.skip > 0) {
        rule.skip--
        return undefined
      }

      rule.times--
      return rule.fault
    }

    return undefined
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const fault = this.take(req)
    this.requests.push({method: req.method ?? '', url: req.url ?? '', range: req.headers.range, fault: fault?.kind})
    if (fault?.kind === 'error') {
      req.resume()
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${fault.message}</Message></Error>`
      res.writeHead(fault.status, {'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body)})
      res.end(body)
      return
    }

    if (fault?.kind === 'reset' && !fault.afterRequestBytes) {
      req.socket.destroy()
      return
    }

    const forward = (): void => this.forward(req, res, fault)
    if (fault?.kind === 'stall') {
      const stall = setTimeout(() => {
        this.stalls.delete(stall)
        forward()
      }, fault.ms)
      this.stalls.add(stall)
    } else forward()
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, fault: Fault | undefined): void {
    // A client that gave up during a stall must not have its request replayed behind its back.
    if (req.socket.destroyed) return
    const upstream = http.request({
      host: this.upstream.hostname,
      port: this.upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent: false,
    })
    upstream.on('error', () => req.socket.destroy())
    req.socket.on('close', () => upstream.destroy())

    let sent = 0
    req.on('data', (chunk: Buffer) => {
      if (upstream.destroyed) return
      let data = chunk
      if (fault?.kind === 'flip-request') data = flip(chunk, fault.offset - sent)
      if (
        fault?.kind === 'reset' &&
        fault.afterRequestBytes !== undefined &&
        sent + chunk.length >= fault.afterRequestBytes
      ) {
        upstream.write(chunk.subarray(0, fault.afterRequestBytes - sent))
        req.socket.destroy()
        upstream.destroy()
        return
      }

      sent += chunk.length
      upstream.write(data)
    })
    req.on('end', () => upstream.end())

    upstream.on('response', (answer) => {
      if (fault?.kind === 'drop-response') {
        answer.resume()
        answer.on('end', () => req.socket.destroy())
        return
      }

      res.writeHead(answer.statusCode ?? 502, answer.headers)
      let received = 0
      answer.on('data', (chunk: Buffer) => {
        if (res.destroyed) return
        if (fault?.kind === 'truncate' && received + chunk.length >= fault.afterResponseBytes) {
          res.write(chunk.subarray(0, fault.afterResponseBytes - received), () => res.socket?.destroy())
          answer.destroy()
          return
        }

        res.write(fault?.kind === 'flip-response' ? flip(chunk, fault.offset - received) : chunk)
        received += chunk.length
      })
      answer.on('end', () => res.end())
    })
  }
}

function flip(chunk: Buffer, offset: number): Buffer {
  if (offset < 0 || offset >= chunk.length) return chunk
  const copy = Buffer.from(chunk)
  copy[offset] ^= 0xff
  return copy
}
